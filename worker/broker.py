"""The Redis broker transport, made robust against what other producers may push.

An item in the Redis queue that is not a kombu envelope at all (not JSON, or JSON without
`properties`) makes kombu's transport raise while reading it, and the whole worker stops
with "Unrecoverable error" (the item is popped, so the restarted worker goes on, but every
batch in flight waits for the visibility timeout). `guard_redis_envelopes` reads such an
item as a stand-in envelope with no task name, which Celery logs ("unknown message", with
the reason and the item's start) and drops. Malformed messages that are envelopes are
refused in `worker.tasks.messages`.
"""

from __future__ import annotations

import functools
import json
import threading
import uuid
from typing import Any

__all__ = ["guard_redis_envelopes"]


def guard_redis_envelopes() -> None:
    """Make kombu's Redis transport read a queue item that is not an envelope as a
    stand-in that Celery drops with the reason, instead of stopping the worker. Only the
    two methods that read queue items are guarded: the same `loads` also reads unacked
    messages back for redelivery, whose stored form is a list. Idempotent."""
    from kombu.transport import redis as transport_module  # noqa: PLC0415 -- 0.40 s, in workers only (worker.app loads this module)

    # kombu's transport internals are not part of its typed API: handled as Any here.
    transport: Any = transport_module

    if getattr(transport.loads, "guards_envelopes", False):
        return
    loads = transport.loads

    def load_envelope(text: Any) -> Any:
        if not getattr(_reading, "queue_item", False):
            return loads(text)
        try:
            envelope = loads(text)
        except ValueError as error:  # json.JSONDecodeError
            return _stand_in(text, f"queue item is not JSON ({error})")
        if not (
            isinstance(envelope, dict)
            and isinstance(envelope.get("properties"), dict)
            and isinstance(envelope["properties"].get("delivery_info"), dict)
            and isinstance(envelope.get("headers", {}), dict)
            and "body" in envelope
        ):
            return _stand_in(text, "queue item is not a kombu message envelope")
        return envelope

    load_envelope.guards_envelopes = True  # type: ignore[attr-defined]  # a marker for idempotence
    transport.loads = load_envelope
    transport.Channel._brpop_read = _reading_queue_items(transport.Channel._brpop_read)
    transport.Channel._get = _reading_queue_items(transport.Channel._get)


_reading = threading.local()


def _reading_queue_items(method: Any) -> Any:
    @functools.wraps(method)
    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        _reading.queue_item = True
        try:
            return method(self, *args, **kwargs)
        finally:
            _reading.queue_item = False

    return read


def _stand_in(text: Any, reason: str) -> dict[str, Any]:
    head = text[:200] if isinstance(text, str) else repr(text)[:200]
    return {
        "body": json.dumps({"dropped": reason, "item_starts": head}),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {},  # no task name: Celery logs "unknown message" and rejects it
        "properties": {
            "delivery_tag": str(uuid.uuid4()),
            "delivery_mode": 2,
            "priority": 0,
            "delivery_info": {"exchange": "", "routing_key": ""},
        },
    }
