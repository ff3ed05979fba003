"""The creator's key file (the wallet) and the API session token kept beside it, both mode 0600."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chain.errors import InvalidArgument
from chain.keys import generate_account, load_key_file, write_key_file
from creator.errors import CreatorError
from pictor.settings import Settings, get_settings

if TYPE_CHECKING:
    from aptos_sdk.account import Account


def key_file_path(key_file: Path | None, settings: Settings | None = None) -> Path:
    """The wallet key file: the option, else ``PICTOR_WALLET_KEY``, else ``<data_dir>/wallet.key``."""
    if key_file is not None:
        return key_file
    settings = settings or get_settings()
    return settings.wallet_key or Path(settings.data_dir) / "wallet.key"


def session_path(key_file: Path) -> Path:
    """Where the session token of a key file is kept: next to it, ``<key>.session``."""
    return key_file.with_name(key_file.name + ".session")


def create_wallet(key_file: Path) -> Account:
    """A new Ed25519 account written to ``key_file`` (mode 0600); refuses to replace an existing file."""
    if key_file.exists():
        raise CreatorError(
            f"a key file already exists at {key_file}; refusing to overwrite it (it holds your "
            "wallet's funds). Use --key-file for another wallet."
        )
    account = generate_account()
    try:
        write_key_file(key_file, account)
    except FileExistsError as exc:
        raise CreatorError(str(exc)) from None
    except OSError as exc:
        raise CreatorError(f"cannot write the key file {key_file}: {exc}") from None
    return account


def load_wallet(key_file: Path) -> Account:
    """The account of ``key_file`` (CreatorError when it is missing or not a key)."""
    if not key_file.is_file():
        raise CreatorError(
            f"no wallet key file at {key_file}; create one with `pictor wallet create` (or pass --key-file)"
        )
    try:
        return load_key_file(key_file)
    except (OSError, ValueError, KeyError, InvalidArgument) as exc:
        raise CreatorError(f"cannot read the wallet key {key_file}: {exc}") from None


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, created with mode 0600 (a session token is a secret)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def save_session(key_file: Path, session: dict[str, Any], api_url: str) -> Path:
    """Store the session token next to the key (0600), with the API it belongs to."""
    path = session_path(key_file)
    write_private(path, json.dumps({**session, "api_url": api_url}, indent=2) + "\n")
    return path


def load_session(key_file: Path, api_url: str, address: str) -> str | None:
    """The stored token for this API and address, None when there is none."""
    try:
        data = json.loads(session_path(key_file).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("api_url") != api_url or data.get("address") != address:
        return None
    token = data.get("token")
    return token if isinstance(token, str) and token else None
