"""Who may talk to the API: the Host allow-list (DNS rebinding) and the API keys.

Both are pure ASGI middleware in front of every route, so a route added later is guarded
without anyone remembering to: with NEWS_INGEST_API_KEY set, every request but the probes
(/healthz, /readyz) needs it, or for reads (GET, HEAD) NEWS_INGEST_API_READ_KEY. Nothing of
the request (body, JSON) is read before the key is checked.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from worker.api.problems import ProblemError, problem_response
from worker.settings import Settings, get_settings

__all__ = [
    "PROBES",
    "ApiKeyGuard",
    "HostAllowList",
    "allowed_hosts",
    "is_loopback_host",
    "require_api_key",
]

# Liveness and readiness probes: no data, no details, open to orchestrators.
PROBES = frozenset({"/healthz", "/readyz"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_READ_METHODS = frozenset({"GET", "HEAD"})
_WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})

# Declared for the OpenAPI spec (auto_error=False: the middleware answers, not these).
_bearer = HTTPBearer(auto_error=False, description="NEWS_INGEST_API_KEY as a bearer token.")
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="NEWS_INGEST_API_KEY in the X-API-Key header."
)


def is_loopback_host(host: str) -> bool:
    """Whether binding to `host` serves this machine only."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_hosts(settings: Settings) -> frozenset[str] | None:
    """The Host names the API answers to (lower-case, no port, no brackets); None: any."""
    extra = [part.strip().lower() for part in settings.api_allowed_hosts.split(",")]
    if "*" in extra:
        return None
    names = {*LOOPBACK_NAMES, *(name.strip("[]").rstrip(".") for name in extra if name)}
    bound = (settings.api_bind_host or "").strip().strip("[]").lower()
    if bound not in _WILDCARD_BINDS:
        names.add(bound)
    return frozenset(names)


def _host_name(value: str) -> str:
    """The name of a Host header value: `[::1]:8000` -> `::1`, `Example.org.:80` -> `example.org`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else ""
    return value.rsplit(":", 1)[0].rstrip(".") if value.count(":") == 1 else value.rstrip(".")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class HostAllowList:
    """400 problem for a request whose Host is not an allowed name (probes excepted).
    The names come from the settings at each request (`get_settings` is cached)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in PROBES:
            await self.app(scope, receive, send)
            return
        hosts = allowed_hosts(get_settings())
        if hosts is None:
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host")
        if host is None or _host_name(host) not in hosts:
            response = problem_response(
                400,
                "this Host is not served here (NEWS_INGEST_API_ALLOWED_HOSTS)",
                instance=scope.get("path"),
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _digest(value: str) -> bytes:
    # Compared as digests: equal length whatever was offered, so the time taken tells
    # nothing of the key's length or prefix.
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def _matches(offered: str, keys: Iterable[bytes]) -> bool:
    digest = _digest(offered)
    matched = False
    for key in keys:  # every key compared, no early exit
        matched |= hmac.compare_digest(digest, key)
    return matched


def _offered(scope: Scope) -> list[str]:
    offered: list[str] = []
    authorization = _header(scope, b"authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        offered.append(credentials.strip() if scheme.lower() == "bearer" else "")
    api_key = _header(scope, b"x-api-key")
    if api_key is not None:
        offered.append(api_key.strip())
    return offered


class ApiKeyGuard:
    """401 problem without a valid key, 403 for a write with the read key.

    Every offered credential (bearer and X-API-Key) must be valid: ambiguous credentials
    are refused. No key configured: everything passes (loopback only; `serve` refuses a
    public address then)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = get_settings()  # cached; read per request so tests may change it
        write_keys = [_digest(settings.api_key)] if settings.api_key else []
        read_keys = [
            *write_keys,
            *([_digest(settings.api_read_key)] if settings.api_read_key else []),
        ]
        if scope["type"] != "http" or not read_keys or scope.get("path") in PROBES:
            await self.app(scope, receive, send)
            return
        offered = _offered(scope)
        reading = scope.get("method") in _READ_METHODS
        if offered and all(_matches(value, read_keys) for value in offered):
            if reading or all(_matches(value, write_keys) for value in offered):
                await self.app(scope, receive, send)
                return
            status, detail = 403, "the read key cannot write: use NEWS_INGEST_API_KEY"
        elif offered:
            status, detail = 401, "the API key is not valid"
        else:
            status, detail = (
                401,
                "this API needs the API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
            )
        response = problem_response(
            status,
            detail,
            instance=scope.get("path"),
            headers={"WWW-Authenticate": 'Bearer realm="news-ingest"'},
        )
        await response(scope, receive, send)


def require_api_key(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> None:
    """Writes: the key when one is configured. `ApiKeyGuard` has checked it already; this
    stays as a second line and documents the schemes in the OpenAPI spec."""
    expected = get_settings().api_key
    if not expected:
        return
    offered = [value for value in (bearer.credentials if bearer else None, api_key) if value]
    if offered and all(_matches(value, [_digest(expected)]) for value in offered):
        return
    raise ProblemError(
        401,
        "this operation needs the API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`"
        if not offered
        else "the API key is not valid",
        headers={"WWW-Authenticate": 'Bearer realm="news-ingest"'},
    )
