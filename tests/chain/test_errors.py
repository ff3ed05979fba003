"""Abort mapping: every pictor abort of SPEC.md has a class, and real vm_status strings parse to it."""

from __future__ import annotations

import re

import pytest

from chain import errors
from chain.constants import LOCALNET_PACKAGE_ADDRESS
from chain.errors import (
    ABORT_CLASSES,
    PICTOR_ABORTS,
    ChainError,
    CoinInsufficientBalance,
    EscrowInsufficientEscrow,
    FungibleAssetInsufficientBalance,
    MoveAbortError,
    NodeRejected,
    PictorAbort,
    TransactionFailed,
    VaultInsufficientBalance,
    abort_class_for,
)
from tests.support import REPO_ROOT

SPEC = REPO_ROOT / "chain" / "SPEC.md"
PKG = LOCALNET_PACKAGE_ADDRESS
OTHER = "0x" + "ab" * 32


def spec_aborts() -> dict[str, list[tuple[str, int, str]]]:
    """``module -> [(NAME, code, description)]`` from the "Abort codes" paragraphs of SPEC.md."""
    text = SPEC.read_text()
    parts = re.split(r"^## (\w+)\s*$", text, flags=re.M)
    out: dict[str, list[tuple[str, int, str]]] = {}
    for module, body in zip(parts[1::2], parts[2::2], strict=True):
        rows = re.findall(r"`(E_[A-Z_]+) = (\d+)`\s+\"([^\"]+)\"", body)
        if rows:
            out[module] = [(name, int(code), " ".join(desc.split())) for name, code, desc in rows]
    return out


def camel(module: str, name: str) -> str:
    return "".join(p.capitalize() for p in module.split("_")) + "".join(
        p.capitalize() for p in name.removeprefix("E_").lower().split("_")
    )


def vm_status(address: str, module: str, name: str, code: int, description: str) -> str:
    """As aptos-core's explain_vm_status renders an abort (address as a short hex literal)."""
    short = "0x" + (address[2:].lstrip("0") or "0")
    return f"Move abort in {short}::{module}: {name}({code:#x}): {description}"


def test_spec_parses_to_every_module() -> None:
    assert set(spec_aborts()) == {"config", "token", "vault", "registry", "staking", "escrow", "attestation", "rewards"}


def test_the_abort_table_is_exactly_the_spec() -> None:
    spec = spec_aborts()
    ours = {module: [(n, c, d) for n, c, d in rows] for module, rows in PICTOR_ABORTS.items()}
    assert ours == spec


@pytest.mark.parametrize(
    ("module", "name", "code", "description"),
    [(m, n, c, d) for m, rows in spec_aborts().items() for n, c, d in rows],
)
def test_every_spec_abort_has_a_named_class(module: str, name: str, code: int, description: str) -> None:
    cls = getattr(errors, camel(module, name))
    assert issubclass(cls, PictorAbort) and issubclass(cls, MoveAbortError) and issubclass(cls, ChainError)
    assert (module, name, code, description) == (cls.MODULE, cls.REASON, cls.CODE, cls.DESCRIPTION)
    assert abort_class_for(module, name) is cls
    assert ABORT_CLASSES[cls.__name__] is cls

    err = MoveAbortError.from_vm_status(
        vm_status(PKG, module, name, code, description), txn_hash="0xabc", version=7, gas_used=3, package_address=PKG
    )
    assert type(err) is cls
    assert (err.module, err.reason, err.code, err.description) == (module, name, code, description)
    assert err.address == PKG and err.txn_hash == "0xabc" and err.version == 7 and err.gas_used == 3
    # Without a package address the module and reason decide; the generic entry point agrees.
    assert type(MoveAbortError.from_vm_status(vm_status(PKG, module, name, code, description))) is cls
    assert type(TransactionFailed.from_vm_status(vm_status(PKG, module, name, code, description))) is cls


def test_named_examples() -> None:
    status = vm_status(PKG, "vault", "E_INSUFFICIENT_BALANCE", 2, "Withdrawable balance is too low.")
    err = MoveAbortError.from_vm_status(status, package_address=PKG)
    assert isinstance(err, VaultInsufficientBalance)
    with pytest.raises(VaultInsufficientBalance):
        raise err
    status = vm_status(PKG, "escrow", "E_INSUFFICIENT_ESCROW", 6, "The escrow cannot cover this task's quote.")
    assert isinstance(MoveAbortError.from_vm_status(status), EscrowInsufficientEscrow)
    assert "escrow" in str(err) or "vault" in str(err)


def test_framework_aborts() -> None:
    fa = "Move abort in 0x1::fungible_asset: EINSUFFICIENT_BALANCE(0x10004): Insufficient balance to withdraw or transfer."
    err = MoveAbortError.from_vm_status(fa, package_address=PKG)
    assert type(err) is FungibleAssetInsufficientBalance
    assert err.code == 0x10004 and err.module == "fungible_asset" and err.address == "0x" + "0" * 63 + "1"
    coin = "Move abort in 0x1::coin: EINSUFFICIENT_BALANCE(0x10006): Not enough coins to complete transaction"
    assert type(MoveAbortError.from_vm_status(coin)) is CoinInsufficientBalance
    # Without reason info (no error map on the node) the code still maps, category bits or not.
    bare = MoveAbortError.from_vm_status("Move abort in 0x1::coin: 0x10006")
    assert type(bare) is CoinInsufficientBalance and bare.reason == "EINSUFFICIENT_BALANCE" and bare.code == 0x10006


def test_bare_pictor_code_maps_by_code() -> None:
    err = MoveAbortError.from_vm_status(f"Move abort in {PKG}::escrow: 0x6", package_address=PKG)
    assert type(err) is EscrowInsufficientEscrow and err.description == "The escrow cannot cover this task's quote."


def test_other_package_is_generic_when_the_package_is_known() -> None:
    status = vm_status(OTHER, "vault", "E_INSUFFICIENT_BALANCE", 2, "Something else.")
    err = MoveAbortError.from_vm_status(status, package_address=PKG)
    assert type(err) is MoveAbortError and err.reason == "E_INSUFFICIENT_BALANCE" and err.address == OTHER


def test_unknown_reason_is_generic() -> None:
    err = MoveAbortError.from_vm_status(vm_status(PKG, "vault", "E_NEW_RULE", 99, "New."), package_address=PKG)
    assert type(err) is MoveAbortError and err.code == 99 and err.description == "New."


def test_leading_zero_package_address_short_form() -> None:
    pkg = "0x00" + "12" * 31
    status = vm_status(pkg, "token", "E_MAX_SUPPLY", 3, "Minting would exceed the maximum supply.")
    assert status.startswith("Move abort in 0x12")
    err = MoveAbortError.from_vm_status(status, package_address=pkg)
    assert type(err) is errors.TokenMaxSupply and err.address == pkg


@pytest.mark.parametrize(
    "status",
    [
        "Out of gas",
        "EXECUTION_FAILURE { status_code: ARITHMETIC_ERROR, location: 0x1::m, function: 0, code_offset: 3 }",
        "Transaction Executed and Committed",
    ],
)
def test_non_aborts(status: str) -> None:
    assert MoveAbortError.from_vm_status(status) is None
    err = TransactionFailed.from_vm_status(status, txn_hash="0x1", version=5)
    assert type(err) is TransactionFailed and err.vm_status == status and err.version == 5


def test_node_rejected_shapes() -> None:
    err = NodeRejected.from_response(
        400,
        {
            "message": "Invalid transaction: Type: Validation Code: SEQUENCE_NUMBER_TOO_OLD",
            "error_code": "vm_error",
            "vm_error_code": 3,
        },
    )
    assert err.status_code == 400 and err.error_code == "vm_error" and err.vm_error_code == 3
    assert err.vm_status_name == "SEQUENCE_NUMBER_TOO_OLD" and isinstance(err, ChainError)
    too_new = NodeRejected.from_response(400, {"message": "Code: SEQUENCE_NUMBER_TOO_NEW", "error_code": "vm_error"})
    assert too_new.vm_status_name == "SEQUENCE_NUMBER_TOO_NEW"
    mempool = NodeRejected.from_response(400, {"message": "old", "error_code": "sequence_number_too_old"})
    assert mempool.vm_status_name == "SEQUENCE_NUMBER_TOO_OLD"
    missing = NodeRejected.from_response(404, {"message": "Account not found", "error_code": "account_not_found"})
    assert missing.is_not_found and missing.vm_status_name is None
    assert NodeRejected.from_response(413, None, "too large").message == "too large"


def test_localnet_vm_renders_what_we_parse() -> None:
    """The localnet's own abort rendering (where it exists) parses back to our classes."""
    core = pytest.importorskip("chain.localnet.vm.core")
    pytest.importorskip("chain.localnet.vm.pictor")
    checked = 0
    for (address, module), error_set in core.ERROR_SETS.items():
        for name, (code, description) in error_set.codes.items():
            err = MoveAbortError.from_vm_status(error_set.abort(name).vm_status, package_address=PKG)
            assert err is not None and err.reason == name and err.code == code and err.description == description
            if module in PICTOR_ABORTS and address == PKG:
                assert type(err) is abort_class_for(module, name)
                checked += 1
    assert checked == sum(len(rows) for rows in PICTOR_ABORTS.values())
