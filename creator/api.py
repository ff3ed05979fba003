"""The Pictor API as a creator uses it: sign-in with Aptos (AIP-116), a bearer session, uploads, JSON, events."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from chain.keys import account_address
from creator.errors import CreatorError
from creator.keys import load_session, save_session

if TYPE_CHECKING:
    from aptos_sdk.account import Account


def signin_signing_message(message: str) -> bytes:
    """What a wallet signs for an AIP-116 message: ``sha3_256(b"SIGN_IN_WITH_APTOS::") ‖ utf8(message)``."""
    # The client side of api/signin.py's signing_message: a node never imports api.
    return hashlib.sha3_256(b"SIGN_IN_WITH_APTOS::").digest() + message.encode()


def error_detail(response: httpx.Response) -> str:
    """The API's message (``detail`` and its ``problems``), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    problems = body.get("problems") if isinstance(body, dict) else None
    if problems:
        return "; ".join(f"{p.get('field')}: {p.get('message')}" for p in problems if isinstance(p, dict))
    if isinstance(detail, list):  # FastAPI's own validation errors
        return "; ".join(f"{'.'.join(str(x) for x in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail)
    return str(detail if detail is not None else body)[:500]


def status_error(method: str, path: str, response: httpx.Response) -> CreatorError:
    """An unexpected HTTP answer as a CreatorError: 4xx is bad input (2), anything else a failure (1)."""
    code = 2 if 400 <= response.status_code < 500 else 1
    return CreatorError(f"{method} {path}: HTTP {response.status_code}: {error_detail(response)}", code)


class CreatorApi:
    """The API as a creator uses it: bearer session, 4xx answers relayed as :class:`CreatorError`."""

    def __init__(self, api_url: str, token: str | None = None, timeout: float = 300.0) -> None:
        self.url = api_url.rstrip("/")
        self.http = httpx.AsyncClient(base_url=self.url, timeout=timeout)
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    async def close(self) -> None:
        """Close the connections."""
        await self.http.aclose()

    async def __aenter__(self) -> CreatorApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(self, method: str, path: str, ok: tuple[int, ...] = (200,), **kwargs: Any) -> httpx.Response:
        """One request; a status outside ``ok`` raises CreatorError (4xx: 2, anything else: 1)."""
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CreatorError(f"the API at {self.url} cannot be reached: {exc!r}", 1) from None
        if response.status_code not in ok:
            raise status_error(method, path, response)
        return response

    async def sign_in(self, account: Account) -> dict[str, Any]:
        """Sign in with Aptos (AIP-116): sign the server's message with the wallet key; use the session."""
        address = account_address(account)
        challenge = (await self.call("POST", "/auth/nonce", json={"address": address})).json()
        signature = account.sign(signin_signing_message(challenge["message"])).data()
        session = (await self.call("POST", "/auth/sign-in", json={
            "address": address, "public_key": "0x" + account.public_key().key.encode().hex(),
            "signature": "0x" + signature.hex(), "nonce": challenge["nonce"]})).json()  # fmt: skip
        self.http.headers["Authorization"] = f"Bearer {session['token']}"
        return dict(session)

    async def signed_in(self) -> bool:
        """Whether the current token is a live session."""
        if "Authorization" not in self.http.headers:
            return False
        return (await self.http.get("/auth/me")).status_code == 200

    async def upload(self, path: Path) -> dict[str, Any]:
        """Stream a .blend or .zip to ``POST /uploads``."""

        async def chunks() -> AsyncIterator[bytes]:
            with path.open("rb") as handle:
                while chunk := handle.read(1024 * 1024):
                    yield chunk

        response = await self.call(
            "POST",
            "/uploads",
            (201,),
            params={"filename": path.name},
            content=chunks(),
            headers={"Content-Length": str(path.stat().st_size)},
        )
        return dict(response.json())

    async def get(self, path: str, **kwargs: Any) -> Any:
        """``GET`` a JSON resource."""
        return (await self.call("GET", path, **kwargs)).json()

    async def post(self, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        """``POST`` JSON, answer JSON."""
        return (await self.call("POST", path, ok, json=body)).json()

    async def events(self, job_id: int, timeout_s: float = 3600) -> AsyncIterator[dict[str, Any]]:
        """The job's server-sent ``status`` events until the server ends the stream."""
        path = f"/jobs/{job_id}/events"
        try:
            async with self.http.stream(
                "GET", path, params={"timeout": timeout_s}, timeout=httpx.Timeout(30, read=None)
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise status_error("GET", path, response)
                event, data = "", []
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line:
                        if event == "end":
                            return
                        if event == "status" and data:
                            yield json.loads("\n".join(data))
                        event, data = "", []
        except httpx.HTTPError as exc:
            raise CreatorError(f"the event stream of job {job_id} broke: {exc!r}", 1) from None


async def ensure_session(api: CreatorApi, account: Account, key_file: Path) -> None:
    """Use the stored session when it is live, else sign in again and store the new one."""
    token = load_session(key_file, api.url, account_address(account))
    if token:
        api.http.headers["Authorization"] = f"Bearer {token}"
        if await api.signed_in():
            return
    save_session(key_file, await api.sign_in(account), api.url)
