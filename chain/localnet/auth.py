"""Transaction authenticators: their BCS, signing messages, verification, authentication keys and API JSON.

``TransactionAuthenticator`` (``aptos-core`` ``types/src/transaction/authenticator.rs``):
0 Ed25519, 1 MultiEd25519, 2 MultiAgent, 3 FeePayer, 4 SingleSender. ``AccountAuthenticator``: 0 Ed25519,
1 MultiEd25519, 2 SingleKey, 3 MultiKey, 4 NoAccountAuthenticator (simulations only). What each signer signs:

* single signer: ``sha3("APTOS::RawTransaction") ‖ bcs(RawTransaction)``;
* multi-agent: ``sha3("APTOS::RawTransactionWithData") ‖ 0x00 ‖ bcs(raw) ‖ bcs(secondary addresses)``;
* fee payer: ``… ‖ 0x01 ‖ bcs(raw) ‖ bcs(secondary addresses) ‖ fee payer address``. The sender and the
  secondary signers may sign it with the fee payer address or with ``0x0`` in its place (SDKs sign before
  the sponsor is known); the fee payer signs it with its own address. Aptos accepts both, so does this.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from chain import signatures
from chain.localnet.codec import BcsReader, hex0x, uleb128
from chain.localnet.vm import core
from chain.signatures import AnyKey

RAW_TXN_PREFIX = hashlib.sha3_256(b"APTOS::RawTransaction").digest()
RAW_TXN_WITH_DATA_PREFIX = hashlib.sha3_256(b"APTOS::RawTransactionWithData").digest()

TXN_ED25519 = 0
TXN_MULTI_ED25519 = 1
TXN_MULTI_AGENT = 2
TXN_FEE_PAYER = 3
TXN_SINGLE_SENDER = 4

ACCOUNT_ED25519 = 0
ACCOUNT_MULTI_ED25519 = 1
ACCOUNT_SINGLE_KEY = 2
ACCOUNT_MULTI_KEY = 3
ACCOUNT_NONE = 4

#: ``MAX_NUM_OF_SIGS``: signatures across every account authenticator of a transaction.
MAX_NUM_OF_SIGS = 32
ZERO_ADDRESS = core.norm_addr("0x0")


@dataclass
class AccountAuth:
    """One ``AccountAuthenticator``: which scheme, its public key material and its signature(s)."""

    variant: int
    #: Ed25519 key, or MultiEd25519 ``keys ‖ threshold``.
    public_key: bytes = b""
    #: Ed25519 signature, or MultiEd25519 ``signatures ‖ bitmap``.
    signature: bytes = b""
    #: SingleKey: its one key; MultiKey: every key.
    keys: list[AnyKey] = field(default_factory=list)
    #: SingleKey: its one signature; MultiKey: the signatures in bitmap order.
    signatures: list[AnyKey] = field(default_factory=list)
    required: int = 1
    bitmap: bytes = b""

    def auth_key(self) -> str | None:
        """The authentication key these keys stand for; ``None`` for a ``NoAccountAuthenticator``."""
        if self.variant == ACCOUNT_ED25519:
            return core.norm_addr(signatures.authentication_key(signatures.ED25519_SCHEME, self.public_key))
        if self.variant == ACCOUNT_MULTI_ED25519:
            return core.norm_addr(signatures.authentication_key(signatures.MULTI_ED25519_SCHEME, self.public_key))
        if self.variant == ACCOUNT_SINGLE_KEY:
            return core.norm_addr(signatures.single_key_auth_key(self.keys[0]))
        if self.variant == ACCOUNT_MULTI_KEY:
            return core.norm_addr(signatures.multi_key_auth_key(self.keys, self.required))
        return None

    def signature_count(self) -> int:
        """How many signatures this authenticator carries."""
        if self.variant == ACCOUNT_ED25519:
            return 1
        if self.variant == ACCOUNT_MULTI_ED25519:
            return len(signatures.bitmap_indices(self.signature[-signatures.MULTI_ED25519_BITMAP_LEN :]))
        return len(self.signatures)

    def verify(self, message: bytes) -> bool:
        """The signature(s) verify over ``message`` (a ``NoAccountAuthenticator`` never does)."""
        if self.variant == ACCOUNT_ED25519:
            return signatures.ed25519_verify(self.public_key, message, self.signature)
        if self.variant == ACCOUNT_MULTI_ED25519:
            return signatures.multi_ed25519_verify(self.public_key, message, self.signature)
        if self.variant == ACCOUNT_SINGLE_KEY:
            return signatures.any_verify(self.keys[0], message, self.signatures[0])
        if self.variant == ACCOUNT_MULTI_KEY:
            return signatures.multi_key_verify(self.keys, self.required, self.signatures, self.bitmap, message)
        return False

    def json(self) -> dict[str, Any]:
        """The API's ``AccountSignature`` JSON."""
        if self.variant == ACCOUNT_ED25519:
            return {"public_key": hex0x(self.public_key), "signature": hex0x(self.signature), "type": "ed25519_signature"}
        if self.variant == ACCOUNT_MULTI_ED25519:
            keys, threshold = signatures.parse_multi_ed25519_key(self.public_key) or ([], 0)
            body = self.signature[: -signatures.MULTI_ED25519_BITMAP_LEN]
            return {
                "public_keys": [hex0x(k) for k in keys],
                "signatures": [hex0x(body[i : i + 64]) for i in range(0, len(body), 64)],
                "threshold": threshold,
                "bitmap": hex0x(self.signature[-signatures.MULTI_ED25519_BITMAP_LEN :]),
                "type": "multi_ed25519_signature",
            }
        if self.variant == ACCOUNT_SINGLE_KEY:
            return {
                "public_key": self.keys[0].json(),
                "signature": self.signatures[0].json(),
                "type": "single_key_signature",
            }
        if self.variant == ACCOUNT_MULTI_KEY:
            indices = signatures.bitmap_indices(self.bitmap)
            return {
                "public_keys": [k.json() for k in self.keys],
                "signatures": [
                    {"index": i, "signature": s.json()} for i, s in zip(indices, self.signatures, strict=False)
                ],
                "signatures_required": self.required,
                "type": "multi_key_signature",
            }
        return {"type": "no_account_signature"}


@dataclass
class TxnAuth:
    """A ``TransactionAuthenticator``: the sender's authenticator and, for multi-agent and fee-payer
    transactions, the secondary signers and the fee payer."""

    variant: int
    sender: AccountAuth
    secondary_addresses: list[str] = field(default_factory=list)
    secondary: list[AccountAuth] = field(default_factory=list)
    fee_payer_address: str | None = None
    fee_payer: AccountAuth | None = None

    def signers(self) -> list[AccountAuth]:
        """Every account authenticator, sender first, fee payer last."""
        out = [self.sender, *self.secondary]
        return out + [self.fee_payer] if self.fee_payer is not None else out

    def verify(self, raw: bytes) -> bool:
        """Every signature verifies over its signing message (``TransactionAuthenticator::verify``)."""
        if sum(a.signature_count() for a in self.signers()) > MAX_NUM_OF_SIGS:
            return False
        if self.variant == TXN_MULTI_AGENT:
            message = multi_agent_message(raw, self.secondary_addresses)
            return all(a.verify(message) for a in (self.sender, *self.secondary))
        if self.variant == TXN_FEE_PAYER:
            assert self.fee_payer is not None and self.fee_payer_address is not None
            with_payer = fee_payer_message(raw, self.secondary_addresses, self.fee_payer_address)
            without_payer = fee_payer_message(raw, self.secondary_addresses, ZERO_ADDRESS)
            return all(
                a.verify(without_payer) or a.verify(with_payer) for a in (self.sender, *self.secondary)
            ) and self.fee_payer.verify(with_payer)
        return self.sender.verify(RAW_TXN_PREFIX + raw)

    def all_addresses(self, sender: str) -> list[str]:
        """Sender, secondary signers and fee payer (``SignedTransaction::contains_duplicate_signers`` reads these)."""
        out = [sender, *self.secondary_addresses]
        return out + [self.fee_payer_address] if self.fee_payer_address is not None else out

    def json(self) -> dict[str, Any]:
        """The API's ``TransactionSignature`` JSON."""
        if self.variant == TXN_ED25519:
            return self.sender.json()
        if self.variant == TXN_MULTI_ED25519:
            return self.sender.json()
        if self.variant == TXN_SINGLE_SENDER:
            # The node writes the account signature's fields under the outer "single_sender" tag.
            return {**self.sender.json(), "type": "single_sender"}
        out: dict[str, Any] = {
            "sender": self.sender.json(),
            "secondary_signer_addresses": [core.standard_addr(a) for a in self.secondary_addresses],
            "secondary_signers": [a.json() for a in self.secondary],
        }
        if self.variant == TXN_MULTI_AGENT:
            return {**out, "type": "multi_agent_signature"}
        assert self.fee_payer is not None and self.fee_payer_address is not None
        return {
            **out,
            "fee_payer_address": core.standard_addr(self.fee_payer_address),
            "fee_payer_signer": self.fee_payer.json(),
            "type": "fee_payer_signature",
        }


def multi_agent_message(raw: bytes, secondary: list[str]) -> bytes:
    """What every signer of a multi-agent transaction signs (``RawTransactionWithData::MultiAgent``)."""
    return RAW_TXN_WITH_DATA_PREFIX + b"\x00" + raw + _addresses(secondary)


def fee_payer_message(raw: bytes, secondary: list[str], fee_payer: str) -> bytes:
    """What the signers of a fee-payer transaction sign (``RawTransactionWithData::MultiAgentWithFeePayer``)."""
    return RAW_TXN_WITH_DATA_PREFIX + b"\x01" + raw + _addresses(secondary) + core.addr_bytes(fee_payer)


def _addresses(addresses: list[str]) -> bytes:
    return uleb128(len(addresses)) + b"".join(core.addr_bytes(a) for a in addresses)


# --------------------------------------------------------------------------- BCS decoding


def _read_any(r: BcsReader, what: str) -> AnyKey:
    key, r.pos = signatures.read_any(r.data, r.pos, what)
    return key


def read_account_authenticator(r: BcsReader) -> AccountAuth:
    """Decode one ``AccountAuthenticator`` (``ValueError`` when malformed or of a scheme the localnet lacks)."""
    return _read_scheme(r, r.uleb())


def _read_scheme(r: BcsReader, variant: int) -> AccountAuth:
    """The fields of the account authenticator ``variant`` (its tag already read)."""
    if variant in (ACCOUNT_ED25519, ACCOUNT_MULTI_ED25519):
        auth = AccountAuth(variant, public_key=r.bytes_(), signature=r.bytes_())
        if variant == ACCOUNT_ED25519:
            if len(auth.public_key) != signatures.ED25519_KEY_LEN or len(auth.signature) != signatures.ED25519_SIG_LEN:
                raise ValueError("bad Ed25519 key or signature length")
            return auth
        if signatures.parse_multi_ed25519_key(auth.public_key) is None:
            raise ValueError("malformed MultiEd25519 public key")
        body = len(auth.signature) - signatures.MULTI_ED25519_BITMAP_LEN
        if body < 0 or body % signatures.ED25519_SIG_LEN:
            raise ValueError("malformed MultiEd25519 signature")
        return auth
    if variant == ACCOUNT_SINGLE_KEY:
        key = _read_any(r, "public key")
        signature = _read_any(r, "signature")
        if not signatures.any_key_valid(key):
            raise ValueError(f"malformed {signatures.ANY_NAMES[key.variant]} public key")
        return AccountAuth(variant, keys=[key], signatures=[signature])
    if variant == ACCOUNT_MULTI_KEY:
        keys = [_read_any(r, "public key") for _ in range(r.uleb())]
        required = r.u8()
        sigs = [_read_any(r, "signature") for _ in range(r.uleb())]
        bitmap = r.bytes_()
        if not (1 <= len(keys) <= signatures.MAX_MULTI_KEYS) or not (1 <= required <= len(keys)):
            raise ValueError("a MultiKey needs 1 to 32 keys and 1 to that many required signatures")
        if len(bitmap) > signatures.MAX_BITMAP_BYTES or not all(signatures.any_key_valid(k) for k in keys):
            raise ValueError("malformed MultiKey authenticator")
        return AccountAuth(variant, keys=keys, signatures=sigs, required=required, bitmap=bitmap)
    if variant == ACCOUNT_NONE:
        return AccountAuth(variant)
    if variant == 5:
        raise ValueError("account abstraction authenticators are not supported by the localnet")
    raise ValueError(f"unknown account authenticator variant {variant}")


def read_transaction_authenticator(r: BcsReader) -> TxnAuth:
    """Decode a ``TransactionAuthenticator`` (``ValueError`` when malformed)."""
    variant = r.uleb()
    if variant == TXN_ED25519:
        return TxnAuth(variant, _read_scheme(r, ACCOUNT_ED25519))
    if variant == TXN_MULTI_ED25519:
        return TxnAuth(variant, _read_scheme(r, ACCOUNT_MULTI_ED25519))
    if variant in (TXN_MULTI_AGENT, TXN_FEE_PAYER):
        sender = read_account_authenticator(r)
        addresses = [core.norm_addr(r.take(32)) for _ in range(r.uleb())]
        secondary = [read_account_authenticator(r) for _ in range(r.uleb())]
        if variant == TXN_MULTI_AGENT:
            return TxnAuth(variant, sender, addresses, secondary)
        fee_payer_address = core.norm_addr(r.take(32))
        return TxnAuth(variant, sender, addresses, secondary, fee_payer_address, read_account_authenticator(r))
    if variant == TXN_SINGLE_SENDER:
        return TxnAuth(variant, read_account_authenticator(r))
    raise ValueError(f"unknown transaction authenticator variant {variant}")
