"""Two scanners of one seed directory at once (`watch` and a scheduled rescan, or two
watchers): each file is queued by one of them only (issue 21: "a new file under `watch`
produced two '1 new' jobs once")."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from tests.cli_processes import write_seed
from worker.services import seed_dirs
from worker.sources.seed_tree import walk_seed_files
from worker.storage.models import IngestJob, IngestJobPart


def _seed(path: Path, number: int) -> Path:
    """A distinct seed file that looks written a minute ago (settled)."""
    write_seed(path, number)
    past = time.time() - 60
    os.utime(path, (past, past))
    return path


def _queue(engine, source_id: int, directory: Path, sent: list[tuple[str, int]]):  # type: ignore[no-untyped-def]
    return seed_dirs.SeedDirQueue(
        engine=engine,
        source_id=source_id,
        path=str(directory),
        send_part=lambda job_id, part_no, _kind: sent.append((job_id, part_no)),
    )


class TestTwoScannersOneFile:
    def test_a_file_offered_by_two_scanners_is_queued_once(self, engine, tmp_path: Path) -> None:
        """Both scanners read the file as new before either recorded it; the one that
        records second queues nothing and counts the file as unchanged."""
        directory = tmp_path / "seeds"
        directory.mkdir()
        _seed(directory / "001_a.txt", 1)
        source_id, _, _ = seed_dirs.add_seed_dir(engine=engine, path=directory)
        sent: list[tuple[str, int]] = []
        watcher = _queue(engine, source_id, directory, sent)
        rescan = _queue(engine, source_id, directory, sent)
        watcher.offer_all(walk_seed_files(directory), trigger="watch")
        rescan.offer_all(walk_seed_files(directory), trigger="scan")
        assert watcher.result.new == rescan.result.new == 1  # both saw it unrecorded
        rescan.close()
        watcher.close()
        assert len(sent) == 1
        assert (rescan.result.queued, rescan.result.new) == (1, 1)
        assert (watcher.result.queued, watcher.result.new, watcher.result.unchanged) == (0, 0, 1)
        assert watcher.result.job_id is None
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(IngestJob)).scalar() == 1

    def test_a_changed_file_is_still_queued_again(self, engine, tmp_path: Path) -> None:
        """A file whose content changed since it was recorded is queued (as changed)."""
        directory = tmp_path / "seeds"
        directory.mkdir()
        path = _seed(directory / "001_a.txt", 1)
        source_id, _, _ = seed_dirs.add_seed_dir(engine=engine, path=directory)
        sent: list[tuple[str, int]] = []
        first = _queue(engine, source_id, directory, sent)
        first.offer_all(walk_seed_files(directory))
        first.close()
        _seed(path, 2)
        second = _queue(engine, source_id, directory, sent)
        second.offer_all(walk_seed_files(directory))
        second.close()
        assert (second.result.changed, second.result.queued) == (1, 1)
        assert len(sent) == 2

    def test_concurrent_scanners_on_postgres_queue_each_file_once(
        self, postgres_db: str, tmp_path: Path
    ) -> None:
        """Eight scanners racing over 40 files in threads (each its own transactions on
        Postgres) queue every file exactly once between them."""
        from worker.storage.session import get_engine

        engine = get_engine()
        directory = tmp_path / "seeds"
        directory.mkdir()
        for number in range(40):
            _seed(directory / f"{number:03d}_f.txt", number)
        source_id, _, _ = seed_dirs.add_seed_dir(engine=engine, path=directory)
        sent: list[tuple[str, int]] = []
        start = threading.Barrier(8)

        def scan() -> None:
            queue = _queue(engine, source_id, directory, sent)
            queue.batch_size = 5
            start.wait()
            queue.offer_all(walk_seed_files(directory))
            queue.close()

        threads = [threading.Thread(target=scan) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        with engine.connect() as connection:
            payloads = connection.execute(select(IngestJobPart.payload)).scalars().all()
        queued = [path for payload in payloads for path in payload["paths"]]
        assert len(queued) == 40
        assert len(set(queued)) == 40
