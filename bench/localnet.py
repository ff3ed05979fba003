"""Localnet throughput / commit-latency benchmark: ``python -m bench.localnet [--seconds 20] [--clients 8]``.

It starts a fresh localnet (subprocess, temp data dir), creates one funded account per client, and
each client submits signed transfers over HTTP (BCS ``POST /v1/transactions``), keeping several in
flight at once (``--inflight``), and waits for each one's commit with ``GET
/v1/transactions/wait_by_hash/{hash}`` (Aptos's long-poll). Latency is submit -> committed as that
client observed it; throughput counts transactions committed during the measured window.

The asset (``--asset``): ``pictor`` transfers PICTOR with
``0x1::primary_fungible_store::transfer<0x1::fungible_asset::Metadata>`` (accounts get PICTOR from an
admin ``token::mint``), ``apt`` uses ``0x1::aptos_account::transfer``; ``auto`` (default) picks PICTOR
when the ``pictor`` package is on chain. The last line printed is the JSON result.

The client side shares the machine with the node, so it is kept lean: a minimal keep-alive HTTP/1.1
client on asyncio streams (uvloop), one connection per in-flight slot, transactions signed with
PyNaCl just before submission. The result also reports CPU time per committed transaction of the
node process and of the client, which tells what the machine could reach when other work competes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import nacl.signing

from chain.localnet import start_localnet_process
from chain.localnet.genesis import read_key
from chain.localnet.txn import raw_transaction_bcs, sign_raw_transaction
from chain.localnet.vm import core

BCS_TXN = "application/x.aptos.signed_transaction+bcs"
MAX_GAS = 2_000
GAS_PRICE = 100
TTL_S = 600
OCTAS = 100_000_000
FA_METADATA = "0x1::fungible_asset::Metadata"


class HttpConn:
    """One keep-alive HTTP/1.1 connection: request, then read the whole (content-length) response."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"", content_type: str = "") -> tuple[int, bytes]:
        """Send one request and read the whole response: (status, body)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        assert self.reader is not None
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        start = header.lower().find(b"content-length:")
        length = int(header[start + 15 : header.find(b"\r\n", start)]) if start >= 0 else 0
        return status, await self.reader.readexactly(length)

    async def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A JSON request; (status, decoded body)."""
        data = b"" if body is None else json.dumps(body).encode()
        status, out = await self.request(method, path, data, "application/json" if body is not None else "")
        return status, (json.loads(out) if out else None)

    def close(self) -> None:
        """Close the connection."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@dataclass
class Sender:
    """One benchmark client's account and its next sequence number."""

    key: nacl.signing.SigningKey
    address: str
    seq: int = 0
    latencies: list[float] = field(default_factory=list)
    committed: int = 0
    failed: int = 0


class Bench:
    """Builds and signs the benchmark's transactions, submits them and waits for their commit."""

    def __init__(self, node_url: str, chain_id: int) -> None:
        self.node_url = node_url
        self.chain_id = chain_id
        self.asset = "apt"
        self.metadata: str | None = None

    def sign(self, sender: Sender, module: str, function: str, ty_args: list[str], args: list[bytes]) -> bytes:
        """A signed entry-function call from ``sender`` at its next sequence number."""
        address, module_name = module.split("::")
        raw = raw_transaction_bcs(
            sender.address,
            sender.seq,
            address,
            module_name,
            function,
            ty_args,
            args,
            MAX_GAS,
            GAS_PRICE,
            int(time.time()) + TTL_S,
            self.chain_id,
        )
        sender.seq += 1
        return sign_raw_transaction(sender.key, raw)

    def transfer(self, sender: Sender, recipient: str, amount: int) -> bytes:
        """A signed transfer of ``amount`` (PICTOR or APT) to ``recipient``."""
        to, value = core.addr_bytes(recipient), amount.to_bytes(8, "little")
        if self.asset == "pictor":
            assert self.metadata is not None
            return self.sign(
                sender,
                "0x1::primary_fungible_store",
                "transfer",
                [FA_METADATA],
                [core.addr_bytes(self.metadata), to, value],
            )
        return self.sign(sender, "0x1::aptos_account", "transfer", [], [to, value])

    @staticmethod
    async def run_one(conn: HttpConn, signed: bytes, timeout: float = 60.0) -> dict[str, Any]:
        """Submit (BCS) and long-poll ``wait_by_hash`` until committed; the committed transaction."""
        status, body = await conn.request("POST", "/transactions", signed, BCS_TXN)
        if status != 202:
            raise RuntimeError(f"submit answered {status}: {body[:300]!r}")
        txn_hash = json.loads(body)["hash"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = await conn.request("GET", f"/transactions/wait_by_hash/{txn_hash}")
            if status == 200:
                txn = json.loads(body)
                if txn.get("type") != "pending_transaction":
                    return txn
            else:
                await asyncio.sleep(0.01)
        raise TimeoutError(f"{txn_hash} not committed in {timeout}s")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``), 0.0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


async def _client(
    bench: Bench, sender: Sender, recipients: list[str], inflight: int, stop_at: float, window_start: float
) -> None:
    """Keep ``inflight`` transfers outstanding until ``stop_at``; record commit latencies in the window."""

    async def worker(offset: int) -> None:
        """One in-flight slot: submit, wait, repeat."""
        conn = HttpConn(bench.node_url)
        i = offset
        try:
            while time.monotonic() < stop_at:
                signed = bench.transfer(sender, recipients[i % len(recipients)], 1)
                i += inflight
                started = time.monotonic()
                try:
                    txn = await Bench.run_one(conn, signed)
                except (RuntimeError, TimeoutError, OSError, asyncio.IncompleteReadError):
                    sender.failed += 1
                    conn.close()
                    continue
                done = time.monotonic()
                if not txn.get("success"):
                    sender.failed += 1
                elif started >= window_start and done <= stop_at:
                    sender.committed += 1
                    sender.latencies.append(done - started)
        finally:
            conn.close()

    await asyncio.gather(*(worker(k) for k in range(inflight)))


async def _setup(bench: Bench, faucet_url: str, data_dir: Path, senders: list[Sender], asset: str) -> None:
    """Fund the senders with APT (faucet) and, for PICTOR, mint them tokens with the admin key."""
    faucet = HttpConn(faucet_url)
    try:
        for s in senders:
            query = urlencode({"address": s.address, "amount": 100 * OCTAS})
            status, body = await faucet.request("POST", f"/mint?{query}")
            if status != 200:
                raise RuntimeError(f"faucet answered {status}: {body[:300]!r}")
    finally:
        faucet.close()
    if asset == "apt":
        return
    accounts = json.loads((data_dir / "keys" / "accounts.json").read_text())
    conn = HttpConn(bench.node_url)
    try:
        status, out = await conn.json(
            "POST",
            "/view",
            {"function": f"{accounts['package']}::token::metadata", "type_arguments": [], "arguments": []},
        )
        if status != 200:
            if asset == "pictor":
                raise RuntimeError("the pictor package is not on this localnet: no PICTOR to transfer")
            return
        metadata = out[0]["inner"] if isinstance(out[0], dict) else out[0]
        admin = Sender(read_key(data_dir / "keys" / "admin.key"), accounts["admin"])
        _, account = await conn.json("GET", f"/accounts/{admin.address}")
        admin.seq = int(account["sequence_number"])
        for s in senders:
            mint = bench.sign(
                admin,
                f"{accounts['package']}::token",
                "mint",
                [],
                [core.addr_bytes(s.address), (1_000_000 * OCTAS).to_bytes(8, "little")],
            )
            txn = await Bench.run_one(conn, mint)
            if not txn.get("success"):
                raise RuntimeError(f"PICTOR mint failed: {txn.get('vm_status')}")
        bench.asset, bench.metadata = "pictor", core.norm_addr(metadata)
    finally:
        conn.close()


async def _run(
    node_url: str,
    faucet_url: str,
    data_dir: Path,
    seconds: float,
    clients: int,
    inflight: int,
    asset: str,
    warmup: float,
) -> dict[str, Any]:
    """Set up accounts, run the clients for the window, collect the figures."""
    info = HttpConn(node_url)
    _, index = await info.json("GET", "")
    bench = Bench(node_url, int(index["chain_id"]))
    senders = []
    for _ in range(clients):
        key = nacl.signing.SigningKey.generate()
        senders.append(Sender(key, core.ed25519_auth_key(bytes(key.verify_key))))
    await _setup(bench, faucet_url, data_dir, senders, asset)

    recipients = [s.address for s in senders]
    window_start = time.monotonic() + warmup
    stop_at = window_start + seconds
    runner = asyncio.gather(
        *(
            _client(bench, s, recipients[i + 1 :] + recipients[: i + 1], inflight, stop_at, window_start)
            for i, s in enumerate(senders)
        )
    )
    await asyncio.sleep(max(0.0, window_start - time.monotonic()))
    _, index = await info.json("GET", "")
    version_before = int(index["ledger_version"])
    server_pid = json.loads((data_dir / "localnet.json").read_text())["pid"]
    server_cpu, client_cpu = _cpu_seconds(server_pid), time.process_time()
    await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
    server_cpu, client_cpu = _cpu_seconds(server_pid) - server_cpu, time.process_time() - client_cpu
    _, index = await info.json("GET", "")
    version_after = int(index["ledger_version"])
    await runner
    info.close()

    latencies = sorted(lat for s in senders for lat in s.latencies)
    committed = sum(s.committed for s in senders)
    if not latencies:
        raise RuntimeError("no transaction committed during the measured window")
    return {
        "tps": round(committed / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "committed": committed,
        "failed": sum(s.failed for s in senders),
        "asset": bench.asset,
        "clients": clients,
        "inflight_per_client": inflight,
        "seconds": seconds,
        "ledger_versions_in_window": version_after - version_before,
        # CPU per committed transaction: what the machine could reach, whatever else runs on it
        "server_cpu_us_per_txn": round(server_cpu / committed * 1e6, 1),
        "client_cpu_us_per_txn": round(client_cpu / committed * 1e6, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def _asyncio_run(coro: Any) -> Any:
    """Run ``coro`` on uvloop when available."""
    try:
        import uvloop  # optional: the standard event loop serves when it is missing

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.run(coro)


def run_bench(
    seconds: float = 20, clients: int = 8, *, inflight: int = 6, asset: str = "auto", warmup: float = 2.0
) -> dict[str, Any]:
    """Run the benchmark against a fresh localnet subprocess; returns tps, p50_ms, p99_ms and details."""
    with tempfile.TemporaryDirectory(prefix="pictor-bench-") as tmp:
        proc = start_localnet_process(Path(tmp) / "data")
        try:
            return _asyncio_run(
                _run(proc.node_url, proc.faucet_url, proc.data_dir, seconds, clients, inflight, asset, warmup)
            )
        finally:
            proc.stop()


def main() -> None:
    """Command line: run the benchmark and print the result (JSON on the last line)."""
    parser = argparse.ArgumentParser(prog="python -m bench.localnet", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--inflight", type=int, default=6, help="transactions in flight per client")
    parser.add_argument("--asset", choices=("auto", "pictor", "apt"), default="auto")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--data-dir", help="drive an already running localnet on this data dir (for profiling)")
    args = parser.parse_args()
    if args.data_dir:
        data_dir = Path(args.data_dir)
        info = json.loads((data_dir / "localnet.json").read_text())
        result = _asyncio_run(
            _run(
                info["node_url"],
                info["faucet_url"],
                data_dir,
                args.seconds,
                args.clients,
                args.inflight,
                args.asset,
                args.warmup,
            )
        )
    else:
        result = run_bench(args.seconds, args.clients, inflight=args.inflight, asset=args.asset, warmup=args.warmup)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
