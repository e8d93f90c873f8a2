"""At start, make sure the Redis servers we write to will not evict what we store there.

Under `maxmemory-policy allkeys-*` a full Redis deletes any key to make room: queued task
messages (the broker's lists) and the event stream vanish without an error. `noeviction`
refuses writes instead (a producer sees the error and retries); `volatile-*` only evicts keys
that have a TTL, which our queues and stream never do.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis
import structlog
from redis.exceptions import RedisError, ResponseError

from worker.settings import Settings, get_settings

__all__ = ["EvictingRedisError", "check_eviction_policies", "eviction_policy"]

log = structlog.get_logger(__name__)


class EvictingRedisError(RuntimeError):
    """A Redis we write to would evict our keys when full."""


def eviction_policy(url: str) -> str | None:
    """The server's `maxmemory-policy`, or None if it cannot be read (unreachable, or
    CONFIG disabled, as on some managed Redis services)."""
    client = redis.Redis.from_url(url, socket_timeout=3.0, socket_connect_timeout=3.0)
    try:
        reply = client.config_get("maxmemory-policy")
    except (ResponseError, RedisError, OSError) as error:
        log.warning("could not read the Redis eviction policy", url=_safe(url), error=str(error))
        return None
    finally:
        client.close()
    policy = reply.get("maxmemory-policy")
    return policy if isinstance(policy, str) else None


def check_eviction_policies(
    *, broker: bool = True, stream: bool = True, settings: Settings | None = None
) -> list[str]:
    """Check the broker's and the event stream's Redis; returns the problems found.

    With NEWS_INGEST_REDIS_EVICTION_CHECK=refuse (the default) a problem raises
    EvictingRedisError, with `warn` it is logged, with `off` nothing is read."""
    settings = settings or get_settings()
    if settings.redis_eviction_check == "off":
        return []
    urls: dict[str, str] = {}
    if broker:
        urls[settings.broker_url] = "broker"
    if stream:
        urls.setdefault(settings.stream_redis_url, "event stream")
    problems = []
    for url, role in urls.items():
        policy = eviction_policy(url)
        if policy is not None and policy.startswith("allkeys-"):
            problems.append(
                f"the {role}'s Redis ({_safe(url)}) has maxmemory-policy {policy}: when full it "
                "deletes queued messages and events silently; set it to noeviction "
                "(or NEWS_INGEST_REDIS_EVICTION_CHECK=warn to start anyway)"
            )
    for problem in problems:
        log.error("redis eviction policy", problem=problem)
    if problems and settings.redis_eviction_check == "refuse":
        raise EvictingRedisError("; ".join(problems))
    return problems


def _safe(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
