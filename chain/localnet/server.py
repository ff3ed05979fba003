"""The localnet process: the node API and the faucet served by uvicorn on one event loop until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from chain.constants import LOCALNET_CHAIN_ID
from chain.localnet.faucet import Faucet, FaucetApp
from chain.localnet.genesis import create_genesis, load_accounts, read_key
from chain.localnet.node import Node
from chain.localnet.routes import NodeApp

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
    uvloop = None

log = logging.getLogger("chain.localnet")


class _CoalescingTransport:
    """A transport proxy whose writes of one event-loop turn leave in a single ``send()``.

    uvicorn writes a response's head and body separately: two system calls per response, which in a
    VM cost more than the rest of a small request. Buffering until the end of the turn halves that.
    """

    __slots__ = ("_transport", "_loop", "_buffer", "_scheduled")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._buffer: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes) -> None:
        """Buffer ``data`` until the end of this event-loop turn."""
        self._buffer.append(data)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Send what was buffered in one write."""
        self._scheduled = False
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        """Flush, then close the underlying transport."""
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a :class:`_CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Wrap the connection's transport before uvicorn sees it."""
        super().connection_made(_CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]


class _Server(uvicorn.Server):
    """uvicorn server whose signals are handled by :func:`serve` (two servers share one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signal handling to :func:`serve`."""
        yield


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


def _url_host(host: str) -> str:
    """The host to put in URLs for a bind address."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


async def serve(host: str, port: int, faucet_port: int, data_dir: Path, test_clock: bool) -> None:
    """Open (or create) the chain in ``data_dir`` and serve the node API and the faucet until SIGTERM/SIGINT."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    node = Node(data_dir, chain_id=LOCALNET_CHAIN_ID, test_clock=test_clock)
    if not node.load():
        create_genesis(node, data_dir)
    accounts = load_accounts(data_dir)
    node.start()
    await node.tick()  # a first block: the ledger clock is current before anyone asks
    faucet = Faucet(node, read_key(data_dir / "keys" / "faucet.key"), accounts["faucet"])

    node_sock, faucet_sock = _bind(host, port), _bind(host, faucet_port)
    common: dict[str, Any] = dict(
        loop="none",
        http=_HttpProtocol,
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        date_header=False,
        timeout_keep_alive=30,
        backlog=4096,
        proxy_headers=False,
    )
    node_server = _Server(uvicorn.Config(NodeApp(node, test_clock=test_clock), **common))
    faucet_server = _Server(uvicorn.Config(FaucetApp(faucet), **common))

    loop = asyncio.get_running_loop()

    def stop() -> None:
        """Ask both servers to shut down."""
        node_server.should_exit = True
        faucet_server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)

    node_url = f"http://{_url_host(host)}:{node_sock.getsockname()[1]}/v1"
    faucet_url = f"http://{_url_host(host)}:{faucet_sock.getsockname()[1]}"

    async def announce() -> None:
        """Write ``localnet.json`` once both servers listen."""
        while not (node_server.started and faucet_server.started):
            if node_server.should_exit:
                return
            await asyncio.sleep(0.01)
        ready = data_dir / "localnet.json"
        tmp = ready.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "node_url": node_url, "faucet_url": faucet_url}))
        os.replace(tmp, ready)
        log.warning("localnet ready: node %s, faucet %s, data %s", node_url, faucet_url, data_dir)

    announcer = loop.create_task(announce())
    try:
        await asyncio.gather(node_server.serve(sockets=[node_sock]), faucet_server.serve(sockets=[faucet_sock]))
    finally:
        announcer.cancel()
        await node.close()
        with contextlib.suppress(FileNotFoundError):
            ready_file = data_dir / "localnet.json"
            if json.loads(ready_file.read_text()).get("pid") == os.getpid():
                ready_file.unlink()


def run_localnet(host: str, port: int, faucet_port: int, data_dir: str | Path, test_clock: bool) -> None:
    """Run a localnet in this process (blocking) — what ``pictor localnet`` and ``python -m chain.localnet`` call."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None if uvloop is None else uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(host, port, faucet_port, Path(data_dir), test_clock))


__all__ = ["run_localnet", "serve"]
