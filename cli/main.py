"""The `pictor` command line: one entry point for every component.

Each command imports what it needs when it runs, so that `pictor --help` and the node commands start fast;
the sub-apps mounted here (worker, checker, wallet, job) import little more than typer at module level.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from checker_node.cli import checker_app
from cli.creator import job_app, wallet_app
from pictor.settings import get_settings
from worker_node.cli import worker_app

app = typer.Typer(help="Pictor: decentralized GPU rendering settled on Aptos.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks; each prints one JSON line of figures last.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(worker_app, name="worker")
app.add_typer(checker_app, name="checker")
app.add_typer(wallet_app, name="wallet")
app.add_typer(job_app, name="job")


@app.command()
def localnet(
    host: str = typer.Option("127.0.0.1", help="Address the node API listens on."),
    port: int = typer.Option(8080, help="Node REST API port (served under /v1)."),
    faucet_port: int = typer.Option(8081, help="Faucet port."),
    data_dir: Path = typer.Option(Path(".pictor/localnet"), help="Chain state lives here (durable)."),
    test_clock: bool = typer.Option(False, "--test-clock", help="Expose the clock-advance route (tests only)."),
) -> None:
    """Run the local Aptos-compatible chain with the `pictor` package published at genesis."""
    from chain.localnet import run_localnet  # lazy: loaded only when this command runs

    run_localnet(host=host, port=port, faucet_port=faucet_port, data_dir=data_dir, test_clock=test_clock)


@app.command("chain-demo")
def chain_demo(
    data_dir: Path | None = typer.Option(None, help="Keep the demo chain here instead of a temporary folder."),
) -> None:
    """Walk one render job through the money rules with real transactions on a fresh localnet."""
    from cli.chain_demo import main  # lazy: loaded only when this command runs

    raise typer.Exit(main(data_dir))


@app.command()
def demo(
    data_dir: Path | None = typer.Option(None, help="A fresh (empty) folder for the demo's state (default: a new temporary one)."),
    frames: int = typer.Option(8, help="Frames of the generated scene to render."),
    out: Path = typer.Option(Path("out"), help="Folder the rendered frames are written to."),
) -> None:
    """Same as `pictor up --demo`."""
    from cli.demo import main  # lazy: loaded only when this command runs

    raise typer.Exit(main(data_dir, frames, out))


@app.command()
def up(
    demo: bool = typer.Option(False, "--demo", help="Run the main job on a fresh stack with two workers, then stop."),
    data_dir: Path | None = typer.Option(None, help="State folder (default: PICTOR_DATA_DIR; --demo: a new temp one)."),
    frames: int = typer.Option(8, help="--demo: frames of the generated scene."),
    out: Path = typer.Option(Path("out"), help="--demo: folder the rendered frames are written to."),
    port: int = typer.Option(8080, help="Localnet REST API port (0: a free one)."),
    faucet_port: int = typer.Option(8081, help="Localnet faucet port (0: a free one)."),
    api_port: int = typer.Option(8000, help="API port (0: a free one)."),
) -> None:
    """Start PostgreSQL, the localnet, the indexer and the API and wait (Ctrl-C stops them); --demo: the main job."""
    if demo:
        from cli.demo import main as demo_main  # lazy: loaded only when this command runs

        raise typer.Exit(demo_main(data_dir, frames, out))
    from cli.up import main  # lazy: loaded only when this command runs

    raise typer.Exit(main(data_dir, port, faucet_port, api_port))


@bench_app.command("verify")
def bench_verify(
    quick: bool = typer.Option(False, help="A small corpus for development (320×180, 16 samples, 3 + 1 frames)."),
    width: int | None = typer.Option(None, help="Frame width (default 960)."),
    height: int | None = typer.Option(None, help="Frame height (default 540)."),
    samples: int | None = typer.Option(None, help="Cycles samples (default 32)."),
    frames: int | None = typer.Option(None, help="First-process honest frames per scene (default 8)."),
    rerenders: int | None = typer.Option(None, help="Of those, re-rendered by another process (default 4)."),
    extra_regimes: bool = typer.Option(False, help="Also denoised and JPEG honest frames."),
    cache: Path | None = typer.Option(None, help="Render cache (default: PICTOR_BENCH_CACHE or ~/.cache/pictor)."),
) -> None:
    """Checker verification on real renders of 3 scenes: detection per tamper class, false rejects, CPU cost."""
    from bench.verify import main  # lazy: loaded only when this command runs

    argv = ["--quick"] if quick else []
    for flag, value in (("--width", width), ("--height", height), ("--samples", samples), ("--frames", frames)):
        argv += [flag, str(value)] if value is not None else []
    argv += ["--rerenders", str(rerenders)] if rerenders is not None else []
    argv += ["--extra-regimes"] if extra_regimes else []
    argv += ["--cache", str(cache)] if cache is not None else []
    raise typer.Exit(main(argv))


@bench_app.command("localnet")
def bench_localnet(
    seconds: float = typer.Option(20.0, help="How long the clients submit."),
    clients: int = typer.Option(8, help="Concurrent submitting clients."),
) -> None:
    """Signed PICTOR transfers from concurrent clients against a fresh localnet: tps and commit latency."""
    from bench.localnet import run_bench  # lazy: loaded only when this command runs

    print(json.dumps(run_bench(seconds=seconds, clients=clients)))


@bench_app.command("scheduler")
def bench_scheduler(
    tasks: int = typer.Option(10_000, help="Tasks to claim and complete."),
    workers: int = typer.Option(200, help="Concurrent simulated worker nodes."),
    render_ms: float | None = typer.Option(
        None, min=0, help="Simulated render between claim and completion, ms (default 20; 0: the stress figure)."
    ),
) -> None:
    """Concurrent simulated workers claiming and completing tasks on PostgreSQL: claims/s, p99, double claims."""
    from bench.scheduler import run_bench  # lazy: loaded only when this command runs

    print(json.dumps(run_bench(tasks=tasks, workers=workers, render_ms=render_ms)))


@bench_app.command("render")
def bench_render(
    frames: Annotated[int, typer.Option(help="Frames of the animated scene.")] = 32,
    samples: Annotated[int, typer.Option(help="Cycles samples per frame.")] = 16,
    width: Annotated[int, typer.Option(help="Frame width in pixels.")] = 320,
    height: Annotated[int, typer.Option(help="Frame height in pixels.")] = 240,
) -> None:
    """One worker RenderSession vs raw bpy in one process on the same Cycles CPU frames: overhead ratio."""
    from bench.render import run_bench  # lazy: loaded only when this command runs

    print(json.dumps(run_bench(frames=frames, samples=samples, width=width, height=height)))


db_app = typer.Typer(help="The PostgreSQL database (embedded unless DATABASE_URL is set).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Alembic revision to upgrade to.")] = "head",
) -> None:
    """Apply the migrations in migrations/ (starting the embedded PostgreSQL if needed)."""
    from sqlalchemy.engine import make_url  # lazy: loaded only when this command runs

    from pictor.db import database_url, upgrade  # lazy: loaded only when this command runs

    url = database_url()
    upgrade(url, revision)
    print(f"database {make_url(url).render_as_string(hide_password=True)} is at {revision}")


@app.command()
def indexer(
    node_url: Annotated[str | None, typer.Option(help="Node REST API (default: PICTOR_NODE_URL).")] = None,
    database_url: Annotated[str | None, typer.Option(help="PostgreSQL URL (default: DATABASE_URL or embedded).")] = None,
    start_version: Annotated[int, typer.Option(help="First version when the database has no checkpoint.")] = 0,
    processor: Annotated[str, typer.Option(help="Checkpoint name (one active indexer per name).")] = "pictor",
    fetch_concurrency: Annotated[int, typer.Option(help="Pages of transactions fetched in parallel.")] = 4,
    page_size: Annotated[int, typer.Option(help="Transactions per page.")] = 100,
    max_batch: Annotated[
        int | None, typer.Option(help="Most transactions written per database transaction (default: the indexer's).")
    ] = None,
    stop_at: Annotated[int | None, typer.Option(help="Exit once this version is indexed.")] = None,
    event_writes: Annotated[str, typer.Option(help="Event rows: 'copy' (direct) or 'staging' (ON CONFLICT).")] = "copy",
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations first.")] = True,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Mirror the chain into PostgreSQL exactly once, following new versions until interrupted."""
    from chain.client import PictorChain  # lazy: loaded only when this command runs
    from indexer.runner import IndexerConfig, run_indexer, tune_gc  # lazy: loaded only when this command runs
    from pictor import db  # lazy: loaded only when this command runs

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = db.sqlalchemy_url(database_url) if database_url else db.database_url()
    if migrate:
        db.upgrade(url)
    overrides = {"node_url": node_url} if node_url else {}
    batch = {"max_batch_txns": max_batch} if max_batch is not None else {}
    config = IndexerConfig(
        database_url=url, processor=processor, start_version=start_version, page_size=page_size,
        fetch_concurrency=fetch_concurrency, stop_at_version=stop_at, event_writes=event_writes, **batch,
    )
    tune_gc()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: every committed batch is complete
        asyncio.run(run_indexer(config, PictorChain.from_settings(get_settings(), **overrides)))


LEADERBOARD_DATA = Path("/tmp/pictor-bench-leaderboard")


@bench_app.command("leaderboard")
def bench_leaderboard(
    users: Annotated[int, typer.Option(help="Distinct addresses with points.")] = 1_000_000,
    rows: Annotated[int, typer.Option(help="Points ledger rows.")] = 10_000_000,
    samples: Annotated[int, typer.Option(help="Reads timed per kind (top 100, my rank).")] = 2000,
    fresh: Annotated[int, typer.Option(help="Ledger rows added after the snapshot (read through the merge).")] = 1000,
    seconds: Annotated[float, typer.Option(help="How long the HTTP clients run.")] = 10.0,
    clients: Annotated[int, typer.Option(help="Concurrent HTTP clients.")] = 32,
    data_dir: Annotated[Path, typer.Option(help="The generated database, kept between runs.")] = LEADERBOARD_DATA,
) -> None:
    """Top-100 and my-rank read p99, full snapshot refresh time, GET /leaderboard requests/s through uvicorn."""
    from bench.leaderboard import run_bench  # lazy: loaded only when this command runs

    figures = run_bench(
        users=users, rows=rows, samples=samples, fresh=fresh, seconds=seconds, clients=clients, data_dir=data_dir
    )
    print(json.dumps(figures))


@bench_app.command("indexer")
def bench_indexer(
    events: Annotated[int, typer.Option(help="Pictor events in the benchmark history (at least).")] = 200_000,
    data_dir: Annotated[Path | None, typer.Option(help="Keep the chain and database here (default: temporary).")] = None,
) -> None:
    """Decode+write rate vs raw COPY on pre-fetched pages, and end-to-end rate from a running localnet."""
    from bench.indexer import run_bench  # lazy: loaded only when this command runs

    print(json.dumps(run_bench(events=events, data_dir=data_dir)))


@app.command()
def api(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
) -> None:
    """Serve the Pictor API (audit, health, metrics) with uvicorn."""
    import uvicorn  # lazy: loaded only when this command runs

    from api.app import create_app  # lazy: loaded only when this command runs

    os.environ.setdefault("PICTOR_LEADERBOARD_BACKGROUND", "true")  # the served API refreshes boards
    # the API decides which proxies to trust (PICTOR_TRUSTED_PROXIES), not uvicorn
    uvicorn.run(create_app(), host=host, port=port, log_level="info", proxy_headers=False)


@app.command("close-epoch")
def close_epoch(
    epoch: Annotated[int | None, typer.Option(help="Close this epoch (default: every epoch that has ended).")] = None,
) -> None:
    """Close reward epochs: rank, pay the bands, publish the Merkle root on chain (resumes an interrupted close)."""
    from cli.epochs import close_cli  # lazy: loaded only when this command runs

    raise typer.Exit(close_cli(epoch))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
