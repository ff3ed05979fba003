"""The creator's command line, ``pictor wallet …`` and ``pictor job …``, and the library behind it.

``pictor up --demo`` drives a creator through the same functions (:func:`create_wallet`, :func:`fund_wallet`,
:func:`deposit`, :class:`CreatorApi`, :func:`submit_job`, :func:`watch_job`, :func:`download_frames`), so
the demo pays for its job exactly as a person on the command line does.

Amounts are PICTOR with up to 8 decimals, parsed from the decimal text into integer base units (never a
float) and printed from base units with all 8 decimals. Exit codes: 0 done, 1 the job or a chain/network
step failed, 2 bad input (a missing file, a bad option, an API 4xx answer, no key file).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import tempfile
import zipfile
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    import httpx
    from aptos_sdk.account import Account

    from chain.client import PictorChain, TxResult
    from pictor.settings import Settings

DECIMALS = 8
UNIT = 10**DECIMALS
U64_MAX = 2**64 - 1
#: APT (octas) the faucet sends when the wallet has less than half of it: gas for a few dozen transactions.
GAS_GRANT = 2 * 10**8
#: Frame states counted as rendered (and those that are final) in progress displays.
DONE_STATES = ("rendered", "verifying", "verified", "accepted")
TERMINAL_JOB_STATES = ("completed", "cancelled")
_AMOUNT = re.compile(r"(\d{1,20})(?:\.(\d{1,8}))?")
T = TypeVar("T")

wallet_app = typer.Typer(
    help="The creator's wallet: a local key, faucet funds, vault deposits, sign-in.", no_args_is_help=True
)
job_app = typer.Typer(help="Render jobs: submit a scene, watch it render, download the frames.", no_args_is_help=True)


class CliError(Exception):
    """A step the creator asked for cannot be done; ``code`` 2 for bad input, 1 for a failure elsewhere."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


# ----------------------------------------------------------------------------- amounts


def parse_amount(text: str, what: str = "amount") -> int:
    """``"1.5"`` PICTOR → ``150000000`` base units, exactly (at most 8 decimals, positive, a u64)."""
    match = _AMOUNT.fullmatch(text.strip())
    if match is None:
        raise CliError(
            f"{what} {text!r} is not a PICTOR amount: write digits with at most {DECIMALS} decimals, e.g. 12.5"
        )
    whole, frac = match.group(1), match.group(2) or ""
    units = int(whole) * UNIT + int(frac.ljust(DECIMALS, "0"))
    if units <= 0:
        raise CliError(f"{what} must be more than 0")
    if units > U64_MAX:
        raise CliError(f"{what} {text} is more than the chain can hold")
    return units


def format_amount(units: int) -> str:
    """Base units as PICTOR with all 8 decimals: ``150000000`` → ``"1.50000000"``."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(int(units)), UNIT)
    return f"{sign}{whole}.{frac:0{DECIMALS}d}"


# ----------------------------------------------------------------------------- key and session files


def key_file_path(key_file: Path | None, settings: Settings | None = None) -> Path:
    """The wallet key file: the option, else ``PICTOR_WALLET_KEY``, else ``<data_dir>/wallet.key``."""
    if key_file is not None:
        return key_file
    from pictor.settings import get_settings

    settings = settings or get_settings()
    return settings.wallet_key or Path(settings.data_dir) / "wallet.key"


def session_path(key_file: Path) -> Path:
    """Where the session token of a key file is kept: next to it, ``<key>.session``."""
    return key_file.with_name(key_file.name + ".session")


def create_wallet(key_file: Path) -> Account:
    """A new Ed25519 account written to ``key_file`` (mode 0600); refuses to replace an existing file."""
    from chain.keys import generate_account, write_key_file

    if key_file.exists():
        raise CliError(
            f"a key file already exists at {key_file}; refusing to overwrite it (it holds your "
            "wallet's funds). Use --key-file for another wallet."
        )
    account = generate_account()
    try:
        write_key_file(key_file, account)
    except FileExistsError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot write the key file {key_file}: {exc}") from None
    return account


def load_wallet(key_file: Path) -> Account:
    """The account of ``key_file`` (CliError when it is missing or not a key)."""
    from chain.errors import InvalidArgument
    from chain.keys import load_key_file

    if not key_file.is_file():
        raise CliError(f"no wallet key file at {key_file}; create one with `pictor wallet create` (or pass --key-file)")
    try:
        return load_key_file(key_file)
    except (OSError, ValueError, KeyError, InvalidArgument) as exc:
        raise CliError(f"cannot read the wallet key {key_file}: {exc}") from None


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


# ----------------------------------------------------------------------------- chain steps


def chain_client(settings: Settings | None = None) -> PictorChain:
    """The chain client of the configured deployment (``PICTOR_NODE_URL``, ``PICTOR_FAUCET_URL``, …)."""
    from chain.client import PictorChain

    return PictorChain.from_settings(settings)


def _chain_failure(exc: Exception, doing: str) -> CliError:
    """A chain error as a CliError: an abort the user caused is bad input (2), the rest a failure (1)."""
    from chain.errors import MoveAbortError, NodeUnavailable

    if isinstance(exc, MoveAbortError):
        return CliError(f"{doing}: the chain refused it ({exc})", 2)
    if isinstance(exc, NodeUnavailable | OSError):
        return CliError(f"{doing}: the chain node cannot be reached ({exc})", 1)
    return CliError(f"{doing}: {exc}", 1)


async def fund_wallet(chain: PictorChain, account: Account, amount: int) -> list[TxResult]:
    """Faucet APT for gas (when the wallet is low), then ``token::faucet`` ``amount`` PICTOR to the wallet."""
    from chain.errors import ChainError
    from chain.keys import account_address

    address = account_address(account)
    results: list[TxResult] = []
    try:
        limit = (await chain.views.params()).faucet_max
        if amount > limit:
            raise CliError(f"the faucet gives at most {format_amount(limit)} PICTOR per request")
        if await chain.apt_balance(address) < GAS_GRANT // 2:
            results += await chain.fund(address, GAS_GRANT)
        results.append(await chain.submit_and_wait(account, chain.payloads.token_faucet(amount)))
    except ChainError as exc:
        raise _chain_failure(exc, "funding the wallet") from None
    return results


async def deposit(chain: PictorChain, account: Account, amount: int) -> TxResult:
    """``vault::deposit`` ``amount`` PICTOR from the wallet into the vault (checked against the wallet first)."""
    from chain.errors import ChainError
    from chain.keys import account_address

    try:
        held = await chain.pictor_balance(account_address(account))
        if held < amount:
            raise CliError(
                f"the wallet holds {format_amount(held)} PICTOR, less than {format_amount(amount)}; "
                "fund it first (`pictor wallet fund AMOUNT`)"
            )
        return await chain.submit_and_wait(account, chain.payloads.vault_deposit(amount))
    except ChainError as exc:
        raise _chain_failure(exc, "depositing into the vault") from None


@dataclass(frozen=True)
class Balances:
    """What a wallet holds, in base units."""

    address: str
    apt: int
    wallet: int
    vault_credit: int
    vault_balance: int


async def balances(chain: PictorChain, address: str) -> Balances:
    """APT for gas, PICTOR in the wallet, and the vault's credit and balance of ``address``."""
    from chain.errors import ChainError

    try:
        vault = await chain.views.vault_account(address)
        return Balances(
            address,
            await chain.apt_balance(address),
            await chain.pictor_balance(address),
            int(vault.credit),
            int(vault.balance),
        )
    except ChainError as exc:
        raise _chain_failure(exc, "reading the balances") from None


# ----------------------------------------------------------------------------- the API


def signin_signing_message(message: str) -> bytes:
    """What a wallet signs for an AIP-116 message: ``sha3_256(b"SIGN_IN_WITH_APTOS::") ‖ utf8(message)``."""
    # The client side of api/auth.py's signing_message (nothing imports api: DESIGN.md's dependency rule).
    return hashlib.sha3_256(b"SIGN_IN_WITH_APTOS::").digest() + message.encode()


class CreatorApi:
    """The API as a creator uses it: bearer session, 4xx answers relayed as :class:`CliError`."""

    def __init__(self, api_url: str, token: str | None = None, timeout: float = 300.0) -> None:
        import httpx

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

    @staticmethod
    def _detail(response: httpx.Response) -> str:
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

    async def call(self, method: str, path: str, ok: tuple[int, ...] = (200,), **kwargs: Any) -> httpx.Response:
        """One request; a status outside ``ok`` raises CliError (4xx: 2, anything else: 1)."""
        import httpx

        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"the API at {self.url} cannot be reached: {exc!r}", 1) from None
        if response.status_code not in ok:
            code = 2 if 400 <= response.status_code < 500 else 1
            raise CliError(f"{method} {path}: HTTP {response.status_code}: {self._detail(response)}", code)
        return response

    async def sign_in(self, account: Account) -> dict[str, Any]:
        """Sign in with Aptos (AIP-116): sign the server's message with the wallet key; use the session."""
        from chain.keys import account_address

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
        import httpx

        params = {"timeout": timeout_s}
        try:
            async with self.http.stream(
                "GET", f"/jobs/{job_id}/events", params=params, timeout=httpx.Timeout(30, read=None)
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    code = 2 if 400 <= response.status_code < 500 else 1
                    raise CliError(
                        f"GET /jobs/{job_id}/events: HTTP {response.status_code}: {self._detail(response)}", code
                    )
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
            raise CliError(f"the event stream of job {job_id} broke: {exc!r}", 1) from None


async def ensure_session(api: CreatorApi, account: Account, key_file: Path) -> None:
    """Use the stored session when it is live, else sign in again and store the new one."""
    from chain.keys import account_address

    token = load_session(key_file, api.url, account_address(account))
    if token:
        api.http.headers["Authorization"] = f"Bearer {token}"
        if await api.signed_in():
            return
    save_session(key_file, await api.sign_in(account), api.url)


# ----------------------------------------------------------------------------- jobs


def job_settings(
    frames: str,
    *,
    engine: str | None = None,
    device: str | None = None,
    samples: int | None = None,
    resolution: str | None = None,
    output_format: str | None = None,
    chunk: int | None = None,
    tier: str | None = None,
) -> dict[str, Any]:
    """The job's settings from the command line, validated here as the API will (nothing is uploaded if bad)."""
    from protocol.render_spec import JobSpecError, parse_job_spec

    settings: dict[str, Any] = {"frames": frames}
    if resolution is not None:
        size = re.fullmatch(r"(\d+)[xX×](\d+)", resolution.strip())
        if size:
            settings.update(resolution="custom", resolution_x=int(size.group(1)), resolution_y=int(size.group(2)))
        else:
            settings["resolution"] = resolution
    for key, value in (
        ("engine", engine),
        ("device", device),
        ("samples", samples),
        ("output_format", output_format),
        ("frames_per_node", chunk),
        ("pricing_tier", tier),
    ):
        if value is not None:
            settings[key] = value
    try:
        parse_job_spec(settings)
    except JobSpecError as exc:
        raise CliError(f"bad job settings: {exc}") from None
    return settings


@dataclass
class SubmittedJob:
    """A job created, paid (escrow opened from the wallet) and linked."""

    job_id: int
    chain_job_id: int
    budget: int
    price_per_minute: int
    opened: TxResult
    estimate: dict[str, Any]
    upload: dict[str, Any]
    scene: dict[str, Any] | None


def describe_scene(scene: dict[str, Any] | None) -> str:
    """One line about the inspected scene."""
    info = scene or {}
    active = next((s for s in info.get("scenes", []) if s.get("active")), None) or (info.get("scenes") or [{}])[0]
    return (
        f"scene {active.get('name')!r} (Blender {info.get('blender')}): {active.get('engine')}, frames "
        f"{active.get('frame_start')}-{active.get('frame_end')}, {active.get('resolution_x')}x"
        f"{active.get('resolution_y')}, samples {active.get('samples')}, cameras {active.get('cameras')}, "
        f"missing files {info.get('missing_files') or 'none'}"
    )


def describe_estimate(est: dict[str, Any]) -> str:
    """The estimate in one line (amounts from base units)."""
    cost = est.get("cost") or {}
    eta = est.get("eta_seconds")
    return (
        f"{est.get('frames')} frames in {est.get('tasks')} tasks, cost {format_amount(int(cost.get('low', 0)))}"
        f"–{format_amount(int(cost.get('high', 0)))} PICTOR (expected {format_amount(int(cost.get('expected', 0)))}),"
        f" quoted total {format_amount(int(est['quoted_total']))} PICTOR, {est.get('matching_workers')} matching"
        f" workers, ETA {'unknown (no worker online)' if eta is None else f'{eta}s'}"
    )


async def _check_vault(chain: PictorChain, account: Account, budget: int) -> None:
    """CliError (2) unless the vault's credit and balance cover ``budget``."""
    from chain.errors import ChainError
    from chain.keys import account_address

    try:
        vault = await chain.views.vault_account(account_address(account))
    except ChainError as exc:
        raise _chain_failure(exc, "reading the vault") from None
    held = int(vault.credit) + int(vault.balance)
    if held < budget:
        raise CliError(
            f"the vault holds {format_amount(held)} PICTOR, the job's budget is {format_amount(budget)}: "
            "`pictor wallet deposit AMOUNT` first"
        )


async def submit_job(
    api: CreatorApi,
    chain: PictorChain,
    account: Account,
    scene_path: Path,
    settings: dict[str, Any],
    *,
    budget: int | None = None,
    priority: int | None = None,
    echo: Callable[[str], None] = print,
    link_timeout_s: float = 120.0,
) -> SubmittedJob:
    """Upload, inspect, estimate, create the job, sign ``escrow::open_job`` from the wallet and link it."""
    from chain.errors import ChainError
    from chain.keys import account_address

    if not scene_path.is_file():
        raise CliError(f"no such scene file: {scene_path}")
    if budget is not None:  # checked before anything is uploaded
        await _check_vault(chain, account, budget)
    upload = await api.upload(scene_path)
    echo(f"uploaded {scene_path} ({int(upload.get('size', 0)):,} bytes) as {upload['id']}")
    scene = (await api.get(f"/uploads/{upload['id']}/scene")).get("scene")
    echo(f"inspection: {describe_scene(scene)}")
    body: dict[str, Any] = {"upload_id": upload["id"], "settings": settings}
    est = await api.post("/jobs/estimate", body)
    echo(f"estimate: {describe_estimate(est)}")
    if budget is None:
        budget = int(est["quoted_total"])
        await _check_vault(chain, account, budget)
    body["budget"] = budget
    if priority is not None:
        body["priority"] = priority
    created = await api.post("/jobs", body, ok=(201,))
    job_id = int(created["job_id"])
    payload = created["escrow_payload"]
    # Sign only what we expect: the package's open_job with our budget (the API must not make us sign more).
    expected = chain.payloads.function_id("escrow", "open_job")
    args = [int(a) for a in payload.get("arguments", [])]
    if payload.get("function") != expected or payload.get("type_arguments") or len(args) != 2 or args[0] != budget:
        raise CliError(f"the API asked to sign an unexpected transaction {payload!r}; nothing was signed", 1)
    price = args[1]
    echo(
        f"job {job_id} created: budget {format_amount(budget)} PICTOR at {format_amount(price)} PICTOR per "
        "reference minute"
    )
    try:
        opened = await chain.submit_and_wait(account, chain.payloads.escrow_open_job(budget, price))
    except ChainError as exc:
        raise _chain_failure(exc, f"opening the escrow of job {job_id}") from None
    echo(
        f"escrow::open_job signed by {account_address(account)[:12]}…: transaction {opened.hash} (version {opened.version})"
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + link_timeout_s
    while True:  # 202 until the indexer has seen the transaction
        response = await api.call("POST", f"/jobs/{job_id}/escrow", (200, 202, 409), json={"txn_hash": opened.hash})
        job = response.json()
        if response.status_code == 409:  # the API's background task linked it between two calls
            job = await api.get(f"/jobs/{job_id}")
            if job.get("state") == "awaiting_escrow" or not (job.get("escrow") or {}).get("chain_job_id"):
                raise CliError(f"linking the escrow: {CreatorApi._detail(response)}", 1)  # noqa: SLF001
        if response.status_code != 202:
            break
        if loop.time() > deadline:
            raise CliError(
                f"the API did not see transaction {opened.hash} within {link_timeout_s:.0f}s "
                f"(is the indexer running?); link it later with POST /jobs/{job_id}/escrow",
                1,
            )
        await asyncio.sleep(0.3)
    chain_job_id = int(job["escrow"]["chain_job_id"])
    echo(f"job {job_id} is {job['state']} (escrow {chain_job_id} on chain)")
    return SubmittedJob(job_id, chain_job_id, budget, price, opened, est, upload, scene)


def frame_counts(status: dict[str, Any]) -> dict[str, int]:
    """Frames per state of a status event or job."""
    counts: dict[str, int] = {}
    for frame in status.get("frames") or []:
        counts[frame["state"]] = counts.get(frame["state"], 0) + 1
    return counts


def status_line(status: dict[str, Any]) -> str:
    """``job 3 active: 2/8 rendered [#####-----] (2 rendering, 4 queued)``."""
    counts = frame_counts(status)
    total = sum(counts.values())
    done = sum(counts.get(s, 0) for s in DONE_STATES)
    width = 20
    filled = width * done // total if total else 0
    rest = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in DONE_STATES)
    pause = f" — paused: {status.get('pause_reason')}" if status.get("state") == "paused" else ""
    return (
        f"job {status.get('job_id')} {status.get('state')}: {done}/{total} rendered "
        f"[{'#' * filled}{'-' * (width - filled)}]{f' ({rest})' if rest else ''}{pause}"
    )


async def watch_job(
    api: CreatorApi, job_id: int, show: Callable[[dict[str, Any]], None], timeout_s: float | None = None
) -> dict[str, Any]:
    """Follow the job's event stream, calling ``show`` per status, until it completes or is cancelled."""
    loop = asyncio.get_running_loop()
    end = None if timeout_s is None else loop.time() + timeout_s
    last: dict[str, Any] = {}
    while True:  # the server ends a stream after its timeout; reconnect until the job is over
        left = 3600.0 if end is None else max(1.0, end - loop.time())
        async for status in api.events(job_id, timeout_s=min(3600.0, left)):
            last = status
            show(status)
            if status.get("state") in TERMINAL_JOB_STATES:
                return last
        if end is not None and loop.time() >= end:
            raise CliError(
                f"job {job_id} did not finish within {timeout_s:.0f}s ({status_line(last) if last else 'no status'})", 1
            )


def watch_outcome(status: dict[str, Any]) -> tuple[int, str]:
    """The exit code and last words of a watched job: 0 when every frame rendered, 1 otherwise."""
    counts = frame_counts(status)
    if status.get("state") == "cancelled":
        return 1, f"job {status.get('job_id')} was cancelled"
    if counts.get("failed"):
        return 1, f"job {status.get('job_id')} finished with {counts['failed']} failed frames"
    return 0, f"job {status.get('job_id')} finished: {sum(counts.values())} frames rendered"


def _safe_member(name: str) -> str:
    """A zip member name that is a plain file name (the API's are ``frame_000001.png``)."""
    base = Path(name).name
    if not base or base != name or base.startswith(".") or "\\" in name:
        raise CliError(f"the frames archive holds an unexpected entry {name!r}; nothing was written", 1)
    return base


async def download_frames(api: CreatorApi, job_id: int, out: Path) -> list[Path]:
    """Stream the job's ``frames.zip`` and write each frame into ``out``; the written paths."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as spool:
        async with api.http.stream("GET", f"/jobs/{job_id}/frames.zip") as response:
            if response.status_code != 200:
                await response.aread()
                code = 2 if 400 <= response.status_code < 500 else 1
                raise CliError(
                    f"GET /jobs/{job_id}/frames.zip: HTTP {response.status_code}: {CreatorApi._detail(response)}", code
                )  # noqa: SLF001
            async for chunk in response.aiter_bytes():
                spool.write(chunk)
        spool.seek(0)
        written = []
        with zipfile.ZipFile(spool) as archive:
            for info in archive.infolist():
                target = out / _safe_member(info.filename)
                with archive.open(info) as src, target.open("wb") as dst:
                    while chunk := src.read(1024 * 1024):
                        dst.write(chunk)
                written.append(target)
    return written


# ----------------------------------------------------------------------------- commands


KeyFileOption = Annotated[
    Path | None,
    typer.Option("--key-file", help="Wallet key file (default: PICTOR_WALLET_KEY or <data dir>/wallet.key)."),
]


def _die(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; CliError becomes its message and exit code."""
    try:
        return asyncio.run(work)
    except CliError as exc:
        _die(str(exc), exc.code)


def _amount(text: str) -> int:
    try:
        return parse_amount(text)
    except CliError as exc:
        _die(str(exc), exc.code)


async def _with_chain(work: Callable[[PictorChain], Coroutine[Any, Any, T]]) -> T:
    chain = chain_client()
    try:
        return await work(chain)
    finally:
        await chain.close()


@wallet_app.command("create")
def wallet_create(key_file: KeyFileOption = None) -> None:
    """Create a local Ed25519 wallet key (mode 0600; never overwrites one)."""
    from chain.keys import account_address

    path = key_file_path(key_file)
    try:
        account = create_wallet(path)
    except CliError as exc:
        _die(str(exc), exc.code)
    typer.echo(f"wallet key: {path} (mode 0600; keep it secret, back it up)")
    typer.echo(f"address:    {account_address(account)}")


@wallet_app.command("fund")
def wallet_fund(
    amount: Annotated[str, typer.Argument(help="PICTOR to get from the faucet, e.g. 100 or 12.5.")],
    key_file: KeyFileOption = None,
) -> None:
    """Get PICTOR (and APT for gas) from the localnet faucet into the wallet."""
    units = _amount(amount)
    account = _load(key_file)
    results = _run(_with_chain(lambda chain: fund_wallet(chain, account, units)))
    for result in results:
        typer.echo(f"transaction {result.hash} (version {result.version})")
    typer.echo(f"funded {format_amount(units)} PICTOR")


@wallet_app.command("deposit")
def wallet_deposit(
    amount: Annotated[str, typer.Argument(help="PICTOR to move from the wallet into the vault.")],
    key_file: KeyFileOption = None,
) -> None:
    """Deposit PICTOR from the wallet into the vault (jobs are paid from the vault)."""
    units = _amount(amount)
    account = _load(key_file)
    result = _run(_with_chain(lambda chain: deposit(chain, account, units)))
    typer.echo(f"deposited {format_amount(units)} PICTOR: transaction {result.hash} (version {result.version})")


@wallet_app.command("show")
def wallet_show(key_file: KeyFileOption = None) -> None:
    """Address, APT for gas, PICTOR in the wallet, and the vault's credit and balance."""
    from chain.keys import account_address

    account = _load(key_file)
    held = _run(_with_chain(lambda chain: balances(chain, account_address(account))))
    typer.echo(f"address:        {held.address}")
    typer.echo(f"APT (gas):      {format_amount(held.apt)}")
    typer.echo(f"wallet PICTOR:  {format_amount(held.wallet)}")
    typer.echo(f"vault credit:   {format_amount(held.vault_credit)}")
    typer.echo(f"vault balance:  {format_amount(held.vault_balance)}")


@wallet_app.command("login")
def wallet_login(
    key_file: KeyFileOption = None,
    api_url: Annotated[str | None, typer.Option(help="API URL (default: PICTOR_API_URL).")] = None,
) -> None:
    """Sign in to the API with the wallet key (AIP-116); the session is stored next to the key (0600)."""
    path = key_file_path(key_file)
    account = _load(key_file)
    url = _api_url(api_url)

    async def go() -> tuple[dict[str, Any], Path]:
        async with CreatorApi(url) as api:
            session = await api.sign_in(account)
        return session, save_session(path, session, url)

    session, stored = _run(go())
    typer.echo(f"signed in as {session['address']} until {session['expires_at']}; session stored in {stored}")


def _load(key_file: Path | None) -> Account:
    try:
        return load_wallet(key_file_path(key_file))
    except CliError as exc:
        _die(str(exc), exc.code)


def _api_url(api_url: str | None) -> str:
    from pictor.settings import get_settings

    return (api_url or get_settings().api_url).rstrip("/")


async def _signed_in_api(account: Account, key_file: Path | None, api_url: str | None) -> CreatorApi:
    api = CreatorApi(_api_url(api_url))
    try:
        await ensure_session(api, account, key_file_path(key_file))
    except BaseException:
        await api.close()
        raise
    return api


ApiOption = Annotated[str | None, typer.Option("--api-url", help="API URL (default: PICTOR_API_URL).")]


@job_app.command("submit")
def job_submit(
    scene: Annotated[Path, typer.Argument(help="The .blend (or .zip project) to render.")],
    frames: Annotated[str, typer.Option(help="Frames, Blender style: 1-250, 1,3,5-10, 1-100x5.")],
    engine: Annotated[str | None, typer.Option(help="cycles, eevee or workbench.")] = None,
    device: Annotated[str | None, typer.Option(help="CPU or GPU.")] = None,
    samples: Annotated[int | None, typer.Option(help="Render samples.")] = None,
    resolution: Annotated[str | None, typer.Option(help="HD, FHD, QHD, 2K, 4K, 8K or WIDTHxHEIGHT.")] = None,
    output_format: Annotated[str | None, typer.Option("--format", help="PNG, OpenEXR, JPEG or TIFF.")] = None,
    chunk: Annotated[int | None, typer.Option(help="Frames per node (task size).")] = None,
    tier: Annotated[str | None, typer.Option(help="Pricing tier: tier-1, tier-2, tier-3 or none.")] = None,
    budget: Annotated[str | None, typer.Option(help="PICTOR to lock in the escrow (default: the quote).")] = None,
    key_file: KeyFileOption = None,
    api_url: ApiOption = None,
) -> None:
    """Upload a scene, show its inspection and estimate, create the job and pay its escrow from the wallet."""
    if not scene.is_file():
        _die(f"no such scene file: {scene}")
    try:
        settings = job_settings(
            frames,
            engine=engine,
            device=device,
            samples=samples,
            resolution=resolution,
            output_format=output_format,
            chunk=chunk,
            tier=tier,
        )
    except CliError as exc:
        _die(str(exc), exc.code)
    units = _amount(budget) if budget is not None else None
    account = _load(key_file)

    async def go() -> SubmittedJob:
        api = await _signed_in_api(account, key_file, api_url)
        chain = chain_client()
        try:
            return await submit_job(api, chain, account, scene, settings, budget=units, echo=typer.echo)
        finally:
            await chain.close()
            await api.close()

    submitted = _run(go())
    typer.echo(f"job id: {submitted.job_id}")


@job_app.command("watch")
def job_watch(
    job_id: Annotated[int, typer.Argument(help="The job id (from `pictor job submit`).")],
    timeout: Annotated[float | None, typer.Option(help="Give up after this many seconds.")] = None,
    key_file: KeyFileOption = None,
    api_url: ApiOption = None,
) -> None:
    """Live progress of a job; exits 0 when it finished with every frame, 1 on failure or cancellation."""
    from rich.console import Console

    account = _load(key_file)
    console = Console()

    async def go() -> dict[str, Any]:
        api = await _signed_in_api(account, key_file, api_url)
        try:
            if not console.is_terminal:
                seen: list[str] = []

                def line(status: dict[str, Any]) -> None:
                    text = status_line(status)
                    if not seen or seen[-1] != text:
                        seen.append(text)
                        typer.echo(text)

                return await watch_job(api, job_id, line, timeout)
            return await _watch_with_bars(api, job_id, console, timeout)
        finally:
            await api.close()

    final = _run(go())
    code, words = watch_outcome(final)
    typer.echo(words, err=code != 0)
    raise typer.Exit(code)


async def _watch_with_bars(api: CreatorApi, job_id: int, console: Any, timeout: float | None) -> dict[str, Any]:
    """Rich progress bars: frames rendered, frames verified or accepted."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        rendered = progress.add_task(f"job {job_id} rendered", total=None)
        checked = progress.add_task("verified/accepted", total=None)
        state = progress.add_task("", total=None, visible=False)

        def show(status: dict[str, Any]) -> None:
            counts = frame_counts(status)
            total = sum(counts.values())
            progress.update(rendered, total=total, completed=sum(counts.get(s, 0) for s in DONE_STATES))
            progress.update(checked, total=total, completed=counts.get("verified", 0) + counts.get("accepted", 0))
            busy = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in DONE_STATES)
            progress.update(state, visible=True, description=f"{status.get('state')}: {busy or 'all rendered'}")

        return await watch_job(api, job_id, show, timeout)


@job_app.command("download")
def job_download(
    job_id: Annotated[int, typer.Argument(help="The job id.")],
    out: Annotated[Path, typer.Option("--out", help="Folder the frames are written to.")] = Path("out"),
    key_file: KeyFileOption = None,
    api_url: ApiOption = None,
) -> None:
    """Download every rendered frame of a job into a folder."""
    account = _load(key_file)

    async def go() -> list[Path]:
        api = await _signed_in_api(account, key_file, api_url)
        try:
            return await download_frames(api, job_id, out)
        finally:
            await api.close()

    written = _run(go())
    if not written:
        _die(f"job {job_id} has no rendered frame yet", 1)
    typer.echo(f"{len(written)} frames written to {out}")
    with contextlib.suppress(ValueError):
        typer.echo(f"  {written[0].name} … {written[-1].name}")
