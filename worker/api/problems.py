"""Errors as RFC 9457 problem details (`application/problem+json`), for every error the API
returns: HTTP errors, validation errors, oversized bodies and unexpected faults alike."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

log = structlog.get_logger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem: `type` and `title` say what kind, `detail` says what happened."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class ProblemError(Exception):
    """Raised by handlers for an error response with a detail and optional extra members."""

    def __init__(
        self, status: int, detail: str, *, headers: dict[str, str] | None = None, **extensions: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.extensions = extensions


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = Problem(
        title=_title(status), status=status, detail=detail, instance=instance, **extensions
    ).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting problem+json errors for these statuses."""
    return {
        status: {
            "model": Problem,
            "description": _title(status),
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)


async def _on_problem(request: Request, error: ProblemError) -> JSONResponse:
    return problem_response(
        error.status,
        error.detail,
        instance=request.url.path,
        headers=error.headers,
        **error.extensions,
    )


async def _on_http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    detail = error.detail if isinstance(error.detail, str) else None
    headers = getattr(error, "headers", None)
    if error.status_code == 405:
        # Starlette names only the first route matching the path; list every method.
        headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    return problem_response(error.status_code, detail, instance=request.url.path, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    # From the OpenAPI paths: public and stable, where the router's layout is neither.
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern, _, _ = compile_path(template)
        if pattern.match(request.url.path):
            methods.update(method.upper() for method in operations)
    return sorted(methods)


async def _on_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = [
        {
            "location": ".".join(str(part) for part in e.get("loc", ())),
            "message": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in error.errors()[:50]
    ]
    summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
    return problem_response(
        422, f"the request is not valid: {summary}", instance=request.url.path, errors=errors
    )


async def _on_unexpected(request: Request, error: Exception) -> JSONResponse:
    # The traceback goes to the log, never to the client.
    log.error(
        "unhandled error in request", path=request.url.path, method=request.method, exc_info=error
    )
    return problem_response(
        500, "an unexpected error occurred; it has been logged", instance=request.url.path
    )


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
