"""``chain.signatures``: authentication keys and signature checks of every key scheme, compared with the aptos-sdk's."""

from __future__ import annotations

import ecdsa
from aptos_sdk import asymmetric_crypto_wrapper, ed25519, secp256k1_ecdsa
from aptos_sdk.account_address import AccountAddress

from chain import signatures
from chain.signatures import ANY_ED25519, ANY_SECP256K1, AnyKey

MESSAGE = b"APTOS::RawTransaction ... any bytes"


def test_authentication_keys_match_the_sdk() -> None:
    ed = ed25519.PrivateKey.random().public_key()
    secp = secp256k1_ecdsa.PrivateKey.random().public_key()
    raw_ed, raw_secp = ed.key.encode(), secp.to_crypto_bytes()
    assert signatures.authentication_key(0, raw_ed) == AccountAddress.from_key(ed).address
    single_ed, single_secp = AnyKey(ANY_ED25519, raw_ed), AnyKey(ANY_SECP256K1, raw_secp)
    assert signatures.single_key_auth_key(single_ed) == AccountAddress.from_key(
        asymmetric_crypto_wrapper.PublicKey(ed)
    ).address
    assert signatures.single_key_auth_key(single_secp) == AccountAddress.from_key(
        asymmetric_crypto_wrapper.PublicKey(secp)
    ).address
    multi_ed = ed25519.MultiPublicKey([ed, ed25519.PrivateKey.random().public_key()], 1)
    assert signatures.authentication_key(1, bytes(multi_ed.to_crypto_bytes())) == AccountAddress.from_key(multi_ed).address
    multi = asymmetric_crypto_wrapper.MultiPublicKey([ed, secp], 2)
    assert signatures.multi_key_auth_key([single_ed, single_secp], 2) == AccountAddress.from_key(multi).address
    keys, required = signatures.parse_multi_key(bytes(multi.to_crypto_bytes()))
    assert (keys, required) == ([single_ed, single_secp], 2)


def test_secp256k1_low_s_only() -> None:
    key = secp256k1_ecdsa.PrivateKey.random()
    public = key.public_key().to_crypto_bytes()
    low = key.sign(MESSAGE).data()
    assert signatures.secp256k1_verify(public, MESSAGE, low)
    assert signatures.any_verify(AnyKey(ANY_SECP256K1, public), MESSAGE, AnyKey(ANY_SECP256K1, low))
    n = ecdsa.SECP256k1.order
    high = low[:32] + (n - int.from_bytes(low[32:], "big")).to_bytes(32, "big")
    assert not signatures.secp256k1_verify(public, MESSAGE, high)
    assert not signatures.secp256k1_verify(public, MESSAGE + b"!", low)
    assert not signatures.any_verify(AnyKey(ANY_SECP256K1, public), MESSAGE, AnyKey(ANY_ED25519, low))
    assert signatures.secp256k1_key_valid(public) and not signatures.secp256k1_key_valid(public[:64])


def test_multi_ed25519_needs_threshold_signatures_in_key_order() -> None:
    keys = [ed25519.PrivateKey.random() for _ in range(3)]
    public = bytes(ed25519.MultiPublicKey([k.public_key() for k in keys], 2).to_crypto_bytes())

    def signed(*indices: int) -> bytes:
        bitmap = sum(1 << (31 - i) for i in indices).to_bytes(4, "big")
        return b"".join(keys[i].sign(MESSAGE).signature for i in indices) + bitmap

    assert signatures.multi_ed25519_verify(public, MESSAGE, signed(0, 2))
    assert not signatures.multi_ed25519_verify(public, MESSAGE, signed(1))
    swapped = signed(0, 2)
    assert not signatures.multi_ed25519_verify(public, MESSAGE, swapped[64:128] + swapped[:64] + swapped[128:])
    assert signatures.parse_multi_ed25519_key(public[:-1]) is None


def test_typed_message_is_the_framework_signed_message() -> None:
    # bcs(TypeInfo { 0x1, b"account", b"RotationProofChallenge" }) followed by the inner value
    out = signatures.typed_message("0x1", "account", "RotationProofChallenge", b"\xaa")
    assert out == bytes(31) + b"\x01" + b"\x07account" + b"\x16RotationProofChallenge" + b"\xaa"
