"""A cap on request bodies (NEWS_INGEST_API_MAX_BODY_BYTES): refused from Content-Length
before a byte is read, and counted while streaming for chunked bodies, so a client cannot
make the API buffer more than the cap. A JSON body is also measured before it is decoded
(nesting depth, number of values: NEWS_INGEST_MAX_JSON_DEPTH, NEWS_INGEST_MAX_MESSAGE_ITEMS):
a 10 MiB body of small nested `extra` objects took the API from 119 to 667 MB once decoded."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.api.problems import problem_response
from worker.settings import get_settings
from worker.sources.bounds import json_refusal


class BodySizeLimit:
    """Pure ASGI middleware: 413 problem when a request body exceeds `max_bytes`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        max_json_depth: int | None = None,
        max_json_values: int | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        settings = get_settings()
        self.max_json_depth = max_json_depth or settings.max_json_depth
        self.max_json_values = max_json_values or settings.max_message_items

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = problem_response(413, self._detail(), instance=scope.get("path"))
            await response(scope, receive, send)
            return

        if scope.get("method") in ("POST", "PUT", "PATCH") and _is_json(scope):
            await self._measured_json(scope, receive, send)
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

    async def _measured_json(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the whole body (within the cap), measure it as JSON, then hand it on."""
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the route sees the disconnect as usual
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                response = problem_response(413, self._detail(), instance=scope.get("path"))
                await response(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        chunks.clear()
        refusal = json_refusal(
            body,
            max_bytes=self.max_bytes,
            max_depth=self.max_json_depth,
            max_values=self.max_json_values,
            what="the request body",
        )
        if refusal is not None:
            response = problem_response(413, refusal[0], instance=scope.get("path"))
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _detail(self) -> str:
        return (
            f"the request body is larger than {self.max_bytes} bytes "
            "(NEWS_INGEST_API_MAX_BODY_BYTES)"
        )


def _is_json(scope: Scope) -> bool:
    """Whether the route would decode the body as JSON (FastAPI does so without a type)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return True


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
