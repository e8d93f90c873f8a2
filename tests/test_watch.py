"""Seed directories as sources: scheduled rescans that queue only new and changed files, and
`news-ingest watch` reacting to files as they land (never half-written, each once)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.cli_processes import CliProcess, write_seed
from tests.factories import distinct_article
from tests.polling import wait_for
from worker.cli import app as cli
from worker.services import seed_dirs
from worker.services.watch import SeedDirWatcher
from worker.storage.models import (
    Article,
    IngestJob,
    IngestJobPart,
    Sighting,
    Source,
    SourceFile,
)
from worker.storage.session import get_engine


def _run_now(engine):  # type: ignore[no-untyped-def]
    """A send_part that ingests each part at once, in this process."""
    from worker.services.parts import run_part

    def send(job_id: str, part_no: int, _kind: str) -> None:
        run_part(engine=engine, job_id=job_id, part_no=part_no)

    return send


def _scan(engine, source_id: int) -> seed_dirs.ScanResult:  # type: ignore[no-untyped-def]
    return seed_dirs.scan_seed_dir(
        engine=engine, source_id=source_id, send_part=_run_now(engine), batch_size=50
    )


def _age(path: Path, seconds: float = 60) -> None:
    """Make a file look written `seconds` ago (settled)."""
    past = time.time() - seconds
    os.utime(path, (past, past))


def _sightings_by_location(engine) -> Counter[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return Counter(connection.execute(select(Sighting.location)).scalars())


def _count(engine, model) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model)).scalar_one()


def _write_slowly(path: Path, text: str, *, pieces: int, pause_s: float) -> None:
    """A producer that writes a file in pieces, pausing (shorter than the settle time)
    between them, as a slow network copy does."""
    step = len(text) // pieces + 1
    with path.open("w", encoding="utf-8") as handle:
        for start in range(0, len(text), step):
            handle.write(text[start : start + step])
            handle.flush()
            time.sleep(pause_s)


class TestRescan:
    def test_only_new_and_changed_files_are_queued(self, engine, tmp_path: Path) -> None:
        """A rescan queues new files and files whose content changed; touched or untouched
        files cost a stat (and a hash when touched), never an ingest."""
        directory = tmp_path / "seeds"
        (directory / "nested").mkdir(parents=True)
        paths = [directory / f"{i:03d}_a.txt" for i in range(4)] + [
            directory / "nested" / "004_b.txt"
        ]
        for i, path in enumerate(paths):
            write_seed(path, i)
            _age(path)
        (directory / "notes.md").write_text("not a seed")
        (directory / ".hidden.txt").write_text("date 2024-01-01 hidden")
        source_id, _, created = seed_dirs.add_seed_dir(engine=engine, path=directory, interval_s=60)
        assert created

        first = _scan(engine, source_id)
        assert (first.files, first.new, first.queued) == (5, 5, 5)
        assert _count(engine, Article) == 5
        second = _scan(engine, source_id)
        assert (second.unchanged, second.queued, second.job_id) == (5, 0, None)

        os.utime(paths[0])  # touched: same bytes, new mtime
        _age(paths[0], 30)
        write_seed(paths[1], 100)  # new content
        _age(paths[1], 30)
        write_seed(directory / "nested" / "005_new.txt", 200)
        _age(directory / "nested" / "005_new.txt")
        third = _scan(engine, source_id)
        assert (third.new, third.changed, third.unchanged, third.queued) == (1, 1, 4, 2)
        assert _count(engine, Article) == 7
        assert _scan(engine, source_id).queued == 0
        with engine.connect() as connection:
            sources = set(connection.execute(select(Source.name)).scalars())
        assert sources == {str(directory.resolve())}  # nested files belong to the directory

    def test_a_file_still_being_written_waits_for_the_next_scan(
        self, engine, tmp_path: Path
    ) -> None:
        """A file modified within the settle time is left alone, and queued once it is stable."""
        directory = tmp_path / "seeds"
        directory.mkdir()
        fresh = directory / "001_fresh.txt"
        write_seed(fresh, 1)
        source_id, _, _ = seed_dirs.add_seed_dir(engine=engine, path=directory)
        first = _scan(engine, source_id)
        assert (len(first.unsettled), first.queued) == (1, 0)
        _age(fresh)
        assert _scan(engine, source_id).queued == 1

    def test_unchanged_files_are_not_read(self, postgres_db, tmp_path: Path) -> None:
        """A rescan of 5,000 unchanged files queues nothing and creates no job."""
        engine = get_engine()
        directory = tmp_path / "many"
        directory.mkdir()
        for i in range(5000):
            path = directory / f"{i:05d}.txt"
            path.write_text(f"date 2024-01-01 Article number {i} about the harbour.")
            _age(path)
        source_id, _, _ = seed_dirs.add_seed_dir(engine=engine, path=directory)
        with engine.begin() as connection:  # as if an earlier scan had recorded them all
            from worker.sources.seed_tree import walk_seed_files
            from worker.storage.seed_dirs import record_files

            record_files(
                connection=connection,
                source_id=source_id,
                files=[(s.path, s.size, s.mtime_ns, None) for s in walk_seed_files(directory)],
            )
        jobs_before = _count(engine, IngestJob)
        result = _scan(engine, source_id)
        assert (result.files, result.unchanged, result.queued) == (5000, 5000, 0)
        assert _count(engine, IngestJob) == jobs_before
        assert _count(engine, SourceFile) == 5000

    def test_a_missing_directory_is_recorded_as_an_error(self, engine, tmp_path: Path) -> None:
        """A registered directory that disappeared shows its error in `sources list`."""
        directory = tmp_path / "gone"
        directory.mkdir()
        source_id, _, _ = seed_dirs.add_seed_dir(engine=engine, path=directory)
        directory.rmdir()
        assert _scan(engine, source_id).error is not None
        listed = json.loads(CliRunner().invoke(cli, ["sources", "list", "--json"]).stdout)
        assert listed[0]["status"] == "error" and "not found" in listed[0]["last_error"]


class TestSourcesCommands:
    def test_add_dir_list_scan_remove(self, engine, tmp_path: Path) -> None:
        """`sources add-dir`, `list --json`, `scan --inline` and `remove` work together."""
        directory = tmp_path / "seeds"
        directory.mkdir()
        for i in range(3):
            write_seed(directory / f"{i}.txt", i)
            _age(directory / f"{i}.txt")
        runner = CliRunner()
        added = runner.invoke(
            cli, ["sources", "add-dir", str(directory), "--interval", "120", "--json"]
        )
        assert added.exit_code == 0, added.output
        source_id = json.loads(added.stdout)["id"]
        scanned = runner.invoke(cli, ["sources", "scan", str(source_id), "--inline", "--json"])
        # (the last line: structlog, unconfigured under CliRunner, also writes to stdout)
        assert json.loads(scanned.stdout.splitlines()[-1])["queued"] == 3
        (row,) = json.loads(runner.invoke(cli, ["sources", "list", "--json"]).stdout)
        assert (row["kind"], row["name"], row["interval_s"], row["files"]) == (
            "seed_dir",
            str(directory.resolve()),
            120,
            3,
        )
        assert row["next_fetch_at"] is not None
        assert runner.invoke(cli, ["sources", "remove", str(source_id)]).exit_code == 0
        (row,) = json.loads(runner.invoke(cli, ["sources", "list", "--json"]).stdout)
        assert (row["enabled"], row["next_fetch_at"]) == (False, None)

    def test_add_dir_refuses_a_file(self, engine, tmp_path: Path) -> None:
        """Only a directory can be registered."""
        path = tmp_path / "one.txt"
        path.write_text("x")
        result = CliRunner().invoke(cli, ["sources", "add-dir", str(path)])
        assert result.exit_code == 1 and "not a directory" in " ".join(result.output.split())


class TestScheduling:
    def test_due_directories_are_claimed_once(self, postgres_db, tmp_path: Path) -> None:
        """Racing schedulers claim each due directory once and move it to its next slot."""
        engine = get_engine()
        for i in range(6):
            (tmp_path / f"d{i}").mkdir()
            seed_dirs.add_seed_dir(engine=engine, path=tmp_path / f"d{i}", interval_s=600)
        claimed: list[int] = []
        lock = threading.Lock()

        def schedule() -> None:
            def send(source_id: int) -> None:
                with lock:
                    claimed.append(source_id)

            seed_dirs.scan_due_dirs(engine=engine, send_scan=send)

        threads = [threading.Thread(target=schedule) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(claimed) == list(range(1, 7))
        assert seed_dirs.scan_due_dirs(engine=engine, send_scan=claimed.append) == 0

    def test_scan_due_task_queues_a_job_the_worker_ingests(
        self, celery_worker, tmp_path: Path
    ) -> None:
        """Beat's `sources.scan_due` leads, through `sources.scan_dir`, to stored articles."""
        from worker.app import app

        engine = get_engine()
        for i in range(7):
            write_seed(tmp_path / f"{i}.txt", i)
            _age(tmp_path / f"{i}.txt")
        seed_dirs.add_seed_dir(engine=engine, path=tmp_path)
        app.send_task("sources.scan_due")
        wait_for(lambda: _count(engine, Article) == 7, timeout=60, what="7 articles")


class TestWatcher:
    def test_a_file_is_handed_out_only_once_it_stays_unchanged(self, tmp_path: Path) -> None:
        """A pending file settles after `settle_s` without change; a write restarts the wait."""
        now = [0.0]
        watcher = SeedDirWatcher(tmp_path, settle_s=1.0, clock=lambda: now[0])
        path = tmp_path / "a.txt"
        path.write_text("date 2024-01-01 first half")
        watcher.add(str(path))
        assert watcher.take_settled() == []  # first look: records size and mtime
        now[0] = 0.9
        assert watcher.take_settled() == []
        with path.open("a") as handle:
            handle.write(" and the second half.")
        now[0] = 1.5
        assert watcher.take_settled() == []  # changed: the wait starts again
        now[0] = 2.4
        assert watcher.take_settled() == []
        now[0] = 2.6
        (settled,) = watcher.take_settled()
        assert settled.path == str(path) and settled.size == path.stat().st_size
        assert watcher.pending == 0

    def test_only_seed_files_outside_hidden_directories_are_wanted(self, tmp_path: Path) -> None:
        """`*.txt` in any case, recursively; hidden files and directories are skipped."""
        watcher = SeedDirWatcher(tmp_path, settle_s=1.0)
        assert watcher.wants(str(tmp_path / "a" / "b.TXT"))
        assert not watcher.wants(str(tmp_path / ".git" / "b.txt"))
        assert not watcher.wants(str(tmp_path / ".b.txt"))
        assert not watcher.wants(str(tmp_path / "b.txt.part"))
        assert not watcher.wants("/elsewhere/b.txt")


@pytest.mark.slow
class TestWatchProcess:
    def test_files_dropped_while_a_job_runs_are_ingested_once(
        self, celery_worker, tmp_path: Path
    ) -> None:
        """With a big job running, files dropped into a watched directory (some written
        slowly, some moved in, some rewritten unchanged) are each ingested exactly once,
        and never half-written."""
        engine = get_engine()
        backlog = tmp_path / "backlog"
        backlog.mkdir()
        for i in range(300):
            write_seed(backlog / f"{i:03d}.txt", 5000 + i)
        enqueued = CliRunner().invoke(
            cli, ["enqueue", str(backlog), "--batch-size", "25", "--json"]
        )
        assert enqueued.exit_code == 0, enqueued.output
        watched = (tmp_path / "inbox").resolve()
        watched.mkdir()
        log = tmp_path / "watch.log"
        with CliProcess(["watch", str(watched), "--batch-size", "20"], log) as watch:
            wait_for(lambda: "watching" in watch.log, timeout=30, what="the watcher to start")
            expected: dict[str, str] = {}
            for i in range(30):  # written at once
                path = watched / f"{i:03d}.txt"
                expected[str(path)] = write_seed(path, i)
            slow_text = f"date 2024-05-02 {distinct_article(77, sentences=30)}"
            writers = [
                threading.Thread(
                    target=_write_slowly,
                    kwargs={"pieces": 4, "pause_s": 0.4},
                    args=(watched / f"slow{i}.txt", slow_text.replace("The", f"The{i}", 1)),
                )
                for i in range(3)
            ]
            for writer in writers:
                writer.start()
            staging = tmp_path / "staging" / "batch"  # a directory moved in whole
            staging.mkdir(parents=True)
            for i in range(5):
                moved = watched / "batch" / f"m{i}.txt"
                expected[str(moved)] = write_seed(staging / f"m{i}.txt", 300 + i)
            os.rename(staging, watched / "batch")
            tmp = watched / ".incoming.tmp"  # written under a hidden name, then renamed
            write_seed(tmp, 400)
            os.rename(tmp, watched / "renamed.txt")
            expected[str(watched / "renamed.txt")] = ""
            for writer in writers:
                writer.join(timeout=30)
            for i in range(3):
                expected[str(watched / f"slow{i}.txt")] = ""
            # The same bytes written again: a new mtime, no new content.
            (watched / "000.txt").write_text((watched / "000.txt").read_text())

            wait_for(
                lambda: set(expected) <= set(_sightings_by_location(engine)),
                timeout=120,
                what="every dropped file ingested",
            )
            assert watch.terminate(timeout=30) == 0, watch.log

        def unfinished() -> list[dict]:  # type: ignore[type-arg]
            with engine.connect() as connection:
                return [
                    dict(row)
                    for row in connection.execute(
                        select(IngestJobPart.__table__).where(
                            IngestJobPart.status.in_(("queued", "running"))
                        )
                    ).mappings()
                ]

        try:
            wait_for(lambda: not unfinished(), timeout=120, what="every job done")
        except AssertionError:
            raise AssertionError(f"unfinished parts: {unfinished()}\n{watch.log}") from None
        seen = _sightings_by_location(engine)
        assert {path: seen[path] for path in expected} == dict.fromkeys(expected, 1)
        with engine.connect() as connection:
            bodies = (
                connection.execute(select(Article.body).where(Article.body.like("%The0%")))
                .scalars()
                .all()
            )
        # The slow files were read whole: their stored text ends as the file ends.
        assert len(bodies) == 1 and bodies[0].rstrip().endswith(slow_text.rstrip()[-40:])
        assert _count(engine, Article) == 300 + len(expected)

    def test_inline_watch_ingests_in_process(
        self, postgres_db, redis_client, tmp_path: Path
    ) -> None:
        """`watch --inline` needs no worker: a dropped file is stored by the watcher itself,
        and files already there when it starts are caught up."""
        engine = get_engine()
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        write_seed(inbox / "before.txt", 1)
        _age(inbox / "before.txt")
        with CliProcess(["watch", str(inbox), "--inline"], tmp_path / "watch.log") as watch:
            wait_for(lambda: _count(engine, Article) == 1, timeout=30, what="catch-up scan")
            write_seed(inbox / "after.txt", 2)
            wait_for(lambda: _count(engine, Article) == 2, timeout=30, what="watched file")
            assert watch.terminate(timeout=30) == 0
