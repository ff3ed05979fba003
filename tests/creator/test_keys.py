"""The wallet key file and the session file beside it: mode 0600, never overwritten, read back exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.keys import account_address
from creator.errors import CreatorError
from creator.keys import (
    create_wallet,
    key_file_path,
    load_session,
    load_wallet,
    save_session,
    session_path,
)
from pictor.settings import Settings


def test_a_wallet_is_written_0600_read_back_and_never_overwritten(tmp_path: Path) -> None:
    key = tmp_path / "wallet.key"
    account = create_wallet(key)
    assert key.stat().st_mode & 0o777 == 0o600
    assert account_address(load_wallet(key)) == account_address(account)
    before = key.read_bytes()
    with pytest.raises(CreatorError) as raised:
        create_wallet(key)
    assert raised.value.code == 2 and "refusing to overwrite" in str(raised.value)
    assert key.read_bytes() == before


def test_a_missing_or_bad_key_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(CreatorError) as raised:
        load_wallet(tmp_path / "nobody.key")
    assert raised.value.code == 2 and "no wallet key file" in str(raised.value)
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n")
    with pytest.raises(CreatorError) as raised:
        load_wallet(bad)
    assert raised.value.code == 2 and "cannot read the wallet key" in str(raised.value)


def test_the_key_file_defaults_to_the_settings(tmp_path: Path) -> None:
    given = tmp_path / "given.key"
    assert key_file_path(given) == given
    assert key_file_path(None, Settings(data_dir=tmp_path)) == tmp_path / "wallet.key"
    assert key_file_path(None, Settings(data_dir=tmp_path, wallet_key=given)) == given


def test_a_session_is_kept_0600_for_its_api_and_address_only(tmp_path: Path) -> None:
    key = tmp_path / "wallet.key"
    stored = save_session(key, {"token": "t-1", "address": "0xa", "expires_at": "soon"}, "http://api")
    assert stored == session_path(key) == tmp_path / "wallet.key.session"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert load_session(key, "http://api", "0xa") == "t-1"
    assert load_session(key, "http://other", "0xa") is None
    assert load_session(key, "http://api", "0xb") is None
    stored.write_text("{broken")
    assert load_session(key, "http://api", "0xa") is None
    assert load_session(tmp_path / "none.key", "http://api", "0xa") is None
