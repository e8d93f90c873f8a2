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

import json
from typing import Any

import structlog
from celery.exceptions import InvalidTaskError
from celery.worker.strategy import default as default_strategy

from worker.settings import get_settings
from worker.sources.bounds import json_refusal

__all__ = ["checked_strategy"]

log = structlog.get_logger(__name__)

# What an `ingest.articles` message too large, too deep or with too many items to decode
# becomes: a message whose `articles` name the reason, which the task turns into one job
# with one reject (services.jobs.accept_message).
REFUSED_KEY = "__refused__"


def checked_strategy(task: Any, app: Any, consumer: Any, **options: Any) -> Any:
    """Celery's default strategy behind a check of the message's shape (`Task.Strategy`)."""
    handle = default_strategy(task, app, consumer, **options)

    def on_message(
        message: Any, body: Any, ack: Any, reject: Any, callbacks: Any, **kwargs: Any
    ) -> Any:
        if body is None:
            _bound_before_decoding(task.name, message)
        try:
            _check_shape(message, body)
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            # (kombu's DecodeError and ContentDisallowed are none of these: they reach
            # Celery's own handlers, which drop the message with the reason.)
            raise InvalidTaskError(f"malformed {task.name} message: {error}") from None
        return handle(message, body, ack, reject, callbacks, **kwargs)

    return on_message


def _bound_before_decoding(task_name: str, message: Any) -> None:
    """Measure the raw body (size, JSON depth, number of values) before anything decodes
    it: decoding a body 100,000 levels deep raised RecursionError here and stopped the
    worker; one of 200,000 tiny items took it to 511 MB. An `ingest.articles` message over
    the limits is replaced by a stand-in carrying the reason (one reject, never retried);
    any other task's is dropped as malformed."""
    raw = message.body
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw or b"")
    settings = get_settings()
    refusal = json_refusal(
        data,
        max_bytes=settings.max_message_bytes,
        max_depth=settings.max_json_depth,
        max_values=settings.max_message_items,
        what="message",
    )
    if refusal is None:
        return
    reason, _ = refusal
    if task_name != "ingest.articles":
        raise InvalidTaskError(f"malformed {task_name} message: {reason}")
    # Each RawArticle has a body: a cheap count of the articles the message held.
    articles = max(1, data.count(b'"body"'))
    log.warning("message refused before decoding", task=task_name, reason=reason)
    stand_in = [[], {"articles": {REFUSED_KEY: reason, "count": articles}}, {}]
    message.body = json.dumps(stand_in).encode()
    message._decoded_cache = None


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
