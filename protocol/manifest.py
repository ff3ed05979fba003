"""A worker's signed result manifest: its canonical bytes, its signature and the result hash attested on chain."""

from __future__ import annotations

import hashlib
from typing import Any

from aptos_sdk.account import Account

from chain.keys import verify_signature
from protocol.canonical import canonical_json


def sign_manifest(key: Account, manifest: dict[str, Any]) -> str:
    """The node key's Ed25519 signature over the canonical JSON, as 128 hex digits."""
    return key.sign(canonical_json(manifest)).data().hex()


def manifest_signed_by(public_key: bytes, manifest: dict[str, Any], signature: bytes) -> bool:
    """Whether ``signature`` is the node key's signature over the manifest's canonical JSON."""
    return verify_signature(public_key, canonical_json(manifest), signature)


def result_hash(manifest: dict[str, Any]) -> bytes:
    """``sha256(canonical JSON)``: the result hash submitted on chain and attested by checkers."""
    return hashlib.sha256(canonical_json(manifest)).digest()


def reference_ms(render_seconds: float, multiplier: float | None) -> int:
    """Reference-node milliseconds: render time × performance multiplier (1.0 when unknown)."""
    return max(0, round(render_seconds * 1000.0 * (multiplier or 1.0)))
