"""Errors of the localnet's REST API: VM status codes, ``AptosError`` answers and the prologue's discard."""

from __future__ import annotations

from typing import Any

# VM status codes, from move-core-types' ``vm_status.rs`` (StatusCode).
STATUS_CODES: dict[str, int] = {
    "UNKNOWN_VALIDATION_STATUS": 0,
    "INVALID_SIGNATURE": 1,
    "INVALID_AUTH_KEY": 2,
    "SEQUENCE_NUMBER_TOO_OLD": 3,
    "SEQUENCE_NUMBER_TOO_NEW": 4,
    "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE": 5,
    "TRANSACTION_EXPIRED": 6,
    "SENDING_ACCOUNT_DOES_NOT_EXIST": 7,
    "EXCEEDED_MAX_TRANSACTION_SIZE": 10,
    "MAX_GAS_UNITS_EXCEEDS_MAX_GAS_UNITS_BOUND": 13,
    "MAX_GAS_UNITS_BELOW_MIN_TRANSACTION_GAS_UNITS": 14,
    "GAS_UNIT_PRICE_BELOW_MIN_BOUND": 15,
    "GAS_UNIT_PRICE_ABOVE_MAX_BOUND": 16,
    "BAD_CHAIN_ID": 23,
    "SEQUENCE_NUMBER_TOO_BIG": 24,
    "SECONDARY_KEYS_ADDRESSES_COUNT_MISMATCH": 27,
    "SIGNERS_CONTAIN_DUPLICATES": 28,
    "NUMBER_OF_TYPE_ARGUMENTS_MISMATCH": 1076,
    "LINKER_ERROR": 1081,
    "FUNCTION_RESOLUTION_FAILURE": 1091,
    "NUMBER_OF_ARGUMENTS_MISMATCH": 1098,
    "FAILED_TO_DESERIALIZE_ARGUMENT": 1100,
    "NUMBER_OF_SIGNER_ARGUMENTS_MISMATCH": 1101,
    "EXECUTE_ENTRY_FUNCTION_CALLED_ON_NON_ENTRY_FUNCTION": 1103,
    "UNKNOWN_INVARIANT_VIOLATION_ERROR": 2000,
    "EXECUTED": 4001,
    "OUT_OF_GAS": 4002,
    "RESOURCE_DOES_NOT_EXIST": 4003,
    "RESOURCE_ALREADY_EXISTS": 4004,
    "ABORTED": 4016,
    "ARITHMETIC_ERROR": 4017,
    "VECTOR_OPERATION_ERROR": 4018,
}


def status_type(code: int) -> str:
    """``StatusType`` of a VM status code, as Aptos prints it (``{:?}``)."""
    if code < 1000:
        return "Validation"
    if code < 2000:
        return "Verification"
    if code < 3000:
        return "InvariantViolation"
    if code < 4000:
        return "Deserialization"
    if code < 5000:
        return "Execution"
    return "Unknown"


class ApiError(Exception):
    """An error answer of the REST API: HTTP status plus the ``AptosError`` body."""

    def __init__(self, status: int, message: str, error_code: str, vm_error_code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.vm_error_code = vm_error_code

    def body(self) -> dict[str, Any]:
        """The ``AptosError`` JSON object."""
        out: dict[str, Any] = {"message": self.message, "error_code": self.error_code}
        if self.vm_error_code is not None:
            out["vm_error_code"] = self.vm_error_code
        return out


def vm_error(name: str) -> ApiError:
    """A mempool/VM-validator rejection: ``400 vm_error`` with the message format of ``api/src/transactions.rs``."""
    code = STATUS_CODES[name]
    return ApiError(400, f"Invalid transaction: Type: {status_type(code)} Code: {name}", "vm_error", code)


def invalid_input(message: str, status: int = 400) -> ApiError:
    """A ``400 invalid_input`` error."""
    return ApiError(status, message, "invalid_input")


def framework_error(message: str, status: int = 400) -> ApiError:
    """Errors the web layer (poem, on Aptos) produces: bad paths, parameters, content types."""
    return ApiError(status, message, "web_framework_error")


def misc_error_status(name: str) -> str:
    """``vm_status`` text of a kept ``MiscellaneousError`` (``explain_vm_status`` in Aptos's converter)."""
    return f"Transaction Executed and Committed with Error {name}"


class Discard(Exception):
    """The transaction fails the prologue at execution time: it is dropped, not committed (as on Aptos)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status
