"""Per-host politeness shared by every worker: concurrency, request spacing, Retry-After.

State lives in Redis so all workers (and the CLI) see one limit per host:

- `...{host}:slots`: a sorted set of fetches in flight, scored by when their slot
  expires, so a worker killed mid-fetch frees its slot by itself;
- `...{host}:next`: the earliest time the next request to the host may start
  (60 / NEWS_INGEST_PER_HOST_RATE_PER_MINUTE seconds after the last one);
- `...{host}:retry_after`: the time a 429/503 Retry-After asked us to wait until.

One Lua script checks and takes all three atomically, on the Redis server's clock, so
workers with skewed clocks agree. Without Redis (`news-ingest run URL` on a laptop), an
in-process gate applies the same rules to this process only.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

import redis
import structlog

from worker.resources import Kind, resources
from worker.settings import Settings

__all__ = ["GATES", "HostGate", "HostTurn", "LocalHostGate", "RedisHostGate", "host_gate"]

log = structlog.get_logger(__name__)

_PREFIX = "news-ingest:host:"
# A slot outlives the longest possible fetch by this much before Redis frees it.
_SLOT_MARGIN_S = 30.0
_POLL_MIN_S = 0.02
_POLL_MAX_S = 0.5

# KEYS: slots, next, retry_after. ARGV: token, concurrency, spacing_ms, slot_ttl_ms.
# Returns {1, 0, "ok"} or {0, wait_ms, reason}; reason is retry_after | busy | rate.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = tonumber(redis.call('GET', KEYS[3]) or '0')
if until_ms > now then return {0, until_ms - now, 'retry_after'} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return {0, 0, 'busy'} end
local next_ms = tonumber(redis.call('GET', KEYS[2]) or '0')
if next_ms > now then return {0, next_ms - now, 'rate'} end
local slot_ttl = tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], now + slot_ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], slot_ttl)
local spacing = tonumber(ARGV[3])
if spacing > 0 then redis.call('SET', KEYS[2], now + spacing, 'PX', spacing) end
return {1, 0, 'ok'}
"""

# KEYS: retry_after. ARGV: wait_ms. Only ever moves the time later.
_RETRY_AFTER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > current then redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1])) end
return math.max(until_ms, current) - now
"""


@dataclass(frozen=True, slots=True)
class HostTurn:
    """The outcome of asking for a host's turn: granted, or why not and for how long."""

    granted: bool
    reason: str = "ok"  # ok | retry_after | busy | rate
    wait_s: float = 0.0


class HostGate(Protocol):
    shared: bool

    def turn(
        self, host: str, *, max_wait_s: float | None, spacing_s: float | None = None
    ) -> HostTurn: ...
    def release(self, host: str) -> None: ...
    def hold(
        self, host: str, *, max_wait_s: float | None, spacing_s: float | None = None
    ) -> AbstractContextManager[HostTurn]: ...
    def set_retry_after(self, host: str, seconds: float) -> None: ...
    def retry_after_s(self, host: str) -> float: ...


class _GateBase:
    """Waiting for a turn, common to both gates: poll with a growing pause until the host
    is free, giving up at `max_wait_s` (None: wait for busy or rate-limited hosts as long
    as it takes). A Retry-After is never waited out here: it can be hours."""

    def __init__(self, settings: Settings) -> None:
        self.concurrency = settings.per_host_concurrency
        self.spacing_s = 60.0 / settings.per_host_rate_per_minute
        self.slot_ttl_s = settings.fetch_total_timeout + _SLOT_MARGIN_S
        self._tokens = threading.local()

    def _try(
        self, host: str, token: str, spacing_s: float
    ) -> HostTurn:  # pragma: no cover - interface
        raise NotImplementedError

    def _free(self, host: str, token: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def turn(
        self, host: str, *, max_wait_s: float | None, spacing_s: float | None = None
    ) -> HostTurn:
        """`spacing_s`: a longer spacing to leave after this request (a robots.txt
        Crawl-delay), shared with every fetch from the host; never shorter than the
        configured one."""
        spacing = max(self.spacing_s, spacing_s or 0.0)
        token = uuid.uuid4().hex
        deadline = None if max_wait_s is None else time.monotonic() + max_wait_s
        pause = _POLL_MIN_S
        while True:
            outcome = self._try(host, token, spacing)
            if outcome.granted:
                self._held()[host] = token
                return outcome
            if outcome.reason == "retry_after":
                return outcome
            wait = outcome.wait_s if outcome.wait_s > 0 else pause
            if deadline is not None and time.monotonic() + wait > deadline:
                return HostTurn(False, outcome.reason, max(wait, pause))
            time.sleep(min(wait, _POLL_MAX_S))
            pause = min(pause * 2, _POLL_MAX_S)

    def release(self, host: str) -> None:
        token = self._held().pop(host, None)
        if token is not None:
            self._free(host, token)

    @contextmanager
    def hold(
        self, host: str, *, max_wait_s: float | None, spacing_s: float | None = None
    ) -> Iterator[HostTurn]:
        outcome = self.turn(host, max_wait_s=max_wait_s, spacing_s=spacing_s)
        try:
            yield outcome
        finally:
            if outcome.granted:
                self.release(host)

    def _held(self) -> dict[str, str]:
        held = getattr(self._tokens, "held", None)
        if held is None:
            held = self._tokens.held = {}
        return held


class RedisHostGate(_GateBase):
    """The shared gate: every worker and CLI process that uses this Redis agrees."""

    shared = True

    def __init__(self, settings: Settings, client: redis.Redis) -> None:
        super().__init__(settings)
        self.client = client
        self._acquire = client.register_script(_ACQUIRE)
        self._retry_after = client.register_script(_RETRY_AFTER)

    @staticmethod
    def _keys(host: str) -> list[str]:
        # The {host} hash tag keeps one host's keys on one Redis Cluster slot.
        base = f"{_PREFIX}{{{host}}}"
        return [f"{base}:slots", f"{base}:next", f"{base}:retry_after"]

    def _try(self, host: str, token: str, spacing_s: float) -> HostTurn:
        granted, wait_ms, reason = self._acquire(
            keys=self._keys(host),
            args=[token, self.concurrency, int(spacing_s * 1000), int(self.slot_ttl_s * 1000)],
        )
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        return HostTurn(bool(granted), reason, int(wait_ms) / 1000)

    def _free(self, host: str, token: str) -> None:
        self.client.zrem(self._keys(host)[0], token)

    def set_retry_after(self, host: str, seconds: float) -> None:
        if seconds > 0:
            self._retry_after(keys=[self._keys(host)[2]], args=[max(1, int(seconds * 1000))])

    def retry_after_s(self, host: str) -> float:
        key = self._keys(host)[2]
        pipe = self.client.pipeline(transaction=False)
        pipe.get(key)
        pipe.time()
        until_raw, (seconds, micros) = pipe.execute()
        if until_raw is None:
            return 0.0
        return max(0.0, (int(until_raw) - (int(seconds) * 1000 + int(micros) // 1000)) / 1000)


class LocalHostGate(_GateBase):
    """The same rules for this process only: the fallback when Redis cannot be reached."""

    shared = False

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._lock = threading.Lock()
        self._in_flight: dict[str, set[str]] = {}
        self._next: dict[str, float] = {}
        self._retry_until: dict[str, float] = {}

    def _try(self, host: str, token: str, spacing_s: float) -> HostTurn:
        now = time.monotonic()
        with self._lock:
            until = self._retry_until.get(host, 0.0)
            if until > now:
                return HostTurn(False, "retry_after", until - now)
            in_flight = self._in_flight.setdefault(host, set())
            if len(in_flight) >= self.concurrency:
                return HostTurn(False, "busy", 0.0)
            next_at = self._next.get(host, 0.0)
            if next_at > now:
                return HostTurn(False, "rate", next_at - now)
            in_flight.add(token)
            self._next[host] = now + spacing_s
            return HostTurn(True)

    def _free(self, host: str, token: str) -> None:
        with self._lock:
            self._in_flight.get(host, set()).discard(token)

    def set_retry_after(self, host: str, seconds: float) -> None:
        with self._lock:
            until = time.monotonic() + seconds
            self._retry_until[host] = max(until, self._retry_until.get(host, 0.0))

    def retry_after_s(self, host: str) -> float:
        with self._lock:
            return max(0.0, self._retry_until.get(host, 0.0) - time.monotonic())


def _close_gate(gate: HostGate) -> None:
    if isinstance(gate, RedisHostGate):
        gate.client.close()


# A forked child makes its own: a local gate's in-flight counts are its parent's.
GATES: Kind[HostGate] = Kind("host gate", close=_close_gate)


def host_gate(settings: Settings, *, require_shared: bool) -> HostGate:
    """The gate for this process: Redis-backed when Redis answers. Workers pass
    `require_shared=True` and get the Redis error (a transient fault, retried) when it
    does not; the CLI falls back to an in-process gate, with a warning. One gate per
    process and limits, so every fetch of the process shares its per-host state."""
    key = (
        settings.shared_redis_url,
        settings.per_host_concurrency,
        settings.per_host_rate_per_minute,
        settings.fetch_total_timeout,
    )
    return resources.get(
        GATES,
        key,
        lambda: _new_gate(settings, require_shared=require_shared),
        # A worker never settles for the in-process gate a CLI fallback left: Redis again.
        keep=lambda gate: gate.shared or not require_shared,
    )


def _new_gate(settings: Settings, *, require_shared: bool) -> HostGate:
    client = redis.Redis.from_url(
        settings.shared_redis_url,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
    )
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        if require_shared:
            raise
        log.warning(
            "Redis unreachable: per-host limits apply to this process only",
            redis=settings.shared_redis_url,
            error=str(error),
        )
        return LocalHostGate(settings)
    return RedisHostGate(settings, client)
