"""The `pictor` command line: one entry point for every component."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="Pictor: decentralized GPU rendering settled on Aptos.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks; each prints one JSON line of figures last.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@app.command()
def localnet(
    host: str = typer.Option("127.0.0.1", help="Address the node API listens on."),
    port: int = typer.Option(8080, help="Node REST API port (served under /v1)."),
    faucet_port: int = typer.Option(8081, help="Faucet port."),
    data_dir: Path = typer.Option(Path(".pictor/localnet"), help="Chain state lives here (durable)."),
    test_clock: bool = typer.Option(False, "--test-clock", help="Expose the clock-advance route (tests only)."),
) -> None:
    """Run the local Aptos-compatible chain with the `pictor` package published at genesis."""
    from chain.localnet import run_localnet

    run_localnet(host=host, port=port, faucet_port=faucet_port, data_dir=data_dir, test_clock=test_clock)


@app.command("chain-demo")
def chain_demo(
    data_dir: Path | None = typer.Option(None, help="Keep the demo chain here instead of a temporary folder."),
) -> None:
    """Walk one render job through the money rules with real transactions on a fresh localnet."""
    from chain.demo import main

    raise typer.Exit(main(data_dir))


@bench_app.command("localnet")
def bench_localnet(
    seconds: float = typer.Option(20.0, help="How long the clients submit."),
    clients: int = typer.Option(8, help="Concurrent submitting clients."),
) -> None:
    """Signed PICTOR transfers from concurrent clients against a fresh localnet: tps and commit latency."""
    from bench.localnet import run_bench

    print(json.dumps(run_bench(seconds=seconds, clients=clients)))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
