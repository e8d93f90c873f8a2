"""Seed directories: `sources.scan_due` (beat) claims the directories due for a rescan and
queues one `sources.scan_dir` each; a scan queues only new and changed files as a job."""

from __future__ import annotations

from worker.app import app
from worker.services import seed_dirs
from worker.storage.session import get_engine
from worker.tasks import TASK_OPTIONS
from worker.tasks.jobs import send_part


def _send_scan(source_id: int) -> None:
    app.send_task("sources.scan_dir", kwargs={"source_id": source_id})


@app.task(name="sources.scan_due", **TASK_OPTIONS)
def scan_due() -> int:
    return seed_dirs.scan_due_dirs(engine=get_engine(), send_scan=_send_scan)


@app.task(name="sources.scan_dir", **TASK_OPTIONS)
def scan_dir(source_id: int) -> int:
    """Rescan one directory; a redelivered scan finds the files recorded and queues none."""
    try:
        result = seed_dirs.scan_seed_dir(
            engine=get_engine(), source_id=source_id, send_part=send_part
        )
    except LookupError:
        return 0  # removed since it was claimed
    return result.queued
