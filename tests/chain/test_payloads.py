"""Payload builders: the SPEC's entry functions, the SDK's own BCS encoding, and validation before sending."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
from aptos_sdk.account import Account
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.bcs import Serializer
from aptos_sdk.transactions import EntryFunction, TransactionArgument, TransactionPayload
from aptos_sdk.type_tag import StructTag, TypeTag

from chain.abi import ENTRY_FUNCTIONS, VIEW_FUNCTIONS
from chain.constants import LOCALNET_PACKAGE_ADDRESS
from chain.errors import InvalidArgument
from chain.payloads import PictorPayloads, apt_transfer, pictor_transfer
from chain.views import JobInfo, NodeInfo, PictorViews, UnbondRequest, VaultAccount
from tests.support import REPO_ROOT

SPEC = REPO_ROOT / "chain" / "SPEC.md"
PKG = LOCALNET_PACKAGE_ADDRESS
ADDR = "0x" + "5c" * 32
NODE_KEY = Account.load_key("0x" + "07" * 32)
PUBKEY = NODE_KEY.public_key().key.encode()
PY_NAME = {"pass": "passed"}  # Move parameter names that are Python keywords


def sections() -> list[tuple[str, str]]:
    parts = re.split(r"^## (\w+)\s*$", SPEC.read_text(), flags=re.M)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def spec_entry_functions() -> dict[tuple[str, str], tuple[tuple[str, str], ...]]:
    out: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
    for module, body in sections():
        for name, raw in re.findall(r"`(\w+)\(\w+: &signer(?:,\s*([^)]*))?\)", body):
            params = []
            for item in filter(None, (p.strip() for p in " ".join(raw.split()).split(","))):
                pname, ptype = (x.strip() for x in item.split(":", 1))
                if ptype != "&signer":  # a secondary signer of a multi-agent transaction is no argument
                    params.append((pname, ptype))
            out[(module, name)] = tuple(params)
    return out


def split_types(text: str) -> tuple[str, ...]:
    text = " ".join(text.split())
    if text.startswith("("):
        text = text[1:-1]
    types = tuple(t.strip() for t in text.split(","))
    return tuple("0x1::object::Object<0x1::fungible_asset::Metadata>" if t == "Object<Metadata>" else t for t in types)


def spec_views() -> dict[tuple[str, str], tuple[tuple[tuple[str, str], ...], tuple[str, ...]]]:
    out: dict[tuple[str, str], tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {}
    for module, body in sections():
        if "Views:" not in body:
            continue
        views = body[body.index("Views:") :].split("\n\n")[0]
        for name, raw_params, returns in re.findall(r"`(\w+)\(([^)]*)\): ([^`]+)`", views):
            params = tuple(
                tuple(x.strip() for x in p.split(":", 1)) for p in (q.strip() for q in raw_params.split(",")) if p
            )
            out[(module, name)] = (params, split_types(returns))  # type: ignore[assignment]
    return out


def test_entry_function_table_is_the_spec() -> None:
    assert spec_entry_functions() == ENTRY_FUNCTIONS
    assert len(ENTRY_FUNCTIONS) == 34


def test_view_function_table_is_the_spec() -> None:
    assert spec_views() == VIEW_FUNCTIONS


# --------------------------------------------------------------------------- BCS against the SDK

U64_SAMPLES = {
    "quorum": 3, "worker_bps": 6000, "checker_bps": 1000, "unbonding_secs": 604800, "review_window_secs": 86400,
    "slash_bps": 1000, "max_strikes": 3,
}  # fmt: skip


def sample(name: str, move_type: str) -> Any:
    if move_type == "address":
        return ADDR
    if move_type == "u8":
        return 2
    if move_type == "u64":
        return U64_SAMPLES.get(name, 2**64 - 1)
    if move_type == "bool":
        return True
    if move_type == "vector<u8>":
        if name == "public_key":
            return PUBKEY
        return b"\x5a" * (64 if name in ("proof", "signature") else 32)
    if move_type == "vector<vector<u8>>":
        return [b"\x01" * 32, b"\x02" * 32]
    raise AssertionError(move_type)


def natural_arg(move_type: str, value: Any) -> TransactionArgument:
    if move_type == "address":
        return TransactionArgument(AccountAddress.from_str(value), Serializer.struct)
    encoder = {
        "u8": Serializer.u8,
        "u64": Serializer.u64,
        "bool": Serializer.bool,
        "vector<u8>": Serializer.to_bytes,
        "vector<vector<u8>>": Serializer.sequence_serializer(Serializer.to_bytes),
    }[move_type]
    return TransactionArgument(value, encoder)


def bcs(payload: TransactionPayload) -> bytes:
    ser = Serializer()
    payload.serialize(ser)
    return ser.output()


@pytest.mark.parametrize(("module", "function"), sorted(ENTRY_FUNCTIONS), ids=lambda x: str(x))
def test_builder_bytes_equal_the_sdk_natural_encoding(module: str, function: str) -> None:
    params = ENTRY_FUNCTIONS[(module, function)]
    builder = getattr(PictorPayloads(PKG), f"{module}_{function}")
    assert [p for p in inspect.signature(builder).parameters] == [PY_NAME.get(n, n) for n, _ in params]
    values = [sample(n, t) for n, t in params]
    ours = builder(*values)
    sdk = TransactionPayload(
        EntryFunction.natural(
            f"{PKG}::{module}", function, [], [natural_arg(t, v) for (_, t), v in zip(params, values, strict=True)]
        )
    )
    assert bcs(ours) == bcs(sdk)
    assert ours == sdk


def test_hex_inputs_equal_bytes_inputs() -> None:
    pay = PictorPayloads(PKG)
    h = b"\xab" * 32
    assert bcs(pay.escrow_submit_result(1, 2, h, 5)) == bcs(pay.escrow_submit_result(1, 2, "0x" + h.hex(), 5))
    assert bcs(pay.token_mint(AccountAddress.from_str(ADDR), 1)) == bcs(pay.token_mint(ADDR, 1))
    short = PictorPayloads("0x" + PKG[2:].upper())
    assert bcs(short.vault_deposit(1)) == bcs(pay.vault_deposit(1))


def test_apt_transfer_is_aptos_account_transfer() -> None:
    sdk = EntryFunction.natural(
        "0x1::aptos_account",
        "transfer",
        [],
        [TransactionArgument(AccountAddress.from_str(ADDR), Serializer.struct), TransactionArgument(5, Serializer.u64)],
    )
    assert bcs(apt_transfer(ADDR, 5)) == bcs(TransactionPayload(sdk))


def test_pictor_transfer_is_primary_fungible_store_transfer() -> None:
    metadata = "0x" + "4d" * 32
    sdk = EntryFunction.natural(
        "0x1::primary_fungible_store",
        "transfer",
        [TypeTag(StructTag.from_str("0x1::fungible_asset::Metadata"))],
        [
            TransactionArgument(AccountAddress.from_str(metadata), Serializer.struct),
            TransactionArgument(AccountAddress.from_str(ADDR), Serializer.struct),
            TransactionArgument(7, Serializer.u64),
        ],
    )
    assert bcs(pictor_transfer(metadata, ADDR, 7)) == bcs(TransactionPayload(sdk))


# --------------------------------------------------------------------------- validation


P = PictorPayloads(PKG)
H32 = b"\x01" * 32


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: P.vault_deposit(2**64), "u64"),
        (lambda: P.vault_deposit(-1), "u64"),
        (lambda: P.vault_deposit(0), "greater than zero"),
        (lambda: P.vault_deposit(1.5), "int"),
        (lambda: P.vault_deposit(True), "int"),
        (lambda: P.vault_deposit("5"), "int"),
        (lambda: P.vault_withdraw(0), "greater than zero"),
        (lambda: P.token_mint("0xnothex", 1), "address"),
        (lambda: P.token_mint("0x" + "1" * 65, 1), "address"),
        (lambda: P.token_mint(ADDR, 0), "greater than zero"),
        (lambda: P.staking_stake(3, 1), "role"),
        (lambda: P.staking_stake(0, 1), "role"),
        (lambda: P.staking_stake(256, 1), "u8"),
        (lambda: P.staking_request_unstake(1, 0), "greater than zero"),
        (lambda: P.staking_slash(ADDR, 9, 1), "role"),
        (lambda: P.registry_register_node(1, PUBKEY[:31], b"\x00" * 64), "32 bytes"),
        (lambda: P.registry_register_node(1, b"\x00" * 32, b"\x00" * 64), "valid Ed25519"),
        (lambda: P.registry_register_node(1, PUBKEY, b"\x00" * 63), "64 bytes"),
        (lambda: P.registry_register_node(5, PUBKEY, b"\x00" * 64), "role"),
        (lambda: P.registry_rotate_node_key(1, "zz", b"\x00" * 64), "hex"),
        (lambda: P.config_set_credit_signer(b"\x00" * 32), "valid Ed25519"),
        (lambda: P.config_set_fee_split(6000, 4001), "10000"),
        (lambda: P.config_set_fee_split(10001, 0), "10000"),
        (lambda: P.config_set_params(0, 1, 1, 1, 1, 1, 1, 1), "quorum"),
        (lambda: P.config_set_params(11, 1, 1, 1, 1, 1, 1, 1), "quorum"),
        (lambda: P.config_set_params(1, 1, 1, 31_536_001, 1, 1, 1, 1), "unbonding"),
        (lambda: P.config_set_params(1, 1, 1, 1, 2_592_001, 1, 1, 1), "review_window"),
        (lambda: P.config_set_params(1, 1, 1, 1, 1, 10_001, 1, 1), "slash_bps"),
        (lambda: P.config_set_params(1, 1, 1, 1, 1, 1, 0, 1), "max_strikes"),
        (lambda: P.config_set_paused(1), "bool"),
        (lambda: P.vault_claim_credit(1, 0, 10, b"\x00" * 65), "64 bytes"),
        (lambda: P.escrow_open_job(0, 1), "budget"),
        (lambda: P.escrow_open_job(1, 0), "price_per_minute"),
        (lambda: P.escrow_assign_task(1, 1, 1, 0), "quote"),
        (lambda: P.escrow_submit_result(1, 1, b"\x00" * 31, 1), "32 bytes"),
        (lambda: P.attestation_attest(1, 1, H32, True, b"\x00" * 33), "evidence_hash"),
        (lambda: P.attestation_attest(1, 1, H32, 1, H32), "bool"),
        (lambda: P.attestation_resolve_dispute(1, 1, True, b""), "32 bytes"),
        (lambda: P.rewards_publish_epoch(1, b"\x00" * 31, 5), "root"),
        (lambda: P.rewards_publish_epoch(0, H32, 5), "epoch"),
        (lambda: P.rewards_claim(1, 0, 5, [H32, b"\x00"]), "proof"),
        (lambda: P.rewards_claim(1, 0, 5, H32), "proof"),
        (lambda: apt_transfer(ADDR, 2**64), "u64"),
    ],
)
def test_invalid_arguments_are_rejected_before_sending(call: Any, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        call()


def test_non_strict_sends_what_the_chain_must_reject() -> None:
    loose = PictorPayloads(PKG, strict=False)
    assert loose.staking_stake(3, 0) is not None
    assert loose.escrow_submit_result(1, 1, b"\x00" * 5, 1) is not None
    assert loose.registry_register_node(7, b"\x00" * 32, b"") is not None
    assert loose.config_set_fee_split(9000, 9000) is not None
    # Encoding limits still hold.
    with pytest.raises(InvalidArgument):
        loose.vault_deposit(2**64)
    with pytest.raises(InvalidArgument):
        loose.staking_stake(300, 1)


def test_zero_task_id_is_allowed() -> None:
    assert P.escrow_assign_task(1, 0, 1, 1) is not None


# --------------------------------------------------------------------------- views


class FakeView:
    def __init__(self, results: dict[str, list[Any]]) -> None:
        self.results = results
        self.calls: list[tuple[str, list[str], list[Any]]] = []

    async def __call__(self, function: str, type_args: list[str], args: list[Any]) -> list[Any]:
        self.calls.append((function, type_args, args))
        return self.results[function.split("::", 1)[1]]


async def test_typed_views_encode_arguments_and_decode_results() -> None:
    fake = FakeView(
        {
            "vault::account": ["5", "7"],
            "registry::node": ["0x5", 2, "0x" + "ab" * 32, ADDR, True, "1"],
            "escrow::job": [ADDR, "300", "0", "24", "50", "2", False],
            "staking::unbonding_requests": [["1", "2"], [1, 2], ["10", "20"], ["100", "200"]],
            "token::metadata": [{"inner": "0x" + "4d" * 32}],
            "config::is_paused": [False],
            "config::credit_signer": ["0x"],
            "rewards::is_claimed": [True],
        }
    )
    views = PictorViews(PKG, fake)
    assert await views.vault_account(ADDR) == VaultAccount(5, 7)
    assert fake.calls[-1] == (f"{PKG}::vault::account", [], [ADDR])
    node = await views.node(3)
    assert node == NodeInfo("0x" + "0" * 63 + "5", 2, b"\xab" * 32, ADDR, True, 1)
    assert fake.calls[-1][2] == ["3"]  # u64 arguments go as decimal strings
    job = await views.job(1)
    assert job == JobInfo(ADDR, 300, 0, 24, 50, 2, False) and job.remaining == 276 and job.available == 226
    assert await views.unbonding_requests(ADDR) == [UnbondRequest(1, 1, 10, 100), UnbondRequest(2, 2, 20, 200)]
    assert await views.token_metadata() == "0x" + "4d" * 32
    assert await views.is_paused() is False
    assert await views.credit_signer() == b""
    assert await views.is_claimed(1, 0) is True
    assert fake.calls[-1][2] == ["1", "0"]


async def test_view_argument_validation() -> None:
    views = PictorViews(PKG, FakeView({}))
    with pytest.raises(InvalidArgument):
        await views.job(-1)
    with pytest.raises(InvalidArgument):
        await views.vault_account("not an address")
