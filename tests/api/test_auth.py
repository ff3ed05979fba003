"""Sign in with Aptos (AIP-116) against a real localnet: keys, rotation, nonces, sessions."""

from __future__ import annotations

import hashlib
from typing import Any

from aptos_sdk.account import Account
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.signin import MAX_OPEN_NONCES, build_message, signing_message
from chain.constants import LOCALNET_PACKAGE_ADDRESS
from chain.keys import account_address, generate_account, normalize_address
from tests.support.api import make_settings


def _nonce(client: TestClient, address: str) -> dict[str, Any]:
    response = client.post("/auth/nonce", json={"address": address})
    assert response.status_code == 200, response.text
    return response.json()


def _signed(challenge: dict[str, Any], signer: Account, address: str) -> dict[str, str]:
    """What a wallet sends back: its key and its signature over the AIP-116 signing message."""
    signature = signer.sign(signing_message(challenge["message"])).data()
    return {"address": address, "public_key": "0x" + signer.public_key().key.encode().hex(),
            "signature": "0x" + signature.hex(), "nonce": challenge["nonce"]}


def _sign_in(client: TestClient, signer: Account, address: str | None = None) -> Any:
    address = address or account_address(signer)
    return client.post("/auth/sign-in", json=_signed(_nonce(client, address), signer, address))


def test_message_follows_aip_116(chain_app) -> None:
    client, _ = chain_app
    user = generate_account()
    challenge = _nonce(client, account_address(user))
    fields = challenge["input"]
    assert challenge["message"] == (
        f"localhost:8000 wants you to sign in with your Aptos account:\n{account_address(user)}\n\n"
        f"{fields['statement']}\n\nURI: http://localhost:8000\nVersion: 1\nChain ID: aptos:4\n"
        f"Nonce: {challenge['nonce']}\nIssued At: {fields['issuedAt']}\nExpiration Time: {fields['expirationTime']}"
    )
    assert build_message(fields) == challenge["message"]
    assert challenge["nonce"].isalnum() and len(challenge["nonce"]) >= 8
    assert signing_message("m") == hashlib.sha3_256(b"SIGN_IN_WITH_APTOS::").digest() + b"m"


def test_sign_in_with_a_new_account_then_use_and_end_the_session(chain_app) -> None:
    client, _ = chain_app
    user = generate_account()
    response = _sign_in(client, user)
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/auth/me", headers=auth).json() == {"address": account_address(user)}
    assert client.post("/auth/logout", headers=auth).status_code == 204
    assert client.get("/auth/me", headers=auth).status_code == 401
    assert client.post("/auth/logout", headers=auth).status_code == 401


def test_sign_in_with_an_account_on_chain(chain_app, chain_env) -> None:
    client, _ = chain_app
    assert _sign_in(client, chain_env.onchain_user).status_code == 200


def test_rotated_account_signs_in_with_its_current_key_only(chain_app, chain_env) -> None:
    client, _ = chain_app
    # The package account's authentication key was rotated to the admin key at genesis.
    assert _sign_in(client, chain_env.admin, LOCALNET_PACKAGE_ADDRESS).status_code == 200
    # A key whose derived address is the package address would be refused too; any other key is:
    response = _sign_in(client, generate_account(), LOCALNET_PACKAGE_ADDRESS)
    assert response.status_code == 401 and "authentication key" in response.json()["detail"]


def test_wrong_key_for_address(chain_app, chain_env) -> None:
    client, _ = chain_app
    for victim in (account_address(generate_account()), account_address(chain_env.onchain_user)):
        response = _sign_in(client, generate_account(), victim)  # a valid signature, by someone else's key
        assert response.status_code == 401 and "authentication key" in response.json()["detail"]


def test_wrong_signature_is_refused_and_burns_the_nonce(chain_app) -> None:
    client, _ = chain_app
    user = generate_account()
    challenge = _nonce(client, account_address(user))
    body = _signed(challenge, user, account_address(user))
    tampered = dict(body, signature="0x" + user.sign(b"something else").data().hex())
    response = client.post("/auth/sign-in", json=tampered)
    assert response.status_code == 401 and "signature" in response.json()["detail"]
    assert client.post("/auth/sign-in", json=body).status_code == 401  # single use, even after a failure


def test_reused_nonce_is_refused(chain_app) -> None:
    client, _ = chain_app
    user = generate_account()
    body = _signed(_nonce(client, account_address(user)), user, account_address(user))
    assert client.post("/auth/sign-in", json=body).status_code == 200
    replay = client.post("/auth/sign-in", json=body)
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]


def test_expired_nonce_is_refused(chain_app) -> None:
    client, engine = chain_app
    user = generate_account()
    body = _signed(_nonce(client, account_address(user)), user, account_address(user))
    with engine.begin() as conn:
        conn.execute(text("UPDATE api.signin_nonces SET expires_at = now() - interval '1 second'"))
    response = client.post("/auth/sign-in", json=body)
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_nonce_is_bound_to_its_address(chain_app) -> None:
    client, _ = chain_app
    alice, mallory = generate_account(), generate_account()
    challenge = _nonce(client, account_address(alice))
    body = _signed(challenge, mallory, account_address(mallory))
    assert client.post("/auth/sign-in", json=body).status_code == 401


def test_session_expiry(chain_app) -> None:
    client, engine = chain_app
    token = _sign_in(client, generate_account()).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/auth/me", headers=auth).status_code == 200
    with engine.begin() as conn:
        conn.execute(text("UPDATE api.sessions SET expires_at = now() - interval '1 second'"))
        stored = conn.execute(text("SELECT token_hash FROM api.sessions")).scalar_one()
    assert stored == hashlib.sha256(token.encode()).hexdigest() and token not in stored  # stored hashed
    response = client.get("/auth/me", headers=auth)
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_bad_inputs_are_4xx(chain_app) -> None:
    client, _ = chain_app
    user = generate_account()
    address = account_address(user)
    assert client.post("/auth/nonce", json={"address": "0xnothex"}).status_code == 400
    assert client.post("/auth/nonce", json={"address": "0x" + "1" * 200}).status_code == 422
    body = _signed(_nonce(client, address), user, address)
    assert client.post("/auth/sign-in", json=dict(body, public_key="0x1234")).status_code == 400
    assert client.post("/auth/sign-in", json=dict(body, signature="0x" + "zz" * 64)).status_code == 400
    assert client.post("/auth/sign-in", json=dict(body, nonce="x" * 65)).status_code == 422
    assert client.get("/auth/me").status_code == 401
    assert client.get("/auth/me", headers={"Authorization": "Bearer " + "a" * 300}).status_code == 401
    assert normalize_address(address) == address


def test_nobody_can_lock_an_address_out_of_sign_in(chain_app, tmp_path) -> None:
    client, engine = chain_app
    # The stranger's client runs on its own event loop: the chain id is configured, so it needs no chain client.
    client.app.state.settings = make_settings(tmp_path, signin_chain_id="aptos:4")
    user = generate_account()
    address = account_address(user)
    stranger = TestClient(client.app, client=("198.51.100.66", 4000))  # someone else, from elsewhere
    first = _nonce(stranger, address)
    for _ in range(MAX_OPEN_NONCES + 4):
        _nonce(stranger, address)
    # The owner's own request still gets a nonce, and it signs in; the oldest open nonces were retired.
    assert _sign_in(client, user).status_code == 200
    with engine.connect() as conn:
        open_count = conn.execute(text("SELECT count(*) FROM api.signin_nonces WHERE used_at IS NULL")).scalar_one()
    assert open_count == MAX_OPEN_NONCES - 1  # the owner's was used
    stale = client.post("/auth/sign-in", json=_signed(first, user, address))
    assert stale.status_code == 401 and "unknown sign-in nonce" in stale.json()["detail"]


def test_sessions_per_account_are_bounded_the_oldest_ends(chain_app, tmp_path) -> None:
    client, engine = chain_app
    client.app.state.settings = make_settings(tmp_path, session_max_per_account=3)
    user = generate_account()  # a fresh key, no account on chain: it signs in, but holds few sessions
    tokens = [_sign_in(client, user).json()["token"] for _ in range(4)]
    alive = [client.get("/auth/me", headers={"Authorization": f"Bearer {t}"}).status_code for t in tokens]
    assert alive == [401, 200, 200, 200]
    other = generate_account()
    assert _sign_in(client, other).status_code == 200  # another account's sessions are its own
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {tokens[-1]}"}).status_code == 200
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM api.sessions")).scalar_one() == 4
