"""The Aptos Node REST API v1 of the localnet: a hand-routed ASGI application over one :class:`Node`.

No framework: the request path is split once and dispatched on its segments, responses are
pre-serialized bytes (:mod:`chain.localnet.server` serves it with uvicorn). Routes, under ``/v1``:

``GET /``, ``GET /-/healthy``, ``GET /accounts/{a}``, ``…/resources``, ``…/resource/{type}``,
``…/modules``, ``…/module/{name}``, ``…/transactions``, ``…/events/{creation_number}``,
``…/events/{event_handle}/{field_name}``, ``GET|POST /transactions``, ``GET /transactions/by_hash/{h}``,
``GET /transactions/wait_by_hash/{h}``, ``GET /transactions/by_version/{v}``, ``POST /transactions/batch``,
``POST /transactions/simulate``, ``POST /transactions/encode_submission``, ``GET /estimate_gas_price``,
``POST /view``, ``GET /blocks/by_height/{h}``, ``GET /blocks/by_version/{v}``, ``POST /tables/{handle}/item``.

Only with ``--test-clock``: ``POST /v1/-/test/clock/advance?seconds=N`` (or ``microseconds=N``) moves
chain time forward and commits an empty block at the new time (answers ``{"timestamp_us", "offset_us"}``);
``GET /v1/-/test/clock`` reads it. Without the flag these routes answer 404.

Every response carries the ``X-APTOS-*`` ledger headers; errors are ``AptosError`` objects.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qs

from chain.localnet.codec import (
    BcsReader,
    TypeTagError,
    canonical_tag,
    canonical_type,
    decode_json_strict,
    dumps,
    encode_bcs_value,
    hex0x,
    loads,
    uleb128,
)
from chain.localnet.errors import ApiError, framework_error, invalid_input
from chain.localnet.node import Node
from chain.localnet.render import encode_value, render_resource
from chain.localnet.request import (
    BCS_OUT,
    BCS_TXN,
    BCS_VIEW,
    MAX_PAGE_SIZE,
    Receive,
    Scope,
    Send,
    accepts_bcs,
    content_type,
    first,
    is_hash,
    page_limit,
    parse_address,
    parse_bool,
    parse_u64,
    read_body,
)
from chain.localnet.response import JSON_CT, Response, json_list, json_response, raw_json
from chain.localnet.txn import (
    MIN_GAS_UNIT_PRICE,
    RAW_TXN_PREFIX,
    decode_signed_transaction,
    decode_signed_transaction_at,
    signed_transaction_from_json,
)
from chain.localnet.vm import core

log = logging.getLogger("chain.localnet")

WAIT_BY_HASH_TIMEOUT_S = 1.0
#: How long ``by_hash`` waits for a transaction that is already executing or next in line.
BY_HASH_GRACE_S = 0.25


class NodeApp:
    """The ASGI application serving the REST API of one :class:`Node`."""

    def __init__(self, node: Node, *, test_clock: bool = False) -> None:
        self.node = node
        self.test_clock = test_clock

    # ------------------------------------------------------------------ ASGI plumbing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            response = await self.dispatch(scope, receive)
        except ApiError as err:
            response = Response(err.status, dumps(err.body()))
        except Exception as exc:  # never let a bug take the connection down without an AptosError
            log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
            response = Response(500, dumps({"message": f"internal error: {exc}", "error_code": "internal_error"}))
        headers = response.headers + self.node.header_list
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def dispatch(self, scope: Scope, receive: Receive) -> Response:
        """Route one request by method and path segments."""
        path: str = scope["path"]
        method: str = scope["method"]
        if not (path == "/v1" or path.startswith("/v1/")):
            raise framework_error("not found", 404)
        parts = [p for p in path[3:].split("/") if p]
        query = parse_qs(scope["query_string"].decode("latin-1")) if scope["query_string"] else {}
        n = len(parts)
        head = parts[0] if parts else ""

        if method == "GET":
            if n == 0:
                return json_response(self.node.ledger.index())
            if head == "transactions":
                if n == 1:
                    return self.get_transactions(query)
                if n == 3 and parts[1] == "by_hash":
                    return await self.get_by_hash_with_grace(parts[2])
                if n == 3 and parts[1] == "wait_by_hash":
                    return await self.wait_by_hash(parts[2])
                if n == 3 and parts[1] == "by_version":
                    return self.get_by_version(parts[2])
            elif head == "accounts" and n >= 2:
                address = parse_address(parts[1])
                if n == 2:
                    return self.get_account(address, query)
                sub = parts[2]
                if sub == "resources" and n == 3:
                    return self.get_resources(address, query)
                if sub == "resource" and n == 4:
                    return self.get_resource(address, parts[3], query)
                if sub == "modules" and n == 3:
                    return self.get_modules(address, query)
                if sub == "module" and n == 4:
                    return self.get_module(address, parts[3], query)
                if sub == "transactions" and n == 3:
                    return self.get_account_transactions(address, query)
                if sub == "events" and n == 4:
                    return self.get_events(address, parts[3], query)
                if sub == "events" and n == 5:
                    return self.get_events_by_handle(address, parts[3], parts[4], query)
            elif head == "-" and n == 2 and parts[1] == "healthy":
                return self.healthy(query)
            elif head == "-" and n == 3 and parts[1] == "test" and parts[2] == "clock" and self.test_clock:
                return self.clock_info()
            elif head == "estimate_gas_price" and n == 1:
                return json_response(
                    {
                        "deprioritized_gas_estimate": MIN_GAS_UNIT_PRICE,
                        "gas_estimate": MIN_GAS_UNIT_PRICE,
                        "prioritized_gas_estimate": MIN_GAS_UNIT_PRICE * 3 // 2,
                    }
                )
            elif head == "blocks" and n == 3 and parts[1] in ("by_height", "by_version"):
                return self.get_block(parts[1], parts[2], query)
        elif method == "POST":
            if head == "transactions":
                if n == 1:
                    return self.submit(scope, await read_body(receive))
                if n == 2 and parts[1] == "batch":
                    return self.submit_batch(scope, await read_body(receive))
                if n == 2 and parts[1] == "simulate":
                    return self.simulate(scope, await read_body(receive), query)
                if n == 2 and parts[1] == "encode_submission":
                    return self.encode_submission(await read_body(receive))
            elif head == "view" and n == 1:
                return self.view(scope, await read_body(receive), query)
            elif head == "tables" and n == 3 and parts[2] == "item":
                return self.table_item(parts[1], await read_body(receive), query)
            elif head == "-" and n == 4 and parts[1:] == ["test", "clock", "advance"] and self.test_clock:
                return await self.advance_clock(query)
        else:
            raise framework_error("method not allowed", 405)
        raise framework_error("not found", 404)

    # ------------------------------------------------------------------ helpers

    def check_version(self, query: dict[str, list[str]]) -> int:
        """The ``ledger_version`` parameter (default: latest); nothing is pruned, every version is readable."""
        ledger = self.node.ledger
        requested = parse_u64(first(query, "ledger_version"), "ledger_version")
        if requested is None:
            return ledger.version
        if requested > ledger.version:
            raise ApiError(404, f"Ledger version not found by Ledger version({requested})", "version_not_found")
        return requested

    # ------------------------------------------------------------------ ledger & health

    def healthy(self, query: dict[str, list[str]]) -> Response:
        """``GET /-/healthy``: optionally fails when the ledger is older than ``duration_secs``."""
        duration = parse_u64(first(query, "duration_secs"), "duration_secs")
        if duration is not None:
            now_us = time.time_ns() // 1000 + self.node.clock_offset_us
            ledger_us = self.node.ledger.timestamp_us
            if now_us - ledger_us > duration * 1_000_000:
                raise ApiError(
                    503,
                    f"The latest ledger info timestamp is {ledger_us}, which is beyond the allowed "
                    f"latency of {duration}s",
                    "health_check_failed",
                )
        return json_response({"message": "aptos-node:ok"})

    def clock_info(self) -> Response:
        """The test clock: ledger timestamp and offset."""
        return json_response(
            {
                "timestamp_us": str(self.node.ledger.timestamp_us),
                "offset_us": str(self.node.clock_offset_us),
            }
        )

    async def advance_clock(self, query: dict[str, list[str]]) -> Response:
        """``POST /-/test/clock/advance``: move chain time forward (test clock only)."""
        seconds, micros = first(query, "seconds"), first(query, "microseconds")
        try:
            delta = int(float(seconds) * 1_000_000) if seconds is not None else int(micros or "0")
        except ValueError:
            raise framework_error("failed to parse query `seconds`: not a number") from None
        await self.node.advance_clock(delta)
        return self.clock_info()

    # ------------------------------------------------------------------ accounts

    def get_account(self, address: str, query: dict[str, list[str]]) -> Response:
        """``GET /accounts/{address}``: sequence number and authentication key."""
        version = self.check_version(query)
        account = self.node.account_resource(address, "0x1::account::Account", version)
        if account is None:
            raise ApiError(
                404,
                f"Account not found by Address({core.standard_addr(address)}) and Ledger version({version})",
                "account_not_found",
            )
        return json_response(
            {
                "sequence_number": str(account["sequence_number"]),
                "authentication_key": hex0x(bytes(account["authentication_key"])),
            }
        )

    def get_resources(self, address: str, query: dict[str, list[str]]) -> Response:
        """``GET /accounts/{address}/resources`` (with ``start``/``limit`` paging and a cursor)."""
        version = self.check_version(query)
        items = self.node.account_resources(address, version)
        if not items:
            raise ApiError(
                404,
                f"Account not found by Address({core.standard_addr(address)}) and Ledger version({version})",
                "account_not_found",
            )
        start = first(query, "start")
        if start is not None:
            try:
                after = bytes.fromhex(start).decode()
            except ValueError:
                raise framework_error("failed to parse query `start`: invalid state key") from None
            items = [(t, v) for t, v in items if t >= after]
        headers = [JSON_CT]
        if first(query, "limit") is not None:
            limit = page_limit(query)
            if len(items) > limit:
                headers.append((b"x-aptos-cursor", items[limit][0].encode().hex().encode()))
                items = items[:limit]
        return Response(200, dumps([render_resource(t, v) for t, v in items]), headers)

    def _resource_or_404(self, address: str, type_text: str, param: str, version: int) -> tuple[str, Any]:
        """The resource named by a path parameter at ``version``: (canonical type tag, value), or Aptos's 404."""
        try:
            type_tag = canonical_type(type_text)
        except TypeTagError as exc:
            raise framework_error(f"failed to parse path `{param}`: {exc}") from None
        value = self.node.account_resource(address, type_tag, version)
        if value is None:
            raise ApiError(
                404,
                f"Resource not found by Address({core.standard_addr(address)}), Struct tag({type_tag}) and "
                f"Ledger version({version})",
                "resource_not_found",
            )
        return type_tag, value

    def get_resource(self, address: str, type_text: str, query: dict[str, list[str]]) -> Response:
        """``GET /accounts/{address}/resource/{type}``."""
        version = self.check_version(query)
        type_tag, value = self._resource_or_404(address, type_text, "resource_type", version)
        return json_response(render_resource(type_tag, value))

    def _modules(self, address: str) -> dict[str, dict[str, Any]]:
        """Module ABIs of an address, built from the registered entry and view functions."""
        modules: dict[str, dict[str, Any]] = {}
        for fn in list(core.ENTRY_FUNCTIONS.values()) + list(core.VIEW_FUNCTIONS.values()):
            if fn.address != address:
                continue
            abi = modules.setdefault(
                fn.module,
                {
                    "address": core.standard_addr(address),
                    "name": fn.module,
                    "friends": [],
                    "exposed_functions": [],
                    "structs": [],
                },
            )
            abi["exposed_functions"].append(
                {
                    "name": fn.name,
                    "visibility": "public",
                    "is_entry": not fn.is_view,
                    "is_view": fn.is_view,
                    "generic_type_params": [{"constraints": []} for _ in range(fn.type_params)],
                    # Aptos writes "&signer"; the v1.2.0 spec's MoveType pattern only admits "signer".
                    "params": (list(fn.params) if fn.is_view else ["signer"] * fn.signers + list(fn.params)),
                    "return": list(fn.returns),
                }
            )
        return {name: {"bytecode": "0x", "abi": abi} for name, abi in sorted(modules.items())}

    def get_modules(self, address: str, query: dict[str, list[str]]) -> Response:
        """``GET /accounts/{address}/modules``."""
        version = self.check_version(query)
        if not self.node.account_resources(address):
            raise ApiError(
                404,
                f"Account not found by Address({core.standard_addr(address)}) and Ledger version({version})",
                "account_not_found",
            )
        return json_response(list(self._modules(address).values()))

    def get_module(self, address: str, name: str, query: dict[str, list[str]]) -> Response:
        """``GET /accounts/{address}/module/{name}``."""
        version = self.check_version(query)
        module = self._modules(address).get(name)
        if module is None:
            raise ApiError(
                404,
                f"Module not found by Address({core.standard_addr(address)}), Module name({name}) and "
                f"Ledger version({version})",
                "module_not_found",
            )
        return json_response(module)

    # ------------------------------------------------------------------ transactions

    def get_transactions(self, query: dict[str, list[str]]) -> Response:
        """``GET /transactions?start&limit``: committed transactions by version."""
        limit = page_limit(query)
        ledger_version = self.node.ledger.version
        start = parse_u64(first(query, "start"), "start")
        if start is None:
            start = max(0, ledger_version + 1 - limit)
        if start > ledger_version:
            raise invalid_input(
                f"Given start value ({start}) is higher than the current ledger version, it must be < {ledger_version}"
            )
        return json_list(self.node.txns_range(start, limit))

    def _hash_or_400(self, value: str) -> str:
        """A transaction hash path parameter, normalized."""
        if not is_hash(value):
            raise framework_error(f"failed to parse path `txn_hash`: invalid hash {value!r}")
        return "0x" + (value[2:] if value.startswith("0x") else value).lower()

    def get_by_hash(self, value: str) -> Response:
        """``GET /transactions/by_hash/{hash}``: committed, else pending, else 404."""
        txn_hash = self._hash_or_400(value)
        body = self.node.committed_txn_by_hash(txn_hash)
        if body is not None:
            return raw_json(body)
        pending = self.node.pending_txn_by_hash(txn_hash)
        if pending is not None:
            return json_response({"type": "pending_transaction", **(pending.pending_body or {})})
        raise ApiError(404, f"Transaction not found by Transaction hash({txn_hash})", "transaction_not_found")

    async def get_by_hash_with_grace(self, value: str) -> Response:
        """``by_hash`` that gives a transaction already running in a block a moment to commit.

        SDK clients poll ``by_hash`` and sleep a whole second whenever the answer is pending; a block
        commits in milliseconds, so waiting briefly for one that is executing or next in line saves
        them that second. The answer is the same as an immediate one a few milliseconds later.
        """
        txn_hash = self._hash_or_400(value)
        if self.node.will_commit_soon(txn_hash):
            await self.node.wait_committed(txn_hash, BY_HASH_GRACE_S)
        return self.get_by_hash(txn_hash)

    async def wait_by_hash(self, value: str) -> Response:
        """``GET /transactions/wait_by_hash/{hash}``: long-poll (up to 1 s) while pending."""
        txn_hash = self._hash_or_400(value)
        if self.node.committed_txn_by_hash(txn_hash) is None and self.node.pending_txn_by_hash(txn_hash) is not None:
            await self.node.wait_committed(txn_hash, WAIT_BY_HASH_TIMEOUT_S)
        return self.get_by_hash(txn_hash)

    def get_by_version(self, value: str) -> Response:
        """``GET /transactions/by_version/{version}``."""
        version = parse_u64(value, "txn_version", "path")
        assert version is not None
        body = self.node.txn_by_version(version)
        if body is None:
            raise ApiError(404, f"Transaction not found by Ledger version({version})", "transaction_not_found")
        return raw_json(body)

    def get_account_transactions(self, address: str, query: dict[str, list[str]]) -> Response:
        """``GET /accounts/{address}/transactions?start&limit`` (by sequence number)."""
        seq = self.node.committed_seq(address)
        if seq is None:
            raise ApiError(
                404,
                f"Account not found by Address({core.standard_addr(address)}) and "
                f"Ledger version({self.node.ledger.version})",
                "account_not_found",
            )
        limit = page_limit(query)
        start = parse_u64(first(query, "start"), "start")
        if start is None:
            start = max(0, seq - limit)
        return json_list(self.node.storage.account_txns(address, start, limit))

    def _signed_bytes(self, scope: Scope, body: bytes) -> bytes:
        """BCS ``SignedTransaction`` bytes from a BCS or JSON submission body."""
        ctype = content_type(scope)
        if ctype == BCS_TXN:
            return body
        if ctype == "application/json":
            try:
                data = loads(body)
            except ValueError as exc:
                raise framework_error(f"parse request payload error: {exc}") from None
            return signed_transaction_from_json(data, self.node.chain_id)
        raise framework_error(f"unsupported content type {ctype!r}", 415)

    def submit(self, scope: Scope, body: bytes) -> Response:
        """``POST /transactions``: 202 with the pending transaction."""
        txn = self.node.submit(self._signed_bytes(scope, body))
        return json_response(txn.pending_body, 202)

    def submit_batch(self, scope: Scope, body: bytes) -> Response:
        """``POST /transactions/batch``: 202, or 206 listing the rejected ones."""
        ctype = content_type(scope)
        datas: list[bytes] = []
        if ctype == BCS_TXN:
            try:
                reader = BcsReader(body)
                count = reader.uleb()
            except ValueError as exc:
                raise invalid_input(f"Failed to deserialize input into SignedTransaction: {exc}") from None
            pos = reader.pos
            for _ in range(count):
                _, end = decode_signed_transaction_at(body, pos)
                datas.append(body[pos:end])
                pos = end
            if pos != len(body):
                raise invalid_input("Failed to deserialize input into SignedTransaction: trailing bytes")
        elif ctype == "application/json":
            try:
                items = loads(body)
            except ValueError as exc:
                raise framework_error(f"parse request payload error: {exc}") from None
            if not isinstance(items, list):
                raise invalid_input("expected a JSON array of SubmitTransactionRequest")
            datas = [signed_transaction_from_json(item, self.node.chain_id) for item in items]
        else:
            raise framework_error(f"unsupported content type {ctype!r}", 415)
        if len(datas) > 100:
            raise invalid_input(f"Submitted too many transactions: {len(datas)}, while limit is 100")
        failures = []
        for index, data in enumerate(datas):
            try:
                self.node.submit(data)
            except ApiError as err:
                failures.append({"error": err.body(), "transaction_index": index})
        return json_response({"transaction_failures": failures}, 206 if failures else 202)

    def simulate(self, scope: Scope, body: bytes, query: dict[str, list[str]]) -> Response:
        """``POST /transactions/simulate``."""
        txn = decode_signed_transaction(self._signed_bytes(scope, body))
        result = self.node.simulate(
            txn,
            estimate_max_gas=parse_bool(first(query, "estimate_max_gas_amount"), "estimate_max_gas_amount"),
            estimate_price=parse_bool(first(query, "estimate_gas_unit_price"), "estimate_gas_unit_price")
            or parse_bool(first(query, "estimate_prioritized_gas_unit_price"), "estimate_prioritized_gas_unit_price"),
        )
        return json_response([result])

    def encode_submission(self, body: bytes) -> Response:
        """``POST /transactions/encode_submission``: the signing message of a JSON request."""
        try:
            data = loads(body)
        except ValueError as exc:
            raise framework_error(f"parse request payload error: {exc}") from None
        if not isinstance(data, dict):
            raise invalid_input("expected an EncodeSubmissionRequest object")
        # Reuse the JSON submission codec with a dummy signature, then keep only the raw transaction.
        dummy = dict(
            data, signature={"type": "ed25519_signature", "public_key": "0x" + "00" * 32, "signature": "0x" + "00" * 64}
        )
        signed = signed_transaction_from_json(dummy, self.node.chain_id)
        raw = signed[: len(signed) - (1 + 1 + 32 + 1 + 64)]
        return json_response(hex0x(RAW_TXN_PREFIX + raw))

    # ------------------------------------------------------------------ events

    def _event_page(self, address: str, creation_num: int, query: dict[str, list[str]]) -> Response:
        """One page of a legacy event handle's events."""
        limit = page_limit(query)
        start = parse_u64(first(query, "start"), "start")
        if start is None:
            start = max(0, self.node.storage.event_count(address, creation_num) - limit)
        return json_list(self.node.storage.events(address, creation_num, start, limit))

    def get_events(self, address: str, creation: str, query: dict[str, list[str]]) -> Response:
        """``GET /accounts/{address}/events/{creation_number}``."""
        creation_num = parse_u64(creation, "creation_number", "path")
        assert creation_num is not None
        return self._event_page(address, creation_num, query)

    def get_events_by_handle(self, address: str, handle: str, field: str, query: dict[str, list[str]]) -> Response:
        """``GET /accounts/{address}/events/{event_handle}/{field_name}``."""
        version = self.check_version(query)
        type_tag, value = self._resource_or_404(address, handle, "event_handle", version)
        field_value = value.get(field) if isinstance(value, dict) else None
        try:
            guid = field_value["guid"]["id"]  # type: ignore[index]
            account, creation_num = core.norm_addr(guid["addr"]), int(guid["creation_num"])
        except (TypeError, KeyError, ValueError):
            raise ApiError(
                404,
                f"Struct Field not found by Address({core.standard_addr(address)}), Struct tag({type_tag}), "
                f"Field name({field}) and Ledger version({version})",
                "struct_field_not_found",
            ) from None
        return self._event_page(account, creation_num, query)

    # ------------------------------------------------------------------ view & tables

    def view(self, scope: Scope, body: bytes, query: dict[str, list[str]]) -> Response:
        """``POST /view`` with a JSON ``ViewRequest`` or a BCS entry function; JSON or BCS output."""
        version = self.check_version(query)
        ctype = content_type(scope)
        if ctype == BCS_VIEW:
            try:
                r = BcsReader(body)
                module_addr = core.norm_addr(r.take(32))
                module, name = r.string(), r.string()
                type_args = [canonical_tag(r.type_tag()) for _ in range(r.uleb())]
                bcs_args = [r.bytes_() for _ in range(r.uleb())]
                if r.pos != len(body):
                    raise ValueError("trailing bytes")
            except (ValueError, UnicodeDecodeError) as exc:
                raise invalid_input(f"Failed to deserialize input into ViewRequest: {exc}") from None
            function_id = f"{module_addr}::{module}::{name}"
            fn, values = self.node.view(function_id, type_args, None, bcs_args, version)
        elif ctype == "application/json":
            try:
                data = loads(body)
            except ValueError as exc:
                raise framework_error(f"parse request payload error: {exc}") from None
            if not isinstance(data, dict) or not isinstance(data.get("function"), str):
                raise invalid_input("expected a ViewRequest object")
            type_args = data.get("type_arguments", [])
            args = data.get("arguments", [])
            if not isinstance(type_args, list) or not isinstance(args, list):
                raise invalid_input("`type_arguments` and `arguments` must be arrays")
            fn, values = self.node.view(data["function"], type_args, args, None, version)
        else:
            raise framework_error(f"unsupported content type {ctype!r}", 415)
        if accepts_bcs(scope):
            try:
                out = uleb128(len(values)) + b"".join(
                    encode_bcs_value(t, v) for t, v in zip(fn.returns, values, strict=True)
                )
            except ValueError as exc:
                raise invalid_input(f"cannot return this view's result as BCS: {exc}") from None
            return Response(200, out, [(b"content-type", BCS_OUT.encode())])
        return json_response([encode_value(t, v) for t, v in zip(fn.returns, values, strict=True)])

    def table_item(self, handle: str, body: bytes, query: dict[str, list[str]]) -> Response:
        """``POST /tables/{handle}/item``."""
        version = self.check_version(query)
        try:
            data = loads(body)
            key_type, value_type = data["key_type"], data["value_type"]
            key = decode_json_strict(canonical_type(key_type), data["key"])
        except (ValueError, KeyError, TypeError) as exc:
            raise invalid_input(f"invalid TableItemRequest: {exc}") from None
        handle_norm = parse_address(handle, "table_handle")
        value = self.node.state_at(version).get(core.table_key(handle_norm, key))
        if value is None:
            raise ApiError(
                404,
                f"Table Item not found by Table handle({handle}), Table key({data['key']}) and "
                f"Ledger version({version})",
                "table_item_not_found",
            )
        return json_response(encode_value(value_type, value))

    # ------------------------------------------------------------------ blocks

    def get_block(self, kind: str, value: str, query: dict[str, list[str]]) -> Response:
        """``GET /blocks/by_height/{h}`` and ``/blocks/by_version/{v}``."""
        number = parse_u64(value, "block_height" if kind == "by_height" else "version", "path")
        assert number is not None
        with_txns = parse_bool(first(query, "with_transactions"), "with_transactions")
        if kind == "by_height":
            row = self.node.storage.block_by_height(number) if number <= self.node.ledger.block_height else None
            missing = f"Block not found by Block height({number})"
        else:
            row = self.node.storage.block_by_version(number) if number <= self.node.ledger.version else None
            missing = f"Block not found by Ledger version({number})"
        if row is None:
            raise ApiError(404, missing, "block_not_found")
        height, block_id, timestamp, first_version, last_version = row
        block: dict[str, Any] = {
            "block_height": str(height),
            "block_hash": block_id,
            "block_timestamp": str(timestamp),
            "first_version": str(first_version),
            "last_version": str(last_version),
        }
        if not with_txns:
            return json_response(block)
        count = min(last_version - first_version + 1, MAX_PAGE_SIZE)
        txns = self.node.txns_range(first_version, count)
        return Response(200, dumps(block)[:-1] + b',"transactions":[' + b",".join(txns) + b"]}")


async def _lifespan(receive: Receive, send: Send) -> None:
    """Answer ASGI lifespan events (nothing to set up: the node starts before the server)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
