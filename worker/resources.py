"""The process's long-lived resources (database engines, HTTP clients, per-host gates, Redis
clients) in one registry, made on first use and closed explicitly by whoever runs the
process: the Celery worker's process signals, the API lifespan, the CLI's `main`.

Each resource has a kind (how to close it, what a forked child does with it) and a key
derived from the settings it was made with, so a change of settings gets a new one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["Kind", "Resources", "resources"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Kind(Generic[T]):
    """A kind of resource: its name, how one is closed, and what a forked child does with
    one it inherited (`after_fork` None: forgotten unclosed, its sockets are the parent's,
    and made anew on the next get; else called, and the resource kept)."""

    name: str
    close: Callable[[T], object]
    after_fork: Callable[[T], object] | None = None


@dataclass(slots=True)
class _Made:
    kind: Kind[Any]
    value: Any


@dataclass(eq=False, slots=True)
class Resources:
    """Get-or-create by (kind, key) under a lock; `close()` closes everything in reverse
    order of creation, `after_fork()` drops what a forked child must not use."""

    # Insertion-ordered: the order of creation, closed from the end, so a resource goes
    # before those it was made from (a page reader before its gate).
    _made: dict[tuple[str, Hashable], _Made] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # One creation lock per kind: making a gate waits up to 2 s on an unreachable Redis,
    # which must not hold up every thread that wants an engine.
    _making: dict[str, threading.RLock] = field(default_factory=dict)
    _pid: int = field(default_factory=os.getpid)

    def get(
        self,
        kind: Kind[T],
        key: Hashable,
        make: Callable[[], T],
        *,
        keep: Callable[[T], bool] | None = None,
    ) -> T:
        """The resource of this kind and key, made by `make` on first use. `keep` False
        for the one held replaces it (closed) with a new one."""
        self._check_fork()
        slot = (kind.name, key)
        made = self._made.get(slot)
        if made is not None and (keep is None or keep(made.value)):
            return made.value  # type: ignore[no-any-return]  # stored under its kind
        with self._lock:
            making = self._making.setdefault(kind.name, threading.RLock())
        with making:
            made = self._made.get(slot)
            if made is not None and (keep is None or keep(made.value)):
                return made.value  # type: ignore[no-any-return]  # stored under its kind
            value = make()  # if this raises, the one held stays
            with self._lock:
                # Re-inserted, not updated: a replacement is the newest, closed first.
                self._made.pop(slot, None)
                self._made[slot] = _Made(kind, value)
            if made is not None:
                kind.close(made.value)
            return value

    def held(self, kind: Kind[T]) -> list[T]:
        """The resources of this kind made so far, oldest first."""
        with self._lock:
            return [made.value for made in self._made.values() if made.kind.name == kind.name]

    def close(self, kind: Kind[Any] | None = None) -> None:
        """Close every resource (or every one of `kind`), newest first, and forget it; a
        later get makes a new one. A failing close does not stop the others."""
        with self._lock:
            slots = [s for s, m in self._made.items() if kind is None or m.kind.name == kind.name]
            closing = [self._made.pop(slot) for slot in reversed(slots)]
        errors: list[BaseException] = []
        for made in closing:
            try:
                made.kind.close(made.value)
            except Exception as error:  # the rest must still be closed; the first is raised after
                errors.append(error)
        if errors:
            raise errors[0]

    def after_fork(self) -> None:
        """In a forked child: keep what survives a fork (after its `after_fork`, e.g. an
        engine's pool emptied without closing the parent's sockets), forget the rest."""
        with self._lock:
            self._pid = os.getpid()
            for slot, made in list(self._made.items()):
                if made.kind.after_fork is None:
                    del self._made[slot]
                else:
                    made.kind.after_fork(made.value)

    def _check_fork(self) -> None:
        # A child made by any fork (not only Celery's, which calls after_fork itself)
        # never uses its parent's connections.
        if os.getpid() != self._pid:
            self.after_fork()


# The one registry of this process.
resources = Resources()
