"""``PictorChain``: the one async client everything above ``chain/`` uses to talk to Aptos.

It speaks the Aptos Node REST API v1 through ``aptos_sdk.async_client.RestClient`` (and its
``FaucetClient`` when a faucet is configured), so the same code runs against the embedded localnet and
Aptos devnet/testnet/mainnet: only the node URL, package address and keys change.

What it adds over the SDK:

* BCS submission with per-sender sequence numbers kept locally, so concurrent submits from one account
  each get their own number; it resyncs from the node on ``SEQUENCE_NUMBER_TOO_OLD``/``TOO_NEW``;
* expiration computed from the *ledger's* clock (the localnet's clock can be moved in tests);
* waiting with a deadline and polls that start at ~20 ms (the SDK sleeps a whole second);
* failures mapped to :mod:`chain.errors` (a named class per pictor abort) and events decoded to
  :mod:`chain.events` dataclasses.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from aptos_sdk.account import Account
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.async_client import ClientConfig, FaucetClient, RestClient
from aptos_sdk.transactions import RawTransaction, SignedTransaction, TransactionPayload

from chain.arguments import check_positive
from chain.errors import (
    ChainError,
    InvalidArgument,
    MoveAbortError,
    NodeRejected,
    NodeUnavailable,
    Timeout,
    TransactionDiscarded,
    TransactionFailed,
)
from chain.events import PictorEvent, decode_event
from chain.keys import normalize_address
from chain.payloads import PictorPayloads, apt_transfer, pictor_transfer
from chain.views import PictorViews

E = TypeVar("E", bound=PictorEvent)

BCS_SIGNED_TXN = "application/x.aptos.signed_transaction+bcs"
APT_COIN = "0x1::aptos_coin::AptosCoin"
APT_FA_METADATA = "0x" + "0" * 63 + "a"  # APT as a fungible asset (AIP-63)
_RETRYABLE_SUBMIT = ("SEQUENCE_NUMBER_TOO_OLD", "SEQUENCE_NUMBER_TOO_NEW", "TRANSACTION_EXPIRED")


@dataclass(frozen=True)
class LedgerInfo:
    """``GET /v1``: where the chain is."""

    chain_id: int
    epoch: int
    ledger_version: int
    oldest_ledger_version: int
    ledger_timestamp_us: int
    block_height: int
    node_role: str


@dataclass(frozen=True)
class PendingTransaction:
    """A transaction the node accepted into its mempool."""

    hash: str
    sender: str
    sequence_number: int
    expiration_secs: int


@dataclass(frozen=True)
class TxResult:
    """A committed (or simulated) user transaction: outcome, gas and decoded pictor events."""

    hash: str
    version: int
    success: bool
    vm_status: str
    gas_used: int
    sender: str | None
    sequence_number: int | None
    timestamp_us: int
    events: tuple[PictorEvent, ...]
    raw: dict[str, Any] = field(repr=False)
    package_address: str = field(repr=False, default="")

    def events_of(self, kind: type[E]) -> list[E]:
        """The events of one type, in emission order."""
        return [e for e in self.events if isinstance(e, kind)]

    def event(self, kind: type[E]) -> E:
        """The single event of a type (ChainError if there is not exactly one)."""
        found = self.events_of(kind)
        if len(found) != 1:
            raise ChainError(f"expected one {kind.__name__} event in {self.hash}, found {len(found)}")
        return found[0]

    def error(self) -> TransactionFailed | None:
        """The mapped error of a failed transaction (None when it succeeded)."""
        if self.success:
            return None
        return TransactionFailed.from_vm_status(
            self.vm_status,
            txn_hash=self.hash,
            version=self.version,
            gas_used=self.gas_used,
            package_address=self.package_address or None,
        )

    def raise_for_status(self) -> TxResult:
        """Raise the mapped error if the transaction failed; return self otherwise."""
        error = self.error()
        if error is not None:
            raise error
        return self


@dataclass(frozen=True)
class EventRecord:
    """A pictor event with its place on the ledger: (version, index among the transaction's events)."""

    version: int
    index: int
    event: PictorEvent


@dataclass(frozen=True)
class ChainTransaction:
    """One committed transaction of any type, as the indexer reads it."""

    version: int
    hash: str
    type: str
    success: bool
    vm_status: str
    timestamp_us: int
    sender: str | None
    events: tuple[EventRecord, ...]
    raw: dict[str, Any] = field(repr=False)


@dataclass
class _SenderState:
    """Local sequence-number counter of one sending account; the lock serializes its submits."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_seq: int | None = None


def transaction_hash(signed: SignedTransaction) -> str:
    """The hash Aptos gives a user transaction: sha3(sha3(b"APTOS::Transaction") ‖ 0x00 ‖ bcs(signed))."""
    prefix = hashlib.sha3_256(b"APTOS::Transaction").digest()
    return "0x" + hashlib.sha3_256(prefix + b"\x00" + signed.bytes()).hexdigest()


def _int(value: Any, default: int = 0) -> int:
    """An optional JSON integer (often a string) as int."""
    return int(value) if value is not None else default


class PictorChain:
    """Async client of one Aptos node (and faucet) for one deployment of the ``pictor`` package."""

    def __init__(
        self,
        node_url: str,
        package_address: str,
        *,
        chain_id: int | None = None,
        faucet_url: str | None = None,
        wait_timeout: float = 60.0,
        gas_unit_price: int | None = None,
        max_gas_amount: int = 200_000,
        expiration_secs: int = 600,
        http2: bool = True,
    ) -> None:
        self.node_url = node_url.rstrip("/")
        self.package_address = normalize_address(package_address)
        self.expected_chain_id = chain_id
        self.faucet_url = faucet_url.rstrip("/") if faucet_url else None
        self.wait_timeout = wait_timeout
        self.max_gas_amount = max_gas_amount
        self.expiration_secs = expiration_secs
        self._gas_unit_price = gas_unit_price
        self.rest = RestClient(self.node_url, ClientConfig(http2=http2, max_gas_amount=max_gas_amount))
        self.faucet = FaucetClient(self.faucet_url, self.rest) if self.faucet_url else None
        self.payloads = PictorPayloads(self.package_address)
        self.views = PictorViews(self.package_address, self.view)
        self._chain_id: int | None = None
        self._clock_offset: float | None = None  # ledger time − local time, seconds
        # The httpx client and the per-sender locks bind to the event loop that first uses them:
        # use one PictorChain per event loop (per process, in practice).
        self._senders: dict[str, _SenderState] = {}

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> PictorChain:
        """Build from a :class:`pictor.settings.Settings` (its node and faucet URLs, package address, chain id)."""
        kwargs: dict[str, Any] = {
            "node_url": settings.node_url,
            "package_address": settings.package_address,
            "chain_id": settings.chain_id,
            "faucet_url": settings.faucet_url or None,
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self.rest.close()

    async def __aenter__(self) -> PictorChain:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ HTTP

    async def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        allow_404: bool = False,
        retries: int = 2,
    ) -> httpx.Response:
        """One HTTP call; 4xx → NodeRejected (or the abort it reports), 5xx/transport → NodeUnavailable.

        Only reads (and view calls, which change nothing) are retried: a submit is retried by its caller,
        which knows the transaction hash and can tell a duplicate from a new transaction.
        """
        params = {k: v for k, v in (params or {}).items() if v is not None}
        delay = 0.05
        for attempt in range(retries + 1):
            try:
                response = await self.rest.client.request(
                    method, url, params=params, json=json, content=content, headers=headers
                )
            except httpx.TransportError as exc:
                if attempt < retries:
                    await asyncio.sleep(delay)
                    delay *= 4
                    continue
                raise NodeUnavailable(f"{method} {url}: {exc!r}") from exc
            if response.status_code >= 500:
                if attempt < retries and response.status_code in (502, 503, 504):
                    await asyncio.sleep(delay)
                    delay *= 4
                    continue
                raise NodeUnavailable(
                    f"{method} {url}: HTTP {response.status_code} {response.text[:500]}", response.status_code
                )
            if response.status_code == 404 and allow_404:
                return response
            if response.status_code >= 400:
                try:
                    body = response.json()
                except ValueError:
                    body = None
                error = NodeRejected.from_response(response.status_code, body, response.text)
                # A view (or a node that executes on submit) reports an abort in the message: map it.
                abort = MoveAbortError.from_vm_status(error.message, package_address=self.package_address)
                if abort is not None:
                    raise abort from error
                raise error
            return response
        raise AssertionError("unreachable")

    def _url(self, path: str) -> str:
        """The URL of a node API path (``""`` is the ledger info at the base URL)."""
        path = path.lstrip("/")
        return f"{self.node_url}/{path}" if path else self.node_url

    async def _get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET a node API path and return its JSON."""
        return (await self._request("GET", self._url(path), params=params)).json()

    # ------------------------------------------------------------------ ledger & accounts

    async def ledger_info(self) -> LedgerInfo:
        """Chain id, versions, timestamps (``GET /v1``); also refreshes the ledger clock offset."""
        before = time.time()
        data = await self._get_json("")
        info = LedgerInfo(
            chain_id=int(data["chain_id"]),
            epoch=_int(data.get("epoch")),
            ledger_version=_int(data.get("ledger_version")),
            oldest_ledger_version=_int(data.get("oldest_ledger_version")),
            ledger_timestamp_us=_int(data.get("ledger_timestamp")),
            block_height=_int(data.get("block_height")),
            node_role=str(data.get("node_role", "")),
        )
        self._clock_offset = info.ledger_timestamp_us / 1e6 - (before + time.time()) / 2
        return info

    async def chain_id(self) -> int:
        """The node's chain id (checked against the configured one, cached)."""
        if self._chain_id is None:
            info = await self.ledger_info()
            if self.expected_chain_id is not None and info.chain_id != self.expected_chain_id:
                raise ChainError(
                    f"node {self.node_url} has chain id {info.chain_id}, expected {self.expected_chain_id}"
                )
            self._chain_id = info.chain_id
        return self._chain_id

    async def healthy(self) -> bool:
        """Whether ``/-/healthy`` answers 200."""
        try:
            await self._request("GET", self._url("-/healthy"), retries=0)
        except ChainError:
            return False
        return True

    async def account(self, address: str | AccountAddress) -> dict[str, Any] | None:
        """``GET /accounts/{address}`` (sequence number, auth key), None if the account does not exist."""
        response = await self._request("GET", self._url(f"accounts/{normalize_address(address)}"), allow_404=True)
        return None if response.status_code == 404 else response.json()

    async def account_sequence_number(self, address: str | AccountAddress) -> int:
        """The next sequence number the chain expects from ``address`` (0 for a new account)."""
        data = await self.account(address)
        return int(data["sequence_number"]) if data else 0

    async def account_resource(self, address: str | AccountAddress, resource_type: str) -> dict[str, Any] | None:
        """One resource's ``data`` at ``address``, None if absent."""
        response = await self._request(
            "GET", self._url(f"accounts/{normalize_address(address)}/resource/{resource_type}"), allow_404=True
        )
        return None if response.status_code == 404 else response.json().get("data")

    async def gas_unit_price(self) -> int:
        """Gas unit price used for submits: configured, else the node's estimate (cached)."""
        if self._gas_unit_price is None:
            try:
                data = await self._get_json("estimate_gas_price")
                self._gas_unit_price = max(int(data.get("gas_estimate", 100)), 1)
            except ChainError:
                self._gas_unit_price = 100
        return self._gas_unit_price

    # ------------------------------------------------------------------ views & balances

    async def view(
        self, function: str, type_arguments: Sequence[str], arguments: Sequence[Any], ledger_version: int | None = None
    ) -> list[Any]:
        """``POST /view`` with JSON arguments; the raw JSON results (an abort raises its mapped class)."""
        response = await self._request(
            "POST",
            self._url("view"),
            params={"ledger_version": ledger_version},
            json={"function": function, "type_arguments": list(type_arguments), "arguments": list(arguments)},
        )
        return list(response.json())

    async def pictor_balance(self, owner: str | AccountAddress) -> int:
        """PICTOR in ``owner``'s primary store (wallet)."""
        return await self.views.token_balance(owner)

    async def apt_balance(self, owner: str | AccountAddress) -> int:
        """APT (octas) of ``owner``, coin and fungible-asset parts together, as ``0x1::coin::balance`` reports."""
        address = normalize_address(owner)
        try:
            return int((await self.view("0x1::coin::balance", [APT_COIN], [address]))[0])
        except (NodeRejected, MoveAbortError):
            pass  # a node without the coin view, or an older framework that aborts: read the stores instead
        total = 0
        store = await self.account_resource(address, f"0x1::coin::CoinStore<{APT_COIN}>")
        if store:
            total += int(store["coin"]["value"])
        with contextlib.suppress(NodeRejected, MoveAbortError):  # a node without fungible-asset APT
            fa = await self.view(
                "0x1::primary_fungible_store::balance", ["0x1::fungible_asset::Metadata"], [address, APT_FA_METADATA]
            )
            total += int(fa[0])
        return total

    async def fungible_store_balance(self, store: str | AccountAddress) -> int:
        """PICTOR (or any FA) held by a fungible store object (escrow, vault, staking, rewards stores)."""
        address = normalize_address(store)
        data = await self.account_resource(address, "0x1::fungible_asset::FungibleStore")
        if data is not None and "balance" in data:
            return int(data["balance"])
        result = await self.view("0x1::fungible_asset::balance", ["0x1::fungible_asset::FungibleStore"], [address])
        return int(result[0])

    # ------------------------------------------------------------------ building & signing

    def _sender_state(self, address: str) -> _SenderState:
        """The sequence-number state of one sending address (created on first use)."""
        state = self._senders.get(address)
        if state is None:
            state = self._senders[address] = _SenderState()
        return state

    async def _expiration(self) -> int:
        """Expiration timestamp (seconds) for a transaction built now."""
        if self._clock_offset is None:
            await self.ledger_info()
        # Expiration is judged by the chain's clock (which a localnet test may have moved ahead) or, on the
        # localnet, by the wall clock: counting from the later of the two satisfies both.
        now = time.time()
        return int(max(now, now + (self._clock_offset or 0.0))) + self.expiration_secs

    async def _raw_transaction(
        self,
        sender: AccountAddress,
        sequence_number: int,
        payload: TransactionPayload,
        max_gas_amount: int | None,
        gas_unit_price: int | None,
    ) -> RawTransaction:
        """A RawTransaction with this client's gas settings, expiration and chain id."""
        return RawTransaction(
            sender,
            sequence_number,
            payload,
            max_gas_amount or self.max_gas_amount,
            gas_unit_price or await self.gas_unit_price(),
            await self._expiration(),
            await self.chain_id(),
        )

    async def _post_signed(self, signed: SignedTransaction) -> str:
        """POST a signed transaction as BCS; the hash the node reports."""
        response = await self._request(
            "POST",
            self._url("transactions"),
            content=signed.bytes(),
            headers={"Content-Type": BCS_SIGNED_TXN},
            retries=0,
        )
        return str(response.json().get("hash") or transaction_hash(signed))

    async def _known(self, txn_hash: str) -> bool:
        """Whether the node knows a transaction hash (pending or committed)."""
        response = await self._request("GET", self._url(f"transactions/by_hash/{txn_hash}"), allow_404=True)
        return response.status_code != 404

    def forget_sequence_number(self, address: str | AccountAddress) -> None:
        """Drop the local counter of ``address``: the next submit reads it from the node again."""
        state = self._senders.get(normalize_address(address))
        if state is not None:
            state.next_seq = None

    # ------------------------------------------------------------------ submit & wait

    async def submit(
        self,
        sender: Account,
        payload: TransactionPayload,
        *,
        max_gas_amount: int | None = None,
        gas_unit_price: int | None = None,
        attempts: int = 6,
    ) -> PendingTransaction:
        """Sign and submit; returns once the node accepted it (safe for concurrent submits from one sender)."""
        address = normalize_address(sender.address())
        state = self._sender_state(address)
        last_error: ChainError | None = None
        backoff = 0.02
        async with state.lock:
            for _ in range(attempts):
                if state.next_seq is None:
                    state.next_seq = await self.account_sequence_number(address)
                seq = state.next_seq
                raw = await self._raw_transaction(sender.address(), seq, payload, max_gas_amount, gas_unit_price)
                signed = SignedTransaction(raw, sender.sign_transaction(raw))
                local_hash = transaction_hash(signed)
                try:
                    txn_hash = await self._post_signed(signed)
                except NodeUnavailable as exc:
                    # The node may or may not have taken it: resubmitting the same bytes cannot run it twice.
                    last_error = exc
                    if await self._known_quietly(local_hash):
                        txn_hash = local_hash
                    else:
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 4, 1.0)
                        continue
                except NodeRejected as exc:
                    status = exc.vm_status_name
                    if status not in _RETRYABLE_SUBMIT:
                        raise
                    last_error = exc
                    if status == "SEQUENCE_NUMBER_TOO_OLD" and await self._known_quietly(local_hash):
                        txn_hash = local_hash  # our own earlier attempt got in
                    else:
                        if status == "TRANSACTION_EXPIRED":
                            await self.ledger_info()  # the ledger clock moved: recompute the offset
                        else:
                            state.next_seq = None  # someone else used the account, or a txn was dropped
                        if status == "SEQUENCE_NUMBER_TOO_NEW":
                            await asyncio.sleep(backoff)  # earlier transactions may still be landing
                            backoff = min(backoff * 4, 1.0)
                        continue
                state.next_seq = seq + 1
                return PendingTransaction(txn_hash, address, seq, raw.expiration_timestamps_secs)
        assert last_error is not None
        raise last_error

    async def _known_quietly(self, txn_hash: str) -> bool:
        """Like ``_known``, but False when the node cannot be asked."""
        try:
            return await self._known(txn_hash)
        except ChainError:
            return False

    async def wait(
        self, txn_hash: str, timeout: float | None = None, *, pending: PendingTransaction | None = None
    ) -> dict[str, Any]:
        """Poll until ``txn_hash`` is committed; its JSON. Polls start at 20 ms and back off to 250 ms.

        With ``pending`` given, the sender's sequence number is also checked about once a second: once the
        chain is past it and the hash is still unknown, the transaction was dropped (another one took its
        number) and :class:`TransactionDiscarded` is raised instead of waiting out the timeout.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.wait_timeout if timeout is None else timeout)
        next_seq_check = loop.time() + 1.0
        delay = 0.02
        while True:
            data = await self.transaction_by_hash(txn_hash)
            if data is not None and data.get("type") != "pending_transaction":
                return data
            now = loop.time()
            if pending is not None and data is None and now >= next_seq_check:
                next_seq_check = now + 1.0
                if await self.account_sequence_number(pending.sender) > pending.sequence_number:
                    # Committed in between? By-hash answers are permanent, so one more look settles it.
                    data = await self.transaction_by_hash(txn_hash)
                    if data is not None and data.get("type") != "pending_transaction":
                        return data
                    raise TransactionDiscarded(
                        f"transaction {txn_hash} was dropped: sequence number {pending.sequence_number} of"
                        f" {pending.sender} is used by another transaction",
                        txn_hash,
                    )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise Timeout(f"transaction {txn_hash} not committed within the wait timeout", txn_hash)
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 1.5, 0.25)

    def _result(self, data: dict[str, Any]) -> TxResult:
        """A TxResult from a transaction's JSON, with its pictor events decoded."""
        events = tuple(
            e for raw in (data.get("events") or []) if (e := decode_event(raw, self.package_address)) is not None
        ) if data.get("success", True) else ()  # fmt: skip
        sender = data.get("sender")
        seq = data.get("sequence_number")
        return TxResult(
            hash=str(data.get("hash", "")),
            version=_int(data.get("version")),
            success=bool(data.get("success", False)),
            vm_status=str(data.get("vm_status", "")),
            gas_used=_int(data.get("gas_used")),
            sender=normalize_address(sender) if sender else None,
            sequence_number=int(seq) if seq is not None else None,
            timestamp_us=_int(data.get("timestamp")),
            events=events,
            raw=data,
            package_address=self.package_address,
        )

    async def wait_for_result(self, pending: PendingTransaction | str, timeout: float | None = None) -> TxResult:
        """Wait for a submitted transaction and return its result (failed ones too: see ``raise_for_status``)."""
        txn_hash = pending if isinstance(pending, str) else pending.hash
        try:
            data = await self.wait(
                txn_hash, timeout, pending=pending if isinstance(pending, PendingTransaction) else None
            )
        except (Timeout, TransactionDiscarded):
            if isinstance(pending, PendingTransaction):
                # It may have been dropped, leaving a gap that would park every later transaction.
                self.forget_sequence_number(pending.sender)
            raise
        return self._result(data)

    async def submit_and_wait(
        self,
        sender: Account,
        payload: TransactionPayload,
        *,
        timeout: float | None = None,
        check: bool = True,
        max_gas_amount: int | None = None,
        gas_unit_price: int | None = None,
    ) -> TxResult:
        """Submit, wait for commit, and raise the mapped error if it failed (unless ``check=False``)."""
        pending = await self.submit(sender, payload, max_gas_amount=max_gas_amount, gas_unit_price=gas_unit_price)
        result = await self.wait_for_result(pending, timeout)
        return result.raise_for_status() if check else result

    async def simulate(
        self,
        sender: Account,
        payload: TransactionPayload,
        *,
        max_gas_amount: int | None = None,
        gas_unit_price: int | None = None,
    ) -> TxResult:
        """Run the transaction without committing it (``/transactions/simulate``); never raises for a failure."""
        address = normalize_address(sender.address())
        state = self._sender_state(address)
        seq = state.next_seq if state.next_seq is not None else await self.account_sequence_number(address)
        raw = await self._raw_transaction(sender.address(), seq, payload, max_gas_amount, gas_unit_price)
        # A simulation must carry an invalid (all-zero) signature: nodes refuse a valid one.
        signed = SignedTransaction(raw, sender.sign_simulated_transaction(raw))
        response = await self._request(
            "POST",
            self._url("transactions/simulate"),
            content=signed.bytes(),
            headers={"Content-Type": BCS_SIGNED_TXN},
            retries=0,
        )
        data = response.json()
        return self._result(data[0] if isinstance(data, list) else data)

    # ------------------------------------------------------------------ reading transactions

    async def transaction_by_hash(self, txn_hash: str) -> dict[str, Any] | None:
        """A transaction's JSON by hash (pending or committed), None if unknown."""
        response = await self._request("GET", self._url(f"transactions/by_hash/{txn_hash}"), allow_404=True)
        return None if response.status_code == 404 else response.json()

    async def transaction_by_version(self, version: int) -> dict[str, Any]:
        """A committed transaction's JSON by version."""
        return await self._get_json(f"transactions/by_version/{int(version)}")

    async def result_by_hash(self, txn_hash: str) -> TxResult | None:
        """A committed transaction's :class:`TxResult`, None if unknown or still pending."""
        data = await self.transaction_by_hash(txn_hash)
        if data is None or data.get("type") == "pending_transaction":
            return None
        return self._result(data)

    def to_chain_transaction(self, data: dict[str, Any]) -> ChainTransaction:
        """Wrap one transaction JSON with its decoded pictor events (none for a failed transaction)."""
        version = _int(data.get("version"))
        records: list[EventRecord] = []
        if data.get("success", True):
            for index, raw in enumerate(data.get("events") or []):
                event = decode_event(raw, self.package_address)
                if event is not None:
                    records.append(EventRecord(version, index, event))
        sender = data.get("sender")
        return ChainTransaction(
            version=version,
            hash=str(data.get("hash", "")),
            type=str(data.get("type", "")),
            success=bool(data.get("success", False)),
            vm_status=str(data.get("vm_status", "")),
            timestamp_us=_int(data.get("timestamp")),
            sender=normalize_address(sender) if sender else None,
            events=tuple(records),
            raw=data,
        )

    async def transactions(self, start: int, limit: int = 100) -> list[ChainTransaction]:
        """Committed transactions from version ``start`` on (at most ``limit``; the node may cap it), in order."""
        if start < 0 or limit <= 0:
            raise InvalidArgument("start must be >= 0 and limit > 0")
        data = await self._get_json("transactions", params={"start": int(start), "limit": int(limit)})
        return [self.to_chain_transaction(item) for item in data]

    async def transaction_page(self, start: int, limit: int = 100) -> list[dict[str, Any]]:
        """Like :meth:`transactions`, but the node's JSON dicts as they come (the indexer decodes them itself)."""
        if start < 0 or limit <= 0:
            raise InvalidArgument("start must be >= 0 and limit > 0")
        data = await self._get_json("transactions", params={"start": int(start), "limit": int(limit)})
        if not isinstance(data, list):
            raise ChainError(f"GET transactions answered {type(data).__name__}, not a list")
        return data

    # ------------------------------------------------------------------ faucet & transfers

    async def fund(self, address: str | AccountAddress, amount: int, timeout: float | None = None) -> list[TxResult]:
        """Mint ``amount`` octas of APT to ``address`` through the faucet and wait for its transactions."""
        if self.faucet is None:
            raise ChainError("no faucet URL is configured")
        check_positive("amount", amount)
        try:
            response = await self.rest.client.post(
                f"{self.faucet.base_url}/mint",
                params={"amount": int(amount), "address": normalize_address(address)},
                headers=self.faucet.headers,
            )
        except httpx.TransportError as exc:
            raise NodeUnavailable(f"faucet {self.faucet.base_url}: {exc!r}") from exc
        if response.status_code >= 400:
            if response.status_code >= 500:
                raise NodeUnavailable(
                    f"faucet: HTTP {response.status_code} {response.text[:500]}", response.status_code
                )
            try:
                body = response.json()
            except ValueError:
                body = None
            raise NodeRejected.from_response(response.status_code, body, response.text)
        body = response.json()
        hashes = body if isinstance(body, list) else body.get("txn_hashes", [])
        results = [await self.wait_for_result(str(h), timeout) for h in hashes]
        for result in results:
            result.raise_for_status()
        return results

    async def transfer_apt(self, sender: Account, to: str | AccountAddress, amount: int) -> TxResult:
        """Send APT with ``0x1::aptos_account::transfer``."""
        return await self.submit_and_wait(sender, apt_transfer(to, amount))

    async def transfer_pictor(self, sender: Account, to: str | AccountAddress, amount: int) -> TxResult:
        """Send PICTOR from wallet to wallet with ``0x1::primary_fungible_store::transfer``."""
        metadata = await self.views.token_metadata()
        return await self.submit_and_wait(sender, pictor_transfer(metadata, to, amount))
