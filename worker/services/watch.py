"""`news-ingest watch`: react to seed files landing in a directory, at once (inotify through
watchdog), without ever reading a file that is still being written.

A file seen in an event is pending until its size and mtime stay unchanged for
NEWS_INGEST_SEED_SETTLE_S (1 s); then it goes out with the other files that settled in the
same tick, as one job, through the same change detection as the scheduled rescan (a file
both see is queued once). A full rescan at start (and every `rescan_s`) catches files that
arrived while nobody watched, or whose events were lost to an inotify queue overflow.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from worker import heartbeat
from worker.services.jobs import SendPart
from worker.services.seed_dirs import ScanResult, SeedDirQueue
from worker.settings import Settings, get_settings
from worker.sources.seed_tree import FileState, is_seed_name, stat_seed_file, walk_seed_files
from worker.storage import seed_dirs as seed_dir_rows

__all__ = ["SeedDirWatcher", "watch_seed_dir"]

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Pending:
    state: FileState | None  # None until the first stat
    stable_since: float


class SeedDirWatcher:
    """Collects seed files under `root` from file-system events and hands them out once
    they have been stable for `settle_s` seconds."""

    def __init__(
        self, root: str | Path, *, settle_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.root = Path(root).resolve()
        self.settle_s = settle_s
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._observer = Observer()
        self._observer.schedule(_Handler(self), str(self.root), recursive=True)

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=10)

    def add(self, path: str) -> None:
        """Consider `path` (again): it must now stay unchanged for a full settle period."""
        with self._lock:
            self._pending[path] = _Pending(None, self._clock())

    def discard(self, path: str) -> None:
        with self._lock:
            self._pending.pop(path, None)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def take_settled(self) -> list[FileState]:
        """Stat every pending file; return (and forget) the ones stable long enough."""
        with self._lock:
            snapshot = list(self._pending.items())
        now = self._clock()
        settled: list[FileState] = []
        for path, entry in snapshot:
            state = stat_seed_file(path)
            with self._lock:
                current = self._pending.get(path)
                if current is not entry:
                    continue  # a new event came in meanwhile: its settle period starts again
                if state is None:
                    del self._pending[path]  # gone, or no longer a regular file
                elif entry.state is None or (entry.state.size, entry.state.mtime_ns) != (
                    state.size,
                    state.mtime_ns,
                ):
                    self._pending[path] = _Pending(state, now)
                elif now - entry.stable_since >= self.settle_s:
                    del self._pending[path]
                    settled.append(state)
        settled.sort(key=lambda state: state.path)
        return settled

    def wants(self, path: str) -> bool:
        """Whether `path` names a seed file under the root (hidden directories skipped)."""
        try:
            parts = Path(path).relative_to(self.root).parts
        except ValueError:
            return False
        return (
            bool(parts)
            and is_seed_name(parts[-1])
            and not any(part.startswith(".") for part in parts[:-1])
        )


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: SeedDirWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in ("opened", "closed_no_write"):
            return
        source = os.fsdecode(event.src_path)
        if kind == "deleted":
            if not event.is_directory:
                self.watcher.discard(source)
            return
        path = os.fsdecode(event.dest_path) if kind == "moved" else source
        if kind == "moved" and not event.is_directory:
            self.watcher.discard(source)
        if event.is_directory:
            # A directory moved in (or created with files already in it) brings no event
            # for the files inside: walk it.
            if kind in ("created", "moved"):
                for state in walk_seed_files(path):
                    if self.watcher.wants(state.path):
                        self.watcher.add(state.path)
            return
        if self.watcher.wants(path):
            self.watcher.add(path)


def watch_seed_dir(
    *,
    engine: Engine,
    path: str | Path,
    send_part: SendPart,
    stop: threading.Event,
    settings: Settings | None = None,
    batch_size: int | None = None,
    rescan_s: float = 300.0,
    on_queued: Callable[[ScanResult], None] | None = None,
) -> None:
    """Watch `path` until `stop` is set, queueing new and changed seed files as jobs."""
    settings = settings or get_settings()
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise NotADirectoryError(f"{path}: not a directory")
    with engine.begin() as connection:
        source_id = seed_dir_rows.ensure_seed_dir(connection=connection, path=str(root))
    watcher = SeedDirWatcher(root, settle_s=settings.seed_settle_s)
    tick = min(0.25, max(0.05, settings.seed_settle_s / 4))

    def queue(files: list[FileState] | None, trigger: str) -> None:
        batch = SeedDirQueue(
            engine=engine,
            source_id=source_id,
            path=str(root),
            send_part=send_part,
            settings=settings,
            batch_size=batch_size,
        )
        if files is None:
            batch.offer_all(walk_seed_files(root), trigger=trigger, settle=True)
            # Too fresh to read now: watched like files that just arrived.
            for state in batch.result.unsettled:
                watcher.add(state.path)
        else:
            # Observed stable for a full settle period already.
            batch.offer_all(files, trigger=trigger, settle=False)
        batch.close()
        if batch.result.queued and on_queued is not None:
            on_queued(batch.result)

    # Events first, then the catch-up scan: a file landing in between is seen by both and
    # queued once.
    watcher.start()
    log.info("watching", path=str(root), source_id=source_id, settle_s=settings.seed_settle_s)
    try:
        next_rescan = time.monotonic()
        while not stop.is_set():
            heartbeat.touch(heartbeat.WATCH_HEARTBEAT)  # the compose healthcheck reads it
            if time.monotonic() >= next_rescan:
                queue(None, "scan")
                next_rescan = time.monotonic() + rescan_s
            settled = watcher.take_settled()
            if settled:
                try:
                    queue(settled, "watch")
                except (SQLAlchemyError, OSError) as error:
                    # Database away: keep the files pending and try again shortly.
                    log.warning(
                        "could not queue files, retrying",
                        files=len(settled),
                        error=str(error).splitlines()[0],
                    )
                    for state in settled:
                        watcher.add(state.path)
                    stop.wait(5.0)
            stop.wait(tick)
    finally:
        watcher.stop()
