"""``python -m chain.localnet``: run a localnet in the foreground (the same as ``pictor localnet``)."""

from __future__ import annotations

import argparse
import logging

from chain.localnet.server import run_localnet


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the localnet until SIGTERM / Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m chain.localnet", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="node REST API port (0: any free port)")
    parser.add_argument("--faucet-port", type=int, default=8081, help="faucet port (0: any free port)")
    parser.add_argument("--data-dir", required=True, help="chain data (created with a genesis if empty)")
    parser.add_argument("--test-clock", action="store_true", help="serve POST /v1/-/test/clock/advance")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_localnet(args.host, args.port, args.faucet_port, args.data_dir, args.test_clock)


if __name__ == "__main__":
    main()
