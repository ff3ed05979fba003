"""``pictor wallet …`` and ``pictor job …``: the creator's commands over the client in :mod:`creator`.

Amounts are PICTOR with up to 8 decimals (:mod:`creator.amounts`). Exit codes: 0 done, 1 the job or a
chain/network step failed, 2 bad input (a missing file, a bad option, an API 4xx answer, no key file).
The chain client, the HTTP client and rich load inside the commands that use them, so that mounting these
commands keeps `pictor --help` and the node commands fast.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from chain.keys import account_address
from creator.amounts import format_amount, parse_amount
from creator.errors import CreatorError
from creator.keys import create_wallet, key_file_path, load_wallet, save_session
from pictor.settings import get_settings

if TYPE_CHECKING:
    from aptos_sdk.account import Account
    from rich.console import Console

    from chain.client import PictorChain
    from creator.api import CreatorApi
    from creator.jobs import SubmittedJob

T = TypeVar("T")

wallet_app = typer.Typer(
    help="The creator's wallet: a local key, faucet funds, vault deposits, sign-in.", no_args_is_help=True
)
job_app = typer.Typer(help="Render jobs: submit a scene, watch it render, download the frames.", no_args_is_help=True)

KeyFileOption = Annotated[
    Path | None,
    typer.Option("--key-file", help="Wallet key file (default: PICTOR_WALLET_KEY or <data dir>/wallet.key)."),
]
ApiOption = Annotated[str | None, typer.Option("--api-url", help="API URL (default: PICTOR_API_URL).")]


def _die(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; CreatorError becomes its message and exit code."""
    try:
        return asyncio.run(work)
    except CreatorError as exc:
        _die(str(exc), exc.code)


def _amount(text: str) -> int:
    """The option's amount in base units, or exit 2."""
    try:
        return parse_amount(text)
    except CreatorError as exc:
        _die(str(exc), exc.code)


def _load(key_file: Path | None) -> Account:
    """The wallet of ``--key-file`` (or the default key file), or exit 2."""
    try:
        return load_wallet(key_file_path(key_file))
    except CreatorError as exc:
        _die(str(exc), exc.code)


def _api_url(api_url: str | None) -> str:
    """``--api-url``, else ``PICTOR_API_URL``."""
    return (api_url or get_settings().api_url).rstrip("/")


async def _with_chain(work: Callable[[PictorChain], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` with a chain client of the configured deployment, closed after."""
    from creator.wallet import chain_client  # lazy: the chain client loads only when a command runs

    chain = chain_client()
    try:
        return await work(chain)
    finally:
        await chain.close()


async def _signed_in_api(account: Account, key_file: Path | None, api_url: str | None) -> CreatorApi:
    """An API client with a live session (the stored one, else a new sign-in)."""
    from creator.api import CreatorApi, ensure_session  # lazy: httpx loads only when a command runs

    api = CreatorApi(_api_url(api_url))
    try:
        await ensure_session(api, account, key_file_path(key_file))
    except BaseException:
        await api.close()
        raise
    return api


# ----------------------------------------------------------------------------- pictor wallet


@wallet_app.command("create")
def wallet_create(key_file: KeyFileOption = None) -> None:
    """Create a local Ed25519 wallet key (mode 0600; never overwrites one)."""
    path = key_file_path(key_file)
    try:
        account = create_wallet(path)
    except CreatorError as exc:
        _die(str(exc), exc.code)
    typer.echo(f"wallet key: {path} (mode 0600; keep it secret, back it up)")
    typer.echo(f"address:    {account_address(account)}")


@wallet_app.command("fund")
def wallet_fund(
    amount: Annotated[str, typer.Argument(help="PICTOR to get from the faucet, e.g. 100 or 12.5.")],
    key_file: KeyFileOption = None,
) -> None:
    """Get PICTOR (and APT for gas) from the localnet faucet into the wallet."""
    from creator.wallet import fund_wallet  # lazy: the chain client loads only when a command runs

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
    from creator.wallet import deposit  # lazy: the chain client loads only when a command runs

    units = _amount(amount)
    account = _load(key_file)
    result = _run(_with_chain(lambda chain: deposit(chain, account, units)))
    typer.echo(f"deposited {format_amount(units)} PICTOR: transaction {result.hash} (version {result.version})")


@wallet_app.command("show")
def wallet_show(key_file: KeyFileOption = None) -> None:
    """Address, APT for gas, PICTOR in the wallet, and the vault's credit and balance."""
    from creator.wallet import balances  # lazy: the chain client loads only when a command runs

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
    from creator.api import CreatorApi  # lazy: httpx loads only when a command runs

    path = key_file_path(key_file)
    account = _load(key_file)
    url = _api_url(api_url)

    async def go() -> tuple[dict[str, Any], Path]:
        async with CreatorApi(url) as api:
            session = await api.sign_in(account)
        return session, save_session(path, session, url)

    session, stored = _run(go())
    typer.echo(f"signed in as {session['address']} until {session['expires_at']}; session stored in {stored}")


# ----------------------------------------------------------------------------- pictor job


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
    from creator.jobs import job_settings, submit_job  # lazy: httpx loads only when a command runs
    from creator.wallet import chain_client  # lazy: the chain client loads only when a command runs

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
    except CreatorError as exc:
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
    from rich.console import Console  # lazy: rich loads only when a command runs

    from creator.jobs import status_line, watch_job, watch_outcome  # lazy: httpx loads only when a command runs

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


async def _watch_with_bars(api: CreatorApi, job_id: int, console: Console, timeout: float | None) -> dict[str, Any]:
    """Rich progress bars: frames rendered, frames verified or accepted."""
    from rich.progress import (  # lazy: rich loads only when a command runs
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from creator.jobs import DONE_STATES, frame_counts, watch_job  # lazy: httpx loads only when a command runs

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
    from creator.jobs import download_frames  # lazy: httpx loads only when a command runs

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
