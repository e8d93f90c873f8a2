"""When to fetch a feed again: adaptive intervals, server freshness and error backoff.

Pure functions over numbers and datetimes (no database, no clock of their own), so the
policy can be read and tested in one place.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from statistics import median

__all__ = [
    "RETRY_AFTER_MAX_S",
    "IntervalChoice",
    "adaptive_interval",
    "after_gap",
    "backoff_delay",
    "choose_interval",
    "effective_interval",
    "explain_adaptive",
    "spread",
]

# How many of the newest dated entries describe a feed's current publishing rhythm.
_RECENT_ENTRIES = 20
# A Retry-After is honoured as given, up to this long: a server cannot park a feed forever.
RETRY_AFTER_MAX_S = 7 * 24 * 3600


def adaptive_interval(
    entry_times: Sequence[datetime],
    *,
    now: datetime,
    min_s: int,
    max_s: int,
    default_s: int,
) -> int:
    """Seconds between fetches for a feed whose entries were published at `entry_times`.

    Half the median gap between the newest entries, so a new entry waits half a gap on
    average; but at least a quarter of the time since the newest entry, so a feed that
    went quiet is asked less and less often. Fewer than two dated entries: `default_s`.
    Clamped to [min_s, max_s].
    """
    return explain_adaptive(
        entry_times, now=now, min_s=min_s, max_s=max_s, default_s=default_s
    ).seconds


@dataclass(frozen=True, slots=True)
class IntervalChoice:
    """An interval and why it is that (`feeds list --json`: fetch_interval_s and
    interval_reason). Reasons: rhythm (half the typical gap between entries), quiet (a
    quarter of the time since the newest entry), default (fewer than two dated entries),
    minimum / maximum (clamped), not_modified (a 304 kept the interval in force), gap
    (halved: a fetch saw none of the entries already seen), user (fixed with --interval),
    server (the server's <ttl> or Cache-Control/Expires freshness is longer)."""

    seconds: int
    reason: str


def explain_adaptive(
    entry_times: Sequence[datetime],
    *,
    now: datetime,
    min_s: int,
    max_s: int,
    default_s: int,
) -> IntervalChoice:
    """`adaptive_interval` with its reason."""
    times = sorted(entry_times)[-_RECENT_ENTRIES:]
    if len(times) < 2:
        return IntervalChoice(_clamp(default_s, min_s, max_s), "default")
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(times)]
    typical = median(gaps) / 2
    quiet = max(0.0, (now - times[-1]).total_seconds()) / 4
    wanted = max(typical, quiet)
    seconds = _clamp(int(wanted), min_s, max_s)
    if wanted < min_s:
        return IntervalChoice(seconds, "minimum")
    if wanted > max_s:
        return IntervalChoice(seconds, "maximum")
    return IntervalChoice(seconds, "quiet" if quiet > typical else "rhythm")


def after_gap(estimate: IntervalChoice, *, previous_s: int | None, min_s: int) -> IntervalChoice:
    """The estimate after a fetch whose window had moved past everything seen: at most
    half the interval that was in force (entries came faster than it), never under
    `min_s`."""
    halved = max(min_s, (previous_s or estimate.seconds) // 2)
    return IntervalChoice(min(estimate.seconds, halved), "gap")


def choose_interval(
    estimate: IntervalChoice,
    *,
    user_interval_s: int | None,
    server_fresh_s: int | None,
    max_s: int,
) -> IntervalChoice:
    """`effective_interval` with its reason."""
    seconds = effective_interval(
        estimate_s=estimate.seconds,
        user_interval_s=user_interval_s,
        server_fresh_s=server_fresh_s,
        max_s=max_s,
    )
    chosen = user_interval_s or estimate.seconds
    if seconds > chosen:
        return IntervalChoice(seconds, "server")
    return IntervalChoice(seconds, "user" if user_interval_s else estimate.reason)


def effective_interval(
    *,
    estimate_s: int,
    user_interval_s: int | None,
    server_fresh_s: int | None,
    max_s: int,
) -> int:
    """The interval in force: the user's fixed interval if set, else the estimate; never
    shorter than the freshness lifetime the server gave (`<ttl>`, Cache-Control max-age,
    Expires), which itself counts for at most `max_s` so a year-long max-age on a feed
    file cannot stop it being read."""
    chosen = user_interval_s if user_interval_s else estimate_s
    floor = min(server_fresh_s or 0, max_s)
    return max(chosen, floor, 1)


def backoff_delay(
    error_count: int,
    *,
    base_s: int,
    cap_s: int,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after the `error_count`-th failure in a row.

    base * 2^(n-1), capped at `cap_s`, with jitter taking up to a fifth off so feeds that
    failed together (one host down) do not come back in lockstep. A server's Retry-After
    is a floor (up to RETRY_AFTER_MAX_S), never shortened by the jitter.
    """
    draw = rng.random() if rng is not None else random.random()
    exponent = min(max(error_count, 1) - 1, 32)
    delay = min(float(cap_s), base_s * 2.0**exponent)
    delay *= 1.0 - 0.2 * draw
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, RETRY_AFTER_MAX_S))
    return delay


def spread(seconds: float, *, rng: random.Random | None = None, fraction: float = 0.1) -> float:
    """`seconds` plus up to `fraction` more, so feeds added together drift apart instead
    of being fetched in one burst every interval. Only ever later: never earlier than a
    freshness lifetime the server asked for."""
    draw = rng.random() if rng is not None else random.random()
    return seconds * (1.0 + fraction * draw)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))
