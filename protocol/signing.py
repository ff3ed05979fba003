"""Signed node requests: the canonical string a worker or checker node signs, and the headers that carry it.

Shared by the nodes (which sign) and the API (which verifies), so both build the same bytes:

    PICTOR-NODE-REQUEST-V1\\n<METHOD>\\n<path?query>\\n<sha256(body) hex>\\n<timestamp>\\n<nonce>\\n<node address>

signed with the node's Ed25519 key (the key registered on chain; the node address is its account address,
``sha3_256(public_key ‖ 0x00)``). The domain line keeps these signatures from ever being valid as anything else
(transactions, registration proofs, sign-in messages).
"""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from collections.abc import Generator

import httpx
from aptos_sdk.account import Account

from chain.keys import account_address, normalize_address, verify_signature

DOMAIN = "PICTOR-NODE-REQUEST-V1"
HEADER_NODE = "X-Pictor-Node"
HEADER_TIMESTAMP = "X-Pictor-Timestamp"
HEADER_NONCE = "X-Pictor-Nonce"
HEADER_SIGNATURE = "X-Pictor-Signature"
#: Nonces are 16 to 64 URL-safe characters (the signer uses 32 random hex digits).
NONCE_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")
NONCE_MIN, NONCE_MAX = 16, 64


def body_sha256(body: bytes) -> str:
    """The lowercase hex sha256 of a request body (empty body included)."""
    return hashlib.sha256(body).hexdigest()


def valid_nonce(nonce: str) -> bool:
    """Whether ``nonce`` has the accepted shape (length and alphabet)."""
    return NONCE_MIN <= len(nonce) <= NONCE_MAX and NONCE_ALPHABET.issuperset(nonce)


def canonical_request(
    method: str, path_and_query: str, body_hash: str, timestamp: int, nonce: str, node: str
) -> bytes:
    """The exact bytes a node signs for one request (see the module docstring)."""
    if not valid_nonce(nonce):
        raise ValueError("a nonce is 16 to 64 characters of [A-Za-z0-9_-]")
    if "\n" in path_and_query or not path_and_query.startswith("/"):
        raise ValueError("path must start with / and hold no newline")
    lines = [DOMAIN, method.upper(), path_and_query, body_hash.lower(), str(int(timestamp)), nonce,
             normalize_address(node)]
    return "\n".join(lines).encode()


def sign_request(
    node: Account,
    method: str,
    path_and_query: str,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four ``X-Pictor-*`` headers that authenticate one request as ``node``."""
    address = account_address(node)
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_hex(16)
    message = canonical_request(method, path_and_query, body_sha256(body), timestamp, nonce, address)
    return {
        HEADER_NODE: address,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: "0x" + node.sign(message).data().hex(),
    }


def verify_request(public_key: bytes, message: bytes, signature_hex: str) -> bool:
    """Whether ``signature_hex`` (0x-hex, 64 bytes) is ``public_key``'s signature over ``message``."""
    text = signature_hex[2:] if signature_hex.startswith("0x") else signature_hex
    try:
        signature = bytes.fromhex(text)
    except ValueError:
        return False
    return verify_signature(public_key, message, signature)


def request_target(url: httpx.URL) -> str:
    """The path and query of ``url`` exactly as sent on the wire (what the server sees as raw path)."""
    return url.raw_path.decode("ascii")


class NodeAuth(httpx.Auth):
    """httpx authentication that signs every request with the node key (``httpx.Client(auth=NodeAuth(key))``)."""

    requires_request_body = True  # the body hash is part of the signature

    def __init__(self, node: Account) -> None:
        """Sign as ``node``."""
        self.node = node

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the signature headers to ``request``."""
        request.headers.update(sign_request(self.node, request.method, request_target(request.url), request.content))
        yield request
