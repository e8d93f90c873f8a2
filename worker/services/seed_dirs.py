"""Seed directories as sources: register them, rescan the due ones, queue only what is new.

A file is queued when its path is new, or when its size or mtime changed and its content
hash differs from the recorded one (a touched file is only re-recorded). Files whose mtime
is younger than NEWS_INGEST_SEED_SETTLE_S are left for the next scan: they may still be
being written. Files are recorded in `source_files` in the transaction that adds the part
naming them, and only if the record does not hold that content yet: a file offered by two
scanners at once (`watch` and a scheduled rescan) is queued by one of them, and a crash
leaves both the record and the part or neither.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from pathlib import Path

import structlog
from sqlalchemy import Engine

from worker.errors import RejectedInput
from worker.services import jobs as job_service
from worker.services.jobs import SendPart
from worker.settings import Settings, get_settings
from worker.sources.seed_tree import FileState, content_digest, walk_seed_files
from worker.storage import jobs as job_rows
from worker.storage import seed_dirs as seed_dir_rows
from worker.storage.models import utcnow

__all__ = [
    "ScanResult",
    "SeedDirQueue",
    "SourceListing",
    "add_seed_dir",
    "list_sources",
    "scan_due_dirs",
    "scan_seed_dir",
    "unschedule_seed_dir",
]

log = structlog.get_logger(__name__)

# A scan holds its directory this long at most; the next claim after that may scan again.
SCAN_LEASE = timedelta(minutes=30)
# Files compared with the database per round trip.
_CHUNK = 5000


@dataclass(slots=True)
class ScanResult:
    """What one scan (or one batch of watched files) found and queued."""

    source_id: int
    path: str
    files: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    unsettled: list[FileState] = field(default_factory=list)
    queued: int = 0
    job_id: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "source_id": self.source_id,
            "path": self.path,
            "files": self.files,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "unsettled": len(self.unsettled),
            "queued": self.queued,
            "job_id": self.job_id,
            "error": self.error,
        }


def add_seed_dir(
    *, engine: Engine, path: str | Path, interval_s: int | None = None
) -> tuple[int, str, bool]:
    """Register a directory for rescans, due now: (source id, absolute path, is new)."""
    directory = Path(path).expanduser().resolve()
    if not directory.is_dir():
        raise NotADirectoryError(f"{path}: not a directory")
    interval_s = interval_s or get_settings().seed_dir_interval_s
    with engine.begin() as connection:
        source_id, created = seed_dir_rows.register_seed_dir(
            connection=connection, path=str(directory), interval_s=interval_s
        )
    return source_id, str(directory), created


def scan_due_dirs(*, engine: Engine, send_scan: Callable[[int], None], limit: int = 100) -> int:
    """Claim the directories due for a rescan and hand each to `send_scan` (after the claim
    is committed). Returns how many."""
    with engine.begin() as connection:
        claimed = seed_dir_rows.claim_due_dirs(
            connection=connection, now=utcnow(), lease=SCAN_LEASE, limit=limit
        )
    for directory in claimed:
        send_scan(directory.id)
    return len(claimed)


def scan_seed_dir(
    *,
    engine: Engine,
    source_id: int,
    send_part: SendPart,
    settings: Settings | None = None,
    batch_size: int | None = None,
    trigger: str = "scan",
) -> ScanResult:
    """Walk a registered directory and queue its new and changed files as one job."""
    settings = settings or get_settings()
    with engine.connect() as connection:
        row = seed_dir_rows.get_seed_dir(connection=connection, source_id=source_id)
    if row is None:
        raise LookupError(f"no seed directory with id {source_id}")
    queue = SeedDirQueue(
        engine=engine,
        source_id=source_id,
        path=row["name"],
        send_part=send_part,
        settings=settings,
        batch_size=batch_size,
    )
    result = queue.result
    error = None
    try:
        if not Path(row["name"]).is_dir():
            error = f"{row['name']}: directory not found"
        else:
            queue.offer_all(walk_seed_files(row["name"]), trigger=trigger)
    except BaseException as exc:  # recorded on the source, then raised again
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        queue.close()
        with engine.begin() as connection:
            seed_dir_rows.finish_scan(connection=connection, source_id=source_id, error=error)
    result.error = error
    log.info("seed directory scanned", **result.to_json())
    return result


class SeedDirQueue:
    """Turns file states of one directory into queued parts of one job.

    Used by the scheduled rescan and by `news-ingest watch`, so a file seen by both is
    queued once: whoever records it first makes it known to the other.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        source_id: int,
        path: str,
        send_part: SendPart,
        settings: Settings | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.engine = engine
        self.source_id = source_id
        self.path = path
        self.send_part = send_part
        self.settings = settings or get_settings()
        self.batch_size = batch_size or self.settings.batch_size
        self.result = ScanResult(source_id=source_id, path=path)
        # (file, digest or None when it cannot be read safely, is new)
        self._pending: list[tuple[FileState, str | None, bool]] = []
        self._trigger = "scan"

    def offer_all(
        self, files: Iterable[FileState], *, trigger: str = "scan", settle: bool = True
    ) -> None:
        """Compare files with the record (in chunks) and queue the new and changed ones.
        With `settle`, files modified too recently are set aside in `result.unsettled`."""
        self._trigger = trigger
        iterator = iter(files)
        while chunk := list(islice(iterator, _CHUNK)):
            self._offer_chunk(chunk, settle=settle)

    def close(self) -> None:
        """Queue what is pending and seal the job."""
        self._flush()
        if self.result.job_id is not None:
            job_service.seal_job(engine=self.engine, job_id=self.result.job_id)

    def _offer_chunk(self, chunk: list[FileState], *, settle: bool) -> None:
        self.result.files += len(chunk)
        settled_before = time.time_ns() - int(self.settings.seed_settle_s * 1e9)
        with self.engine.connect() as connection:
            known = seed_dir_rows.known_files(
                connection=connection, source_id=self.source_id, paths=[f.path for f in chunk]
            )
        touched: list[tuple[str, int, int, str | None]] = []
        for state in chunk:
            record = known.get(state.path)
            if record is not None and (record.size, record.mtime_ns) == (
                state.size,
                state.mtime_ns,
            ):
                self.result.unchanged += 1
                continue
            if settle and state.mtime_ns > settled_before:
                self.result.unsettled.append(state)
                continue
            try:
                digest: str | None = content_digest(
                    state.path, root=self.path, max_bytes=self.settings.max_article_bytes
                )
            except RejectedInput:
                # A link, a FIFO, an over-size file: read nothing, queue it all the same so
                # the worker (which checks again) records the reject and its reason.
                digest = None
            except OSError:
                continue  # gone since the stat: the next scan sees what is there then
            if record is not None and record.content_hash == digest:
                touched.append((state.path, state.size, state.mtime_ns, digest))
                self.result.unchanged += 1
                continue
            if record is None:
                self.result.new += 1
            else:
                self.result.changed += 1
            self._pending.append((state, digest, record is None))
            if len(self._pending) >= self.batch_size:
                self._flush()
        if touched:
            with self.engine.begin() as connection:
                seed_dir_rows.record_files(
                    connection=connection, source_id=self.source_id, files=touched
                )

    def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        job_id = self.result.job_id
        with self.engine.begin() as connection:
            claimed = set(
                seed_dir_rows.claim_files(
                    connection=connection,
                    source_id=self.source_id,
                    files=[(s.path, s.size, s.mtime_ns, digest) for s, digest, _ in batch],
                )
            )
            for state, _, is_new in batch:
                if state.path not in claimed:  # another scanner queued this content first
                    if is_new:
                        self.result.new -= 1
                    else:
                        self.result.changed -= 1
                    self.result.unchanged += 1
            paths = [state.path for state, _, _ in batch if state.path in claimed]
            if not paths:
                return
            if job_id is None:
                job_id = job_rows.create_job(
                    connection=connection,
                    request={
                        "paths": [self.path],
                        "seed_dir": self.source_id,
                        "trigger": self._trigger,
                    },
                )
            # The part names the registered directory as the source of every file in it,
            # as `run DIR` does.
            (part_no,) = job_rows.add_parts(
                connection=connection,
                job_id=job_id,
                kind="seeds",
                # the worker opens each file beneath the directory, following no link
                payloads=[{"source": self.path, "root": self.path, "paths": paths}],
            )
        self.result.job_id = job_id
        # Queued only after the commit; with the broker down, send_part leaves the part to
        # jobs.resume.
        self.send_part(job_id, part_no, "seeds")
        self.result.queued += len(paths)


# ---------------------------------------------------------------------------------------
# The source registry, as `news-ingest sources` reads and changes it.

SourceListing = seed_dir_rows.SourceListing  # a source as `sources list` shows it


def list_sources(*, engine: Engine) -> list[SourceListing]:
    """Every source (seed directories with their file count, feeds, producers), by id."""
    with engine.connect() as connection:
        return seed_dir_rows.list_sources(connection=connection)


def unschedule_seed_dir(*, engine: Engine, source_id: int) -> bool:
    """Stop rescanning a directory (its articles and file records stay). False if unknown."""
    with engine.begin() as connection:
        return seed_dir_rows.unschedule_seed_dir(connection=connection, source_id=source_id)
