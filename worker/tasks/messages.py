"""Refuse malformed task messages before Celery builds a request from them.

Celery's consumer copes with a body that is not JSON (it logs the reason and acks), but a
body that is valid JSON of the wrong shape (a bare string, `{}`, a list of two) or headers of
the wrong type raise inside the consumer itself: the worker stops with "Unrecoverable error",
the unacked message goes back to the queue and stops the next worker too. Checking the shape
first turns such a message into `InvalidTaskError`, which Celery logs with the reason and
rejects without requeueing: dropped once, never retried, and the worker goes on.

One level down, an item in the queue that is not a kombu envelope at all is handled in
`worker.broker`.
"""

from __future__ import annotations

from typing import Any

from celery.exceptions import InvalidTaskError
from celery.worker.strategy import default as default_strategy

__all__ = ["checked_strategy"]


def checked_strategy(task: Any, app: Any, consumer: Any, **options: Any) -> Any:
    """Celery's default strategy behind a check of the message's shape (`Task.Strategy`)."""
    handle = default_strategy(task, app, consumer, **options)

    def on_message(
        message: Any, body: Any, ack: Any, reject: Any, callbacks: Any, **kwargs: Any
    ) -> Any:
        try:
            _check_shape(message, body)
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            # (kombu's DecodeError and ContentDisallowed are none of these: they reach
            # Celery's own handlers, which drop the message with the reason.)
            raise InvalidTaskError(f"malformed {task.name} message: {error}") from None
        return handle(message, body, ack, reject, callbacks, **kwargs)

    return on_message


def _check_shape(message: Any, body: Any) -> None:
    headers = message.headers
    if not isinstance(headers, dict):
        raise TypeError("headers are not a mapping")
    payload = message.payload if body is None else body  # a DecodeError propagates
    if body is None and not (isinstance(payload, dict) and "args" in payload):
        # Protocol 2: the body is [args, kwargs, embed], the request fields are headers.
        if not isinstance(payload, list | tuple) or len(payload) != 3:
            raise ValueError("body is not [args, kwargs, embed]")
        args, kwargs, embed = payload
        fields = headers
    else:
        # Protocol 1 (or a hybrid): one mapping holds arguments and request fields.
        if not isinstance(payload, dict):
            raise TypeError("protocol 1 body is not a mapping")
        args, kwargs, embed = payload.get("args", ()), payload.get("kwargs", {}), None
        fields = {**payload, **headers}
    if not isinstance(args, list | tuple):
        raise TypeError("args is not a list")
    if not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
        raise TypeError("kwargs is not a mapping of names")
    if embed is not None and not isinstance(embed, dict):
        raise TypeError("embed is not a mapping")
    for name in ("id", "task"):
        if not isinstance(fields.get(name), str) or not fields[name]:
            raise ValueError(f"{name} is missing or not a string")
    retries = fields.get("retries")
    if retries is not None and (not isinstance(retries, int) or isinstance(retries, bool)):
        raise TypeError("retries is not an integer")
    limits = fields.get("timelimit")
    if limits and not (
        isinstance(limits, list | tuple)
        and len(limits) == 2
        and all(
            limit is None or (isinstance(limit, int | float) and not isinstance(limit, bool))
            for limit in limits
        )
    ):
        raise ValueError("timelimit is not [hard, soft] seconds")
