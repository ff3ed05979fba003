"""Shared fixtures and helpers of the localnet test suites.

* ``node_api_spec`` / ``spec_validator``: the official Aptos Node API v1 OpenAPI document (found in
  ``../shared/conformance/`` next to the repository) and a validator that checks an HTTP response
  (status, JSON body, ``X-APTOS-*`` headers) against the response the document declares for the
  operation;
* ``localnet`` (module scope): one localnet process per test module, on a fresh data dir and free
  ports, stopped (killed if need be) at the end of the module; ``http``: a synchronous helper over it;
* transaction builders on top of ``aptos_sdk`` (BCS argument encoders, raw/signed transactions);
* ``js_sdk`` (session): the official TypeScript SDK installed by ``npm ci`` and its scripts (``tests.support.js``).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import jsonschema
import pytest
from aptos_sdk import ed25519
from aptos_sdk.account import Account
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.transactions import EntryFunction, ModuleId, RawTransaction, SignedTransaction, TransactionPayload
from aptos_sdk.type_tag import StructTag, TypeTag
from nacl.signing import SigningKey
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from chain.localnet import start_localnet_process
from tests.support import REPO_ROOT
from tests.support.bcs import bcs_bool, bcs_bytes, bcs_u8, bcs_u64, bcs_vec_bytes, uleb128  # noqa: F401 - re-exported via `tx`
from tests.support.js import js_sdk  # noqa: F401 - the fixture test_ts_sdk.py uses

CONFORMANCE_DIR = REPO_ROOT.parent / "shared" / "conformance"
SPEC_FILE = CONFORMANCE_DIR / "aptos-node-api-v1.2.0.spec.json"
SPEC_URN = "urn:aptos-node-api-v1.2.0"


# --------------------------------------------------------------------------- OpenAPI 3.0 -> JSON Schema


def _ref(ref: str) -> str:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    return SPEC_URN + ref


def openapi_to_jsonschema(schema: Any) -> Any:
    """Translate one OpenAPI 3.0 schema object into JSON Schema 2020-12.

    * ``$ref: #/components/...`` points into the spec resource registered under :data:`SPEC_URN`;
    * ``nullable: true`` becomes ``anyOf [schema, null]``;
    * ``oneOf`` + ``discriminator`` selects the branch by the discriminator property's value (the
      branches themselves do not constrain it, so a plain ``oneOf`` would be ambiguous: a user
      transaction is also a valid pending transaction); the value must be one of the mapping keys;
    * ``allOf`` / ``anyOf`` / plain ``oneOf`` are JSON Schema already; annotations pass through;
    * the generator's ``type: object`` beside an ``anyOf`` of scalar and object branches is dropped.
    """
    if isinstance(schema, list):
        return [openapi_to_jsonschema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return {"$ref": _ref(schema["$ref"])}
    out: dict[str, Any] = {}
    nullable = bool(schema.get("nullable"))
    discriminator = schema.get("discriminator")
    for key, value in schema.items():
        if key in ("nullable", "discriminator", "example", "deprecated", "xml", "externalDocs"):
            continue
        if key == "properties":
            out[key] = {**out.get(key, {}), **{name: openapi_to_jsonschema(sub) for name, sub in value.items()}}
        elif key == "oneOf" and discriminator is not None:
            prop = discriminator["propertyName"]
            mapping = discriminator.get("mapping") or {
                branch["$ref"].rsplit("/", 1)[-1]: branch["$ref"] for branch in value
            }
            out["required"] = sorted({*out.get("required", []), prop})
            out["properties"] = {**out.get("properties", {}), prop: {"enum": sorted(mapping)}}
            out["allOf"] = [
                *out.get("allOf", []),
                *(
                    {"if": {"properties": {prop: {"const": tag}}}, "then": {"$ref": _ref(target)}}
                    for tag, target in sorted(mapping.items())
                ),
            ]
        elif key == "required":
            out[key] = sorted({*out.get(key, []), *value})
        elif key == "allOf":
            out[key] = [*out.get(key, []), *openapi_to_jsonschema(value)]
        elif key in ("items", "additionalProperties", "not", "anyOf", "oneOf"):
            out[key] = openapi_to_jsonschema(value)
        else:
            out[key] = value
    if "anyOf" in schema and "type" in out:
        # poem-openapi writes ``type: object`` next to the ``anyOf`` of MoveValue (u8 … u256, bool, address,
        # vector, struct, string): the union decides the type, or no Aptos node's view result would conform.
        del out["type"]
    if nullable:
        return {"anyOf": [out, {"type": "null"}]}
    return out


_UINT_BITS = {"uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64, "uint128": 128, "uint256": 256}


def _format_checker() -> jsonschema.FormatChecker:
    """Checks for the spec's formats: ``uint*`` (integers, or decimal strings for u64+) and ``hex``."""
    checker = jsonschema.FormatChecker(formats=())

    def uint_check(bits: int) -> Any:
        def check(value: object) -> bool:
            if isinstance(value, bool):
                return True  # the ``type`` keyword judges booleans
            if isinstance(value, str):
                return re.fullmatch(r"(0|[1-9][0-9]*)", value) is not None and int(value) < 2**bits
            if isinstance(value, int):
                return 0 <= value < 2**bits
            return True

        return check

    for name, bits in _UINT_BITS.items():
        checker.checks(name)(uint_check(bits))

    @checker.checks("hex")
    def hex_check(value: object) -> bool:
        return not isinstance(value, str) or re.fullmatch(r"0x[0-9a-fA-F]*", value) is not None

    return checker


class ConformanceError(AssertionError):
    """A response that does not match what the official Node API spec declares."""


@dataclass
class SpecValidator:
    """Validates localnet HTTP responses against the official Aptos Node API OpenAPI document."""

    spec: dict[str, Any]
    base_path: str = "/v1"
    checked: list[tuple[str, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        schemas = {name: openapi_to_jsonschema(sub) for name, sub in self.spec["components"]["schemas"].items()}
        resource = Resource.from_contents({"components": {"schemas": schemas}}, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URN, resource)
        self.format_checker = _format_checker()
        self._routes: list[tuple[int, re.Pattern[str], str]] = []
        for template in self.spec["paths"]:
            params = len(re.findall(r"\{[^}]+\}", template))
            pattern = "".join(
                "[^/]+" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{[^}]+\})", template)
                if part
            )
            self._routes.append((params, re.compile(pattern + "/?"), template))
        self._routes.sort(key=lambda route: route[0])  # literal routes win over templated ones

    # ------------------------------------------------------------------ lookups

    def template_for(self, path: str) -> str:
        """The spec's path template that an actual request path (with or without ``/v1``) matches."""
        if path.startswith(self.base_path):
            path = path[len(self.base_path) :] or "/"
        for _, pattern, template in self._routes:
            if pattern.fullmatch(path):
                return template
        raise ConformanceError(f"{path} is not a path of the Node API spec")

    def operation(self, method: str, template: str) -> dict[str, Any]:
        try:
            return self.spec["paths"][template][method.lower()]
        except KeyError:
            raise ConformanceError(f"{method.upper()} {template} is not an operation of the spec") from None

    def response_spec(self, method: str, template: str, status: int) -> dict[str, Any]:
        responses = self.operation(method, template)["responses"]
        if str(status) not in responses:
            raise ConformanceError(
                f"{method.upper()} {template} answered {status}; the spec declares only {sorted(responses)}"
            )
        return responses[str(status)]

    def schema_validator(self, schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator(
            openapi_to_jsonschema(schema), registry=self.registry, format_checker=self.format_checker
        )

    def component(self, name: str) -> jsonschema.Draft202012Validator:
        """A validator for ``#/components/schemas/<name>``."""
        if name not in self.spec["components"]["schemas"]:
            raise KeyError(name)
        return self.schema_validator({"$ref": f"#/components/schemas/{name}"})

    # ------------------------------------------------------------------ validation

    def validate_body(self, schema: dict[str, Any], body: Any, what: str) -> None:
        errors = sorted(self.schema_validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"{what}: {len(errors)} schema error(s)"]
            for error in errors[:8]:
                where = "/".join(str(p) for p in error.absolute_path) or "<root>"
                lines.append(f"  at {where}: {error.message[:400]}")
                for sub in sorted(error.context or [], key=lambda e: len(list(e.absolute_path)))[:4]:
                    sub_where = "/".join(str(p) for p in sub.absolute_path) or "<root>"
                    lines.append(f"      - {sub_where}: {sub.message[:300]}")
            raise ConformanceError("\n".join(lines))

    def validate_headers(self, declared: dict[str, Any], response: httpx.Response, what: str) -> None:
        for name, header in declared.items():
            value = response.headers.get(name)
            if value is None:
                if header.get("required"):
                    raise ConformanceError(f"{what}: required header {name} is missing")
                continue
            schema = header.get("schema", {})
            if schema.get("type") == "integer":
                if not re.fullmatch(r"[0-9]+", value):
                    raise ConformanceError(f"{what}: header {name}={value!r} is not an integer")
                bits = _UINT_BITS.get(schema.get("format", ""), 64)
                if int(value) >= 2**bits:
                    raise ConformanceError(f"{what}: header {name}={value!r} overflows {schema.get('format')}")

    def validate(self, response: httpx.Response, *, expect_status: int | None = None) -> Any:
        """Check ``response`` against the spec; return its decoded JSON body (raw bytes for BCS)."""
        method = response.request.method
        template = self.template_for(response.request.url.path)
        what = f"{method} {template} -> {response.status_code}"
        if expect_status is not None and response.status_code != expect_status:
            raise ConformanceError(f"{what}: expected status {expect_status}; body: {response.text[:600]}")
        declared = self.response_spec(method, template, response.status_code)
        self.validate_headers(declared.get("headers", {}), response, what)
        content = declared.get("content", {})
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in content:
            raise ConformanceError(f"{what}: content type {content_type!r} is not one of {sorted(content)}")
        self.checked.append((method, template, response.status_code))
        if content_type == "application/json":
            try:
                body = response.json()
            except json.JSONDecodeError as exc:
                raise ConformanceError(f"{what}: body is not JSON: {response.text[:300]!r}") from exc
            self.validate_body(content[content_type]["schema"], body, what)
            return body
        return response.content


def load_spec() -> dict[str, Any]:
    if not SPEC_FILE.is_file():
        pytest.fail(
            f"the official Aptos Node API spec is missing: expected {SPEC_FILE} "
            "(../shared/conformance/ relative to the repository root)",
            pytrace=False,
        )
    return json.loads(SPEC_FILE.read_text())


@pytest.fixture(scope="session")
def node_api_spec() -> dict[str, Any]:
    return load_spec()


@pytest.fixture(scope="session")
def spec_validator(node_api_spec: dict[str, Any]) -> SpecValidator:
    return SpecValidator(node_api_spec)


# --------------------------------------------------------------------------- localnet process


@pytest.fixture(scope="module")
def localnet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("localnet")


@pytest.fixture(scope="module")
def localnet(localnet_dir: Path) -> Iterator[Any]:
    """One localnet process (fresh data dir, free ports, test clock on) for the whole test module."""

    proc = start_localnet_process(data_dir=localnet_dir, test_clock=True)
    try:
        yield proc
    finally:
        proc.stop()


# --------------------------------------------------------------------------- transactions (built with aptos_sdk)

APT_COIN = "0x1::aptos_coin::AptosCoin"
OCTAS = 100_000_000
DEFAULT_MAX_GAS = 100_000
DEFAULT_GAS_PRICE = 100
U64_MAX = 2**64 - 1


def addr_hex(value: Any) -> str:
    """``0x`` + 64 hex digits of an address (str, bytes or ``AccountAddress``)."""
    if isinstance(value, AccountAddress):
        return "0x" + value.address.hex()
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    text = str(value).lower()
    text = text[2:] if text.startswith("0x") else text
    return "0x" + text.rjust(64, "0")


def bcs_address(value: Any) -> bytes:
    return bytes.fromhex(addr_hex(value)[2:])


def user_txn_hash(signed_bytes: bytes) -> str:
    """sha3(sha3(b"APTOS::Transaction") || 0x00 || bcs(SignedTransaction)): how Aptos hashes a user transaction."""
    prefix = hashlib.sha3_256(b"APTOS::Transaction").digest()
    return "0x" + hashlib.sha3_256(prefix + b"\x00" + signed_bytes).hexdigest()


def entry_payload(function_id: str, args: list[bytes], type_args: list[str] | None = None) -> TransactionPayload:
    """A BCS ``TransactionPayload::EntryFunction`` with already-encoded argument bytes."""
    address, module, function = function_id.split("::")
    tags = [TypeTag(StructTag.from_str(t)) for t in (type_args or [])]
    return TransactionPayload(EntryFunction(ModuleId.from_str(f"{address}::{module}"), function, tags, list(args)))


def raw_txn(
    sender: Account | AccountAddress,
    seq: int,
    payload: TransactionPayload,
    *,
    chain_id: int,
    max_gas: int = DEFAULT_MAX_GAS,
    gas_price: int = DEFAULT_GAS_PRICE,
    expiration: int | None = None,
) -> RawTransaction:
    address = sender.address() if isinstance(sender, Account) else sender
    expires = int(time.time()) + 600 if expiration is None else expiration
    return RawTransaction(address, seq, payload, max_gas, gas_price, expires, chain_id)


def sign(signer: Account, raw: RawTransaction) -> bytes:
    """BCS bytes of ``raw`` signed by ``signer``."""
    return SignedTransaction(raw, signer.sign_transaction(raw)).bytes()


def sign_simulated(signer: Account, raw: RawTransaction) -> bytes:
    """BCS bytes of ``raw`` with the all-zero signature simulations must carry."""
    return SignedTransaction(raw, signer.sign_simulated_transaction(raw)).bytes()


# --------------------------------------------------------------------------- sync HTTP helper


class TxnFailedToCommit(AssertionError):
    """A transaction did not commit within the wait."""


@dataclass
class LocalnetHttp:
    """Synchronous helper over one localnet's REST API and faucet (what the test suites share)."""

    node_url: str
    faucet_url: str
    timeout: float = 90.0

    def __post_init__(self) -> None:
        self.client = httpx.Client(timeout=self.timeout)
        self._chain_id: int | None = None

    def close(self) -> None:
        self.client.close()

    def url(self, path: str) -> str:
        return self.node_url.rstrip("/") + "/" + path.lstrip("/")

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(self.url(path), params={k: v for k, v in params.items() if v is not None})

    def post_json(self, path: str, body: Any, **params: Any) -> httpx.Response:
        return self.client.post(self.url(path), json=body, params=params)

    def post_bcs(self, path: str, data: bytes, content_type: str, **params: Any) -> httpx.Response:
        return self.client.post(self.url(path), content=data, headers={"Content-Type": content_type}, params=params)

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.get("").json()["chain_id"])
        return self._chain_id

    def ledger_version(self) -> int:
        return int(self.get("").json()["ledger_version"])

    def submit(self, signed: bytes) -> httpx.Response:
        return self.post_bcs("transactions", signed, "application/x.aptos.signed_transaction+bcs")

    def simulate(self, signed: bytes) -> httpx.Response:
        return self.post_bcs("transactions/simulate", signed, "application/x.aptos.signed_transaction+bcs")

    def wait(self, txn_hash: str, timeout: float | None = None) -> dict[str, Any]:
        """Poll ``by_hash`` until the transaction is committed; its JSON."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        delay = 0.02
        last: Any = None
        while time.monotonic() < deadline:
            response = self.get(f"transactions/by_hash/{txn_hash}")
            if response.status_code == 200:
                last = response.json()
                if last.get("type") != "pending_transaction":
                    return last
            else:
                last = (response.status_code, response.text[:300])
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)
        raise TxnFailedToCommit(f"{txn_hash} not committed after {limit}s; last answer: {last}")

    def submit_and_wait(self, signed: bytes) -> dict[str, Any]:
        response = self.submit(signed)
        assert response.status_code == 202, f"submit answered {response.status_code}: {response.text[:500]}"
        txn_hash = response.json()["hash"]
        assert txn_hash == user_txn_hash(signed), "the node's transaction hash is not Aptos's"
        return self.wait(txn_hash)

    def build(
        self,
        signer: Account,
        function_id: str,
        args: list[bytes],
        type_args: list[str] | None = None,
        *,
        seq: int | None = None,
        **raw_kw: Any,
    ) -> bytes:
        """Signed BCS bytes of one entry function call from ``signer`` (next sequence number by default)."""
        number = self.seq(signer.address()) if seq is None else seq
        raw = raw_txn(signer, number, entry_payload(function_id, args, type_args), chain_id=self.chain_id, **raw_kw)
        return sign(signer, raw)

    def run(
        self, signer: Account, function_id: str, args: list[bytes], type_args: list[str] | None = None, **raw_kw: Any
    ) -> dict[str, Any]:
        """Build, sign, submit and wait for one entry function call from ``signer``; the committed JSON."""
        return self.submit_and_wait(self.build(signer, function_id, args, type_args, **raw_kw))

    def fund(self, address: Any, amount: int) -> list[str]:
        """Faucet ``POST /mint``; waits for (and checks) its transactions."""
        response = self.client.post(
            self.faucet_url.rstrip("/") + "/mint", params={"address": addr_hex(address), "amount": int(amount)}
        )
        assert response.status_code == 200, f"faucet answered {response.status_code}: {response.text[:300]}"
        hashes = response.json()
        assert isinstance(hashes, list) and hashes, hashes
        for txn_hash in hashes:
            txn = self.wait(txn_hash)
            assert txn["success"], txn["vm_status"]
        return hashes

    def new_account(self, apt: int = 5 * OCTAS) -> Account:
        account = Account.generate()
        if apt:
            self.fund(account.address(), apt)
        return account

    def view(
        self, function_id: str, args: list[Any], type_args: list[str] | None = None, ledger_version: int | None = None
    ) -> list[Any]:
        params = {} if ledger_version is None else {"ledger_version": ledger_version}
        response = self.post_json(
            "view", {"function": function_id, "type_arguments": type_args or [], "arguments": args}, **params
        )
        assert response.status_code == 200, f"view {function_id} answered {response.status_code}: {response.text}"
        return response.json()

    def apt_balance(self, address: Any) -> int:
        return int(self.view("0x1::coin::balance", [addr_hex(address)], [APT_COIN])[0])

    def seq(self, address: Any) -> int:
        response = self.get(f"accounts/{addr_hex(address)}")
        if response.status_code == 404:
            return 0
        assert response.status_code == 200, response.text
        return int(response.json()["sequence_number"])


@pytest.fixture(scope="module")
def http(localnet: Any) -> Iterator[LocalnetHttp]:
    helper = LocalnetHttp(localnet.node_url, localnet.faucet_url)
    try:
        yield helper
    finally:
        helper.close()


def genesis_accounts(data_dir: Path) -> dict[str, Account]:
    """The genesis accounts of a localnet data dir, able to sign: ``accounts.json`` addresses, ``<name>.key`` keys.

    The admin signs as the package address (its authentication key is the admin key's).
    """
    keys_dir = Path(data_dir) / "keys"
    addresses = json.loads((keys_dir / "accounts.json").read_text())
    out: dict[str, Account] = {}
    for name in ("admin", "coordinator", "treasury", "faucet"):
        path = keys_dir / f"{name}.key"
        if not path.exists() or name not in addresses:
            continue
        text = path.read_text().strip()
        key = ed25519.PrivateKey(SigningKey(bytes.fromhex(text[2:] if text.startswith("0x") else text)))
        out[name] = Account(AccountAddress.from_str(addresses[name]), key)
    return out


#: This module, captured at import: ``sys.modules["conftest"]`` may later be another directory's conftest.
_THIS_MODULE = sys.modules[__name__]


@pytest.fixture(scope="module")
def tx() -> ModuleType:
    """This module's transaction helpers (``tx.bcs_u64``, ``tx.raw_txn``, ``tx.sign`` …) for the test modules."""
    return _THIS_MODULE
