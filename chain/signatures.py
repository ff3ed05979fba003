"""Aptos account key schemes: signature verification and authentication keys of Ed25519, MultiEd25519, SingleKey
(Ed25519, Secp256k1 ECDSA) and MultiKey keys, and the framework's typed signed messages.

Used by the localnet (transaction authenticators, key rotation) and by whatever checks a wallet's signature
(sign-in): ``authentication_key``, ``single_key_auth_key``, ``any_verify``, ``ed25519_verify``, ``secp256k1_verify``.

Layouts follow ``aptos-core`` (``types/src/transaction/authenticator.rs``, ``aptos-crypto``) and the SDKs:

* an authentication key is ``sha3_256(key material ‖ scheme)``: scheme 0 Ed25519 (the 32-byte key),
  1 MultiEd25519 (the keys ‖ threshold), 2 SingleKey (``bcs(AnyPublicKey)``), 3 MultiKey (``bcs(MultiKey)``);
* ``AnyPublicKey`` / ``AnySignature`` are ``uleb128(variant) ‖ bytes``: 0 Ed25519, 1 Secp256k1 ECDSA;
* a Secp256k1 signature is ``r ‖ s`` (64 bytes) over ``sha3_256(message)``, with a low ``s`` (Aptos refuses
  the malleable high-``s`` twin);
* signature bitmaps (MultiEd25519, MultiKey) number keys from the most significant bit of the first byte.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import ecdsa
import nacl.exceptions
import nacl.signing
from ecdsa.util import sigdecode_string

ED25519_SCHEME = 0
MULTI_ED25519_SCHEME = 1
SINGLE_KEY_SCHEME = 2
MULTI_KEY_SCHEME = 3

#: ``AnyPublicKey`` / ``AnySignature`` variants the localnet verifies.
ANY_ED25519 = 0
ANY_SECP256K1 = 1
ANY_NAMES = {ANY_ED25519: "ed25519", ANY_SECP256K1: "secp256k1_ecdsa"}
_UNSUPPORTED_ANY = {2: "Secp256r1 (WebAuthn)", 3: "Keyless", 4: "Federated keyless", 5: "SLH-DSA"}

ED25519_KEY_LEN = 32
ED25519_SIG_LEN = 64
SECP256K1_SIG_LEN = 64
MAX_MULTI_ED25519_KEYS = 32
MULTI_ED25519_BITMAP_LEN = 4
MAX_MULTI_KEYS = 32
#: ``aptos_bitvec::BitVec`` deserializes at most 32 buckets (bytes).
MAX_BITMAP_BYTES = 32

_SECP_N = ecdsa.SECP256k1.order


def authentication_key(scheme: int, material: bytes) -> bytes:
    """``sha3_256(material ‖ scheme)``: the authentication key of a public key under ``scheme``."""
    return hashlib.sha3_256(bytes(material) + bytes([scheme])).digest()


def _address_bytes(address: str) -> bytes:
    """The 32 bytes of a ``0x``-hex address in any length (``0x1`` included)."""
    text = address[2:] if address.startswith("0x") else address
    return bytes.fromhex(text.rjust(64, "0"))


def uleb128(value: int) -> bytes:
    """ULEB128 encoding (BCS lengths and enum variants)."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_uleb(data: bytes, pos: int) -> tuple[int, int]:
    """Read a ULEB128 at ``pos``; returns the value and the offset after it (``ValueError`` when truncated)."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("unexpected end of bytes")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 32:
            raise ValueError("uleb128 value too large")


def read_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    """Read a BCS ``vector<u8>`` at ``pos``; returns it and the offset after it."""
    length, pos = read_uleb(data, pos)
    if pos + length > len(data):
        raise ValueError("unexpected end of bytes")
    return bytes(data[pos : pos + length]), pos + length


def typed_message(address: str, module: str, struct: str, inner_bcs: bytes) -> bytes:
    """``bcs(SignedMessage<T> { type_info, inner })``: what ``signature_verify_strict_t`` checks a signature over."""
    return _address_bytes(address) + uleb128(len(module)) + module.encode() + uleb128(len(struct)) + struct.encode() + inner_bcs


# --------------------------------------------------------------------------- single signatures


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Strict Ed25519 verification (libsodium refuses small-order keys and non-canonical signatures)."""
    if len(public_key) != ED25519_KEY_LEN or len(signature) != ED25519_SIG_LEN:
        return False
    try:
        nacl.signing.VerifyKey(bytes(public_key)).verify(bytes(message), bytes(signature))
        return True
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return False


def secp256k1_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Secp256k1 ECDSA over ``sha3_256(message)``; a high-``s`` signature is refused as Aptos does."""
    if len(signature) != SECP256K1_SIG_LEN:
        return False
    r, s = sigdecode_string(bytes(signature), _SECP_N)
    if not (0 < r < _SECP_N and 0 < s <= _SECP_N // 2):
        return False
    try:
        key = ecdsa.VerifyingKey.from_string(bytes(public_key), curve=ecdsa.SECP256k1, hashfunc=hashlib.sha3_256)
        return bool(key.verify(bytes(signature), bytes(message), hashfunc=hashlib.sha3_256))
    except (ecdsa.BadSignatureError, ecdsa.MalformedPointError, ValueError, AssertionError):
        return False


def secp256k1_key_valid(public_key: bytes) -> bool:
    """A Secp256k1 public key Aptos accepts: 65 bytes uncompressed (``0x04 ‖ x ‖ y``) or 33 compressed, on the curve."""
    if len(public_key) not in (33, 65):
        return False
    try:
        ecdsa.VerifyingKey.from_string(bytes(public_key), curve=ecdsa.SECP256k1)
        return True
    except (ecdsa.MalformedPointError, ValueError, AssertionError):
        return False


# --------------------------------------------------------------------------- AnyPublicKey / AnySignature


@dataclass(frozen=True)
class AnyKey:
    """An ``AnyPublicKey`` (or an ``AnySignature``): the variant and its raw bytes."""

    variant: int
    value: bytes

    def bcs(self) -> bytes:
        """BCS of the enum: ``uleb128(variant) ‖ uleb128(len) ‖ bytes``."""
        return uleb128(self.variant) + uleb128(len(self.value)) + self.value

    def json(self) -> dict[str, str]:
        """The API's ``{"type", "value"}`` form."""
        return {"type": ANY_NAMES.get(self.variant, str(self.variant)), "value": "0x" + self.value.hex()}


def read_any(data: bytes, pos: int, what: str) -> tuple[AnyKey, int]:
    """Read an ``AnyPublicKey`` or ``AnySignature`` at ``pos`` (``ValueError`` for schemes the localnet lacks)."""
    variant, pos = read_uleb(data, pos)
    if variant in _UNSUPPORTED_ANY:
        raise ValueError(f"{_UNSUPPORTED_ANY[variant]} {what}s are not supported by the localnet")
    if variant not in ANY_NAMES:
        raise ValueError(f"unknown {what} variant {variant}")
    value, pos = read_bytes(data, pos)
    return AnyKey(variant, value), pos


def any_key_valid(key: AnyKey) -> bool:
    """The key deserializes as its scheme's public key."""
    if key.variant == ANY_ED25519:
        return len(key.value) == ED25519_KEY_LEN
    return secp256k1_key_valid(key.value)


def any_verify(key: AnyKey, message: bytes, signature: AnyKey) -> bool:
    """Verify an ``AnySignature`` with an ``AnyPublicKey`` (schemes must match)."""
    if key.variant != signature.variant:
        return False
    if key.variant == ANY_ED25519:
        return ed25519_verify(key.value, message, signature.value)
    return secp256k1_verify(key.value, message, signature.value)


def single_key_auth_key(key: AnyKey) -> bytes:
    """Authentication key of a SingleKey account (scheme 2)."""
    return authentication_key(SINGLE_KEY_SCHEME, key.bcs())


def multi_key_bcs(keys: list[AnyKey], required: int) -> bytes:
    """``bcs(MultiKey { public_keys, signatures_required })``."""
    return uleb128(len(keys)) + b"".join(k.bcs() for k in keys) + bytes([required])


def multi_key_auth_key(keys: list[AnyKey], required: int) -> bytes:
    """Authentication key of a MultiKey account (scheme 3)."""
    return authentication_key(MULTI_KEY_SCHEME, multi_key_bcs(keys, required))


def parse_multi_key(data: bytes) -> tuple[list[AnyKey], int]:
    """``MultiKey`` from its BCS bytes (``ValueError`` when malformed or out of bounds)."""
    count, pos = read_uleb(data, 0)
    keys = []
    for _ in range(count):
        key, pos = read_any(data, pos, "public key")
        keys.append(key)
    if pos + 1 != len(data):
        raise ValueError("malformed MultiKey")
    required = data[pos]
    if not (1 <= len(keys) <= MAX_MULTI_KEYS) or not (1 <= required <= len(keys)):
        raise ValueError("a MultiKey needs 1 to 32 keys and 1 to that many required signatures")
    return keys, required


# --------------------------------------------------------------------------- bitmaps, MultiEd25519, MultiKey


def bitmap_indices(bitmap: bytes) -> list[int]:
    """Indices of the set bits, the first key being the most significant bit of the first byte."""
    return [i for i in range(len(bitmap) * 8) if bitmap[i // 8] & (0x80 >> (i % 8))]


def parse_multi_ed25519_key(data: bytes) -> tuple[list[bytes], int] | None:
    """``(keys, threshold)`` of MultiEd25519 public key bytes (``keys ‖ threshold``), ``None`` when malformed."""
    count, rest = divmod(len(data), ED25519_KEY_LEN)
    if rest != 1 or not 1 <= count <= MAX_MULTI_ED25519_KEYS:
        return None
    threshold = data[-1]
    if not 1 <= threshold <= count:
        return None
    return [bytes(data[i * 32 : i * 32 + 32]) for i in range(count)], threshold


def multi_ed25519_shape_ok(public_key: bytes) -> bool:
    """``multi_ed25519::new_unvalidated_public_key_from_bytes`` accepts these bytes (at most 32 keys, then a threshold)."""
    return len(public_key) // ED25519_KEY_LEN <= MAX_MULTI_ED25519_KEYS and len(public_key) % ED25519_KEY_LEN == 1


def multi_ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """K-of-N Ed25519: ``signature = sigs ‖ 4-byte bitmap``, at least ``threshold`` valid signatures in key order."""
    parsed = parse_multi_ed25519_key(public_key)
    if parsed is None or len(signature) < MULTI_ED25519_BITMAP_LEN:
        return False
    keys, threshold = parsed
    body, bitmap = signature[:-MULTI_ED25519_BITMAP_LEN], signature[-MULTI_ED25519_BITMAP_LEN:]
    if len(body) % ED25519_SIG_LEN:
        return False
    sigs = [body[i : i + ED25519_SIG_LEN] for i in range(0, len(body), ED25519_SIG_LEN)]
    indices = bitmap_indices(bitmap)
    if len(indices) != len(sigs) or len(sigs) < threshold or (indices and indices[-1] >= len(keys)):
        return False
    return all(ed25519_verify(keys[i], message, sig) for i, sig in zip(indices, sigs, strict=True))


def multi_key_verify(
    keys: list[AnyKey], required: int, signatures: list[AnyKey], bitmap: bytes, message: bytes
) -> bool:
    """MultiKey: one signature per set bit of ``bitmap``, at least ``required`` of them, each by its key."""
    indices = bitmap_indices(bitmap)
    if len(indices) != len(signatures) or len(signatures) < required or not indices or indices[-1] >= len(keys):
        return False
    return all(any_verify(keys[i], message, sig) for i, sig in zip(indices, signatures, strict=True))
