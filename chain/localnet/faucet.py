"""The localnet faucet, on its own port as Aptos's: ``POST /mint?address=&amount=`` and ``GET /``.

Every grant is a real signed ``0x1::aptos_account::transfer`` from the genesis faucet account, so it
shows up in the ledger like any transaction (and creates the recipient account if needed). The faucet
answers once the transaction is committed, with the JSON list of its hash, as Aptos's faucet does;
``FaucetClient.fund_account`` then finds it committed on its first poll.

Also served: ``POST /fund`` with ``{"address", "amount"}`` (the newer faucet API), answering
``{"txn_hashes": [...]}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import parse_qs

import nacl.signing

from chain.localnet.codec import dumps, loads
from chain.localnet.errors import ApiError
from chain.localnet.node import Node
from chain.localnet.request import first, read_body
from chain.localnet.txn import MIN_GAS_UNIT_PRICE, raw_transaction_bcs, sign_raw_transaction
from chain.localnet.vm import core

log = logging.getLogger("chain.localnet")

FAUCET_MAX_GAS = 2_000
FAUCET_TTL_S = 120
COMMIT_TIMEOUT_S = 60.0
#: Stay below the node's pipelining window (100 ahead of the committed sequence number).
MAX_IN_FLIGHT = 64


class Faucet:
    """Pays APT from the faucet account: one signed transfer per request, sequence numbers kept locally."""

    def __init__(self, node: Node, key: nacl.signing.SigningKey, address: str) -> None:
        self.node = node
        self.key = key
        self.address = core.norm_addr(address)
        self._next_seq: int | None = None
        self._lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    def _sign_transfer(self, seq: int, recipient: str, amount: int) -> bytes:
        """A signed ``aptos_account::transfer`` from the faucet account."""
        raw = raw_transaction_bcs(
            self.address,
            seq,
            core.FRAMEWORK,
            "aptos_account",
            "transfer",
            [],
            [core.addr_bytes(recipient), amount.to_bytes(8, "little")],
            FAUCET_MAX_GAS,
            MIN_GAS_UNIT_PRICE,
            int(time.time()) + FAUCET_TTL_S,
            self.node.chain_id,
        )
        return sign_raw_transaction(self.key, raw)

    async def fund(self, recipient: str, amount: int) -> str:
        """Transfer ``amount`` octas to ``recipient``; returns the hash once the transaction is committed."""
        recipient = core.norm_addr(recipient)
        async with self._slots:
            async with self._lock:
                txn = None
                for _ in range(2):
                    committed = self.node.committed_seq(self.address) or 0
                    if self._next_seq is None or self._next_seq < committed:
                        self._next_seq = committed
                    try:
                        txn = self.node.submit(self._sign_transfer(self._next_seq, recipient, amount))
                        break
                    except ApiError as err:
                        if err.vm_error_code not in (3, 4):  # sequence number too old / too new: resync once
                            raise
                        self._next_seq = None
                if txn is None:
                    raise ApiError(503, "faucet is busy, try again", "internal_error")
                self._next_seq += 1
            body = await self.node.wait_committed(txn.hash, COMMIT_TIMEOUT_S)
        if body is None:
            self._next_seq = None  # the transaction was dropped: re-read the sequence number next time
            raise ApiError(500, f"faucet transaction {txn.hash} was not committed", "internal_error")
        result = loads(body)
        if not result.get("success"):
            raise ApiError(500, f"faucet transaction failed: {result.get('vm_status')}", "internal_error")
        return txn.hash


class FaucetApp:
    """ASGI application of the faucet."""

    def __init__(self, faucet: Faucet) -> None:
        self.faucet = faucet

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        status, ctype, body = await self._handle(scope, receive)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: dict[str, Any], receive: Any) -> tuple[int, bytes, bytes]:
        """Route one faucet request; (status, content type, body)."""
        path, method = scope["path"].rstrip("/") or "/", scope["method"]
        query = parse_qs(scope["query_string"].decode("latin-1"))
        try:
            if method == "GET" and path in ("/", "/health"):
                return 200, b"text/plain", b"tap:ok"
            if method == "POST" and path == "/mint":
                address, amount = first(query, "address"), first(query, "amount")
                if address is None:
                    address = first(query, "auth_key")
                txn_hash = await self.faucet.fund(_address(address), _amount(amount))
                return 200, b"application/json", dumps([txn_hash])
            if method == "POST" and path == "/fund":
                body = await read_body(receive)
                try:
                    data = loads(body) if body else {}
                except ValueError:
                    return 400, b"text/plain", b"request body is not JSON"
                address = data.get("address") or data.get("auth_key")
                txn_hash = await self.faucet.fund(_address(address), _amount(data.get("amount")))
                return 200, b"application/json", dumps({"txn_hashes": [txn_hash]})
            return 404, b"text/plain", b"not found"
        except _BadRequest as exc:
            return 400, b"text/plain", str(exc).encode()
        except ApiError as err:
            return err.status, b"application/json", dumps(err.body())


class _BadRequest(Exception):
    """A malformed faucet request (answered 400)."""

    pass


def _address(value: Any) -> str:
    """The recipient address of a request."""
    if value is None:
        raise _BadRequest("missing `address`")
    try:
        return core.norm_addr(str(value))
    except ValueError:
        raise _BadRequest(f"invalid address {value!r}") from None


def _amount(value: Any) -> int:
    """The amount of a request, in octas."""
    if value is None:
        raise _BadRequest("missing `amount`")
    try:
        amount = int(value)
    except (TypeError, ValueError):
        raise _BadRequest(f"invalid amount {value!r}") from None
    if not 0 <= amount <= core.U64_MAX:
        raise _BadRequest(f"amount out of range: {amount}")
    return amount
