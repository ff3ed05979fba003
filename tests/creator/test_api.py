"""The API client's sign-in bytes (the server's own) and how API errors become CreatorError exit codes."""

from __future__ import annotations

import httpx

from api.signin import signing_message
from creator.api import error_detail, signin_signing_message, status_error


def test_signin_message_bytes_match_the_server() -> None:
    text = "localhost:8000 wants you to sign in with your Aptos account:\n0x1"
    assert signin_signing_message(text) == signing_message(text)


def test_api_errors_are_relayed_with_their_detail() -> None:
    problems = httpx.Response(422, json={"detail": "bad", "problems": [{"field": "frames", "message": "empty"}]})
    assert error_detail(problems) == "frames: empty"
    fastapi = httpx.Response(422, json={"detail": [{"loc": ["body", "budget"], "msg": "too small"}]})
    assert error_detail(fastapi) == "budget: too small"
    assert error_detail(httpx.Response(404, json={"detail": "no such job"})) == "no such job"
    assert error_detail(httpx.Response(502, text="bad gateway")) == "bad gateway"
    refused = status_error("GET", "/jobs/7", httpx.Response(404, json={"detail": "no such job"}))
    assert refused.code == 2 and str(refused) == "GET /jobs/7: HTTP 404: no such job"
    assert status_error("GET", "/jobs/7", httpx.Response(503, text="")).code == 1
