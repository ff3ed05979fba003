"""Key rotation in ``0x1::account``: ``rotate_authentication_key`` (the rotation proof challenge signed by the current
and the new key), ``rotate_authentication_key_call``, ``rotate_authentication_key_from_public_key``,
``set_originating_address``, and the ``OriginatingAddress`` table with its views.

As ``aptos-framework`` (``sources/account/account.move``) does it: the challenge is
``RotationProofChallenge { sequence_number, originator, current_auth_key, new_public_key }``, signed as a typed
message (``bcs(TypeInfo 0x1::account::RotationProofChallenge) ‖ bcs(challenge)``) by the current key
(``cap_rotate_key``) and by the new key (``cap_update_table``), each Ed25519 (scheme 0) or MultiEd25519
(scheme 1). A verified rotation moves the account's ``OriginatingAddress`` entry from the old authentication key
to the new one and emits ``0x1::account::KeyRotation`` and ``KeyRotationToPublicKey``; the unverified ones
(``…_call``, ``…_from_public_key``) leave the table alone.
"""

from __future__ import annotations

from typing import Any

from chain import signatures
from chain.localnet.vm import core, framework
from chain.localnet.vm.core import FRAMEWORK, ErrorSet, EventType, MoveAbort, Overlay, TxContext

ORIGINATING_ADDRESS_T = "0x1::account::OriginatingAddress"

# ``error::<category>(reason)`` codes, with the Move constants' doc comments as descriptions.
ERRORS = ErrorSet(
    core.norm_addr(FRAMEWORK),
    "account",
    {
        "EACCOUNT_DOES_NOT_EXIST": (0x60002, "Account does not exist"),
        "EMALFORMED_AUTHENTICATION_KEY": (0x10004, "The provided authentication key has an invalid length"),
        "EWRONG_CURRENT_PUBLIC_KEY": (0x40007, "Specified current public key is not correct"),
        "EINVALID_PROOF_OF_KNOWLEDGE": (
            0x10008,
            "Specified proof of knowledge required to prove ownership of a public key is invalid",
        ),
        "EINVALID_SCHEME": (
            0x1000C,
            "Specified scheme required to proceed with the smart contract operation - can only be ED25519_SCHEME(0) "
            "OR MULTI_ED25519_SCHEME(1)",
        ),
        "EINVALID_ORIGINATING_ADDRESS": (
            0x6000D,
            "Abort the transaction if the expected originating address is different from the originating address "
            "on-chain",
        ),
        "ENEW_AUTH_KEY_ALREADY_MAPPED": (
            0x10015,
            "The new authentication key already has an entry in the `OriginatingAddress` table",
        ),
        "ENEW_AUTH_KEY_SAME_AS_CURRENT": (
            0x10016,
            "The current authentication key and the new authentication key are the same",
        ),
        "EUNRECOGNIZED_SCHEME": (
            0x10018,
            "Specified scheme is not recognized. Should be ED25519_SCHEME(0), MULTI_ED25519_SCHEME(1), "
            "SINGLE_KEY_SCHEME(2), or MULTI_KEY_SCHEME(3).",
        ),
    },
)
_PUBKEY_SIZE = "Wrong number of bytes were given as input when deserializing an Ed25519 public key."
_SIGNATURE_SIZE = "Wrong number of bytes were given as input when deserializing an Ed25519 signature."
ED25519_ERRORS = ErrorSet(
    core.norm_addr(FRAMEWORK),
    "ed25519",
    {"E_WRONG_PUBKEY_SIZE": (0x10001, _PUBKEY_SIZE), "E_WRONG_SIGNATURE_SIZE": (0x10002, _SIGNATURE_SIZE)},
)
MULTI_ED25519_ERRORS = ErrorSet(
    core.norm_addr(FRAMEWORK),
    "multi_ed25519",
    {"E_WRONG_PUBKEY_SIZE": (0x10001, _PUBKEY_SIZE), "E_WRONG_SIGNATURE_SIZE": (0x10002, _SIGNATURE_SIZE)},
)


def _event(name: str, fields: list[tuple[str, str]]) -> EventType:
    return EventType(core.norm_addr(FRAMEWORK), "account", name, tuple(fields))


KEY_ROTATION = _event(
    "KeyRotation",
    [("account", "address"), ("old_authentication_key", "vector<u8>"), ("new_authentication_key", "vector<u8>")],
)
KEY_ROTATION_TO_PUBLIC_KEY = _event(
    "KeyRotationToPublicKey",
    [
        ("account", "address"),
        ("verified_public_key_bit_map", "vector<u8>"),
        ("public_key_scheme", "u8"),
        ("public_key", "vector<u8>"),
        ("old_auth_key", "vector<u8>"),
        ("new_auth_key", "vector<u8>"),
    ],
)


# --------------------------------------------------------------------------- the OriginatingAddress table


def originating_handle() -> str:
    """Handle of ``OriginatingAddress.address_map`` (a ``Table<address, address>`` at ``0x1``)."""
    return core.table_handle(FRAMEWORK, "account.originating_address")


def originating_resource() -> dict[str, Any]:
    """The ``OriginatingAddress`` resource genesis publishes at ``0x1``."""
    return {"address_map": {"handle": originating_handle()}}


def _table_key(auth_key: str) -> str:
    return core.table_key(originating_handle(), core.norm_addr(auth_key))


def originating_address_of(state: Overlay | dict, auth_key: str) -> str | None:
    """``OriginatingAddress[auth_key]``: the account that rotated to this authentication key, if any."""
    return core.peek(state, _table_key(auth_key))


def _ensure_table(state: Overlay) -> None:
    """Publish ``OriginatingAddress`` if this chain's genesis predates it."""
    key = core.resource_key(FRAMEWORK, ORIGINATING_ADDRESS_T)
    if not state.exists(key):
        state.put(key, originating_resource())


# --------------------------------------------------------------------------- checks shared by the entry functions


def _account(ctx: TxContext) -> dict[str, Any]:
    account = ctx.state.get(framework.account_key(ctx.sender))
    if account is None:
        raise ERRORS.abort("EACCOUNT_DOES_NOT_EXIST")
    return account


def _scheme_auth_key(scheme: int, public_key: bytes) -> bytes:
    """``get_authentication_key_from_scheme_and_public_key_bytes``-style derivation, with the deserializers' aborts."""
    if scheme == signatures.ED25519_SCHEME:
        ED25519_ERRORS.check(len(public_key) == signatures.ED25519_KEY_LEN, "E_WRONG_PUBKEY_SIZE")
        return signatures.authentication_key(scheme, public_key)
    if scheme == signatures.MULTI_ED25519_SCHEME:
        MULTI_ED25519_ERRORS.check(signatures.multi_ed25519_shape_ok(public_key), "E_WRONG_PUBKEY_SIZE")
        return signatures.authentication_key(scheme, public_key)
    raise ERRORS.abort("EINVALID_SCHEME")


def _verified_auth_key(scheme: int, public_key: bytes, signature: bytes, message: bytes) -> bytes:
    """``assert_valid_rotation_proof_signature_and_get_auth_key``."""
    auth_key = _scheme_auth_key(scheme, public_key)
    if scheme == signatures.ED25519_SCHEME:
        ED25519_ERRORS.check(len(signature) == signatures.ED25519_SIG_LEN, "E_WRONG_SIGNATURE_SIZE")
        valid = signatures.ed25519_verify(public_key, message, signature)
    else:
        MULTI_ED25519_ERRORS.check(
            len(signature) % signatures.ED25519_SIG_LEN == signatures.MULTI_ED25519_BITMAP_LEN, "E_WRONG_SIGNATURE_SIZE"
        )
        valid = signatures.multi_ed25519_verify(public_key, message, signature)
    ERRORS.check(valid, "EINVALID_PROOF_OF_KNOWLEDGE")
    return auth_key


def rotation_proof_message(sequence_number: int, originator: str, current_auth_key: bytes, new_public_key: bytes) -> bytes:
    """What both keys sign: the typed ``0x1::account::RotationProofChallenge``."""
    challenge = (
        sequence_number.to_bytes(8, "little")
        + core.addr_bytes(originator)
        + bytes(current_auth_key)
        + signatures.uleb128(len(new_public_key))
        + bytes(new_public_key)
    )
    return signatures.typed_message(FRAMEWORK, "account", "RotationProofChallenge", challenge)


def _set_key(ctx: TxContext, account: dict[str, Any], new_auth_key: bytes) -> None:
    account["authentication_key"] = bytes(new_auth_key)
    ctx.state.put(framework.account_key(ctx.sender), account)


# --------------------------------------------------------------------------- entry functions & views


@core.entry(FRAMEWORK, "account", ["u8", "vector<u8>", "u8", "vector<u8>", "vector<u8>", "vector<u8>"], gas=12)
def rotate_authentication_key(
    ctx: TxContext,
    from_scheme: int,
    from_public_key: bytes,
    to_scheme: int,
    to_public_key: bytes,
    cap_rotate_key: bytes,
    cap_update_table: bytes,
) -> None:
    """``0x1::account::rotate_authentication_key``: both keys sign the challenge; the table follows the new key."""
    address = core.norm_addr(ctx.sender)
    account = _account(ctx)
    old_auth_key = bytes(account["authentication_key"])
    if from_scheme in (signatures.ED25519_SCHEME, signatures.MULTI_ED25519_SCHEME):
        ERRORS.check(_scheme_auth_key(from_scheme, from_public_key) == old_auth_key, "EWRONG_CURRENT_PUBLIC_KEY")
    else:
        raise ERRORS.abort("EINVALID_SCHEME")
    message = rotation_proof_message(int(account["sequence_number"]), address, old_auth_key, to_public_key)
    _verified_auth_key(from_scheme, from_public_key, cap_rotate_key, message)
    new_auth_key = _verified_auth_key(to_scheme, to_public_key, cap_update_table, message)

    # update_auth_key_and_originating_address_table
    _ensure_table(ctx.state)
    current, new = core.norm_addr(old_auth_key), core.norm_addr(new_auth_key)
    ERRORS.check(new != current, "ENEW_AUTH_KEY_SAME_AS_CURRENT")
    mapped = ctx.state.get(_table_key(current))
    if mapped is not None:
        ERRORS.check(core.norm_addr(mapped) == address, "EINVALID_ORIGINATING_ADDRESS")
        ctx.state.delete(_table_key(current))
    ERRORS.check(not ctx.state.exists(_table_key(new)), "ENEW_AUTH_KEY_ALREADY_MAPPED")
    ctx.state.put(_table_key(new), address)
    ctx.emit(KEY_ROTATION, account=address, old_authentication_key=old_auth_key, new_authentication_key=new_auth_key)
    _set_key(ctx, account, new_auth_key)

    bitmap = b"\x80\x00\x00\x00" if to_scheme == signatures.ED25519_SCHEME else bytes(cap_update_table[-4:])
    ctx.emit(
        KEY_ROTATION_TO_PUBLIC_KEY,
        account=address,
        verified_public_key_bit_map=bitmap,
        public_key_scheme=to_scheme,
        public_key=bytes(to_public_key),
        old_auth_key=old_auth_key,
        new_auth_key=new_auth_key,
    )


@core.entry(FRAMEWORK, "account", ["vector<u8>"], gas=6)
def rotate_authentication_key_call(ctx: TxContext, new_auth_key: bytes) -> None:
    """``0x1::account::rotate_authentication_key_call``: sets any 32-byte key; no proof, no table entry, no event."""
    account = _account(ctx)
    ERRORS.check(len(new_auth_key) == 32, "EMALFORMED_AUTHENTICATION_KEY")
    _set_key(ctx, account, new_auth_key)


@core.entry(FRAMEWORK, "account", ["u8", "vector<u8>"], gas=8)
def rotate_authentication_key_from_public_key(ctx: TxContext, scheme: int, new_public_key: bytes) -> None:
    """``0x1::account::rotate_authentication_key_from_public_key``: the key of any scheme (0–3), unverified."""
    account = _account(ctx)
    old_auth_key = bytes(account["authentication_key"])
    if scheme in (signatures.ED25519_SCHEME, signatures.MULTI_ED25519_SCHEME):
        new_auth_key = _scheme_auth_key(scheme, new_public_key)
    elif scheme == signatures.SINGLE_KEY_SCHEME:
        new_auth_key = signatures.single_key_auth_key(_parse_single_key(new_public_key))
    elif scheme == signatures.MULTI_KEY_SCHEME:
        try:
            keys, required = signatures.parse_multi_key(new_public_key)
        except ValueError:
            raise _deserialize_abort("multi_key") from None
        new_auth_key = signatures.multi_key_auth_key(keys, required)
    else:
        raise ERRORS.abort("EUNRECOGNIZED_SCHEME")
    _set_key(ctx, account, new_auth_key)
    ctx.emit(
        KEY_ROTATION_TO_PUBLIC_KEY,
        account=core.norm_addr(ctx.sender),
        verified_public_key_bit_map=b"\x00\x00\x00\x00",
        public_key_scheme=scheme,
        public_key=bytes(new_public_key),
        old_auth_key=old_auth_key,
        new_auth_key=new_auth_key,
    )


def _parse_single_key(data: bytes) -> signatures.AnyKey:
    """``single_key::new_public_key_from_bytes``."""
    try:
        key, end = signatures.read_any(data, 0, "public key")
    except ValueError:
        raise _deserialize_abort("single_key") from None
    if end != len(data):
        raise MoveAbort(
            FRAMEWORK,
            "single_key",
            "E_INVALID_SINGLE_KEY_EXTRA_BYTES",
            0x10002,
            "There are extra bytes in the input when deserializing a Single Key public key.",
        )
    return key


def _deserialize_abort(module: str) -> MoveAbort:
    # The framework's deserializer aborts in its own modules; the localnet reports an unknown key type here.
    return MoveAbort(FRAMEWORK, module, "E_INVALID_PUBLIC_KEY_TYPE", 0x10001, "Unrecognized public key type.")


@core.entry(FRAMEWORK, "account", [], gas=6)
def set_originating_address(ctx: TxContext) -> None:
    """``0x1::account::set_originating_address``: map the account's current authentication key to its address."""
    account = _account(ctx)
    _ensure_table(ctx.state)
    address = core.norm_addr(ctx.sender)
    key = _table_key(core.norm_addr(bytes(account["authentication_key"])))
    mapped = ctx.state.get(key)
    if mapped is None:
        ctx.state.put(key, address)
    else:
        ERRORS.check(core.norm_addr(mapped) == address, "ENEW_AUTH_KEY_ALREADY_MAPPED")


@core.view(FRAMEWORK, "account", ["address"], ["0x1::option::Option<address>"], name="originating_address")
def originating_address(ctx: TxContext, auth_key: str) -> list[Any]:
    """``0x1::account::originating_address``: the account that rotated to ``auth_key``, or none."""
    return [originating_address_of(ctx.state, auth_key)]


@core.view(FRAMEWORK, "account", ["address"], ["vector<u8>"], name="get_authentication_key")
def get_authentication_key(ctx: TxContext, address: str) -> list[Any]:
    """``0x1::account::get_authentication_key``: aborts when there is no account."""
    account = ctx.state.get(framework.account_key(address))
    if account is None:
        raise ERRORS.abort("EACCOUNT_DOES_NOT_EXIST")
    return [bytes(account["authentication_key"])]
