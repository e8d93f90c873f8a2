"""The optional API key (NEWS_INGEST_API_KEY) that guards writes: POST and DELETE."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from worker.api.problems import ProblemError
from worker.settings import get_settings

# auto_error=False: a missing key is our 401 problem, and reads stay open; declaring both
# schemes documents them in the OpenAPI spec.
_bearer = HTTPBearer(auto_error=False, description="NEWS_INGEST_API_KEY as a bearer token.")
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="NEWS_INGEST_API_KEY in the X-API-Key header."
)


def require_api_key(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> None:
    """Let a write through when no key is configured, or when the key is offered in either
    header and no header offers a wrong one (ambiguous credentials are refused)."""
    expected = get_settings().api_key
    if not expected:
        return
    offered = [value for value in (bearer.credentials if bearer else None, api_key) if value]
    if offered and all(hmac.compare_digest(value.encode(), expected.encode()) for value in offered):
        return
    raise ProblemError(
        401,
        "this operation needs the API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`"
        if not offered
        else "the API key is not valid",
        headers={"WWW-Authenticate": 'Bearer realm="news-ingest"'},
    )


__all__ = ["require_api_key"]
