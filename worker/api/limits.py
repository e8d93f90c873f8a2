"""A cap on request bodies (NEWS_INGEST_API_MAX_BODY_BYTES): refused from Content-Length
before a byte is read, and counted while streaming for chunked bodies, so a client cannot
make the API buffer more than the cap."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.api.problems import problem_response


class BodySizeLimit:
    """Pure ASGI middleware: 413 problem when a request body exceeds `max_bytes`."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = problem_response(413, self._detail(), instance=scope.get("path"))
            await response(scope, receive, send)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route's body read: FastAPI re-raises HTTPExceptions
                    # from there, and the problem handler turns it into the response.
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, limited_receive, send)

    def _detail(self) -> str:
        return (
            f"the request body is larger than {self.max_bytes} bytes "
            "(NEWS_INGEST_API_MAX_BODY_BYTES)"
        )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
