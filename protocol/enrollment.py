"""Enrollment of a node key with the API: the signed message (shared by ``pictor worker init`` and api/enrollment.py).

The node proves it holds the key it enrolls by signing, with that key::

    PICTOR-NODE-ENROLL-V1\\n<enrollment token>\\n<worker id>\\n<public key, 64 lowercase hex digits>

The domain line keeps this signature from being valid as anything else (requests, transactions, proofs); the
token ties it to one enrollment, so a captured signature cannot enroll the key for another worker.
"""

from __future__ import annotations

from typing import Any

from chain.keys import public_key_bytes

DOMAIN = "PICTOR-NODE-ENROLL-V1"


def enrollment_message(token: str, worker_id: str | int, public_key: bytes) -> bytes:
    """The exact bytes a node signs to enroll ``public_key`` for ``worker_id`` with ``token``."""
    if "\n" in token or "\n" in str(worker_id):
        raise ValueError("the token and worker id hold no newline")
    return "\n".join([DOMAIN, token, str(worker_id), public_key_bytes(public_key).hex()]).encode()


def enrollment_body(node: Any, token: str, worker_id: str | int) -> dict[str, str]:
    """The JSON body of ``POST /nodes/enroll`` for the node key ``node`` (an aptos_sdk Account)."""
    public_key = public_key_bytes(node)
    signature = node.sign(enrollment_message(token, worker_id, public_key)).data()
    return {
        "worker_id": str(worker_id),
        "enrollment_token": token,
        "public_key": "0x" + public_key.hex(),
        "signature": "0x" + signature.hex(),
    }
