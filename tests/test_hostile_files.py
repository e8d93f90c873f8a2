"""Issue 19 item 1: no seed file outside its root is read. Symbolic links (to files outside
the directory or to /proc/self/environ), FIFOs, sparse giants and a file swapped for a link
between the scan and the worker's read, each done for real on disk."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.apiserver import running_api
from tests.cli_processes import CliProcess, write_seed
from tests.polling import wait_for
from worker.cli import app as cli
from worker.errors import RejectedInput
from worker.services import jobs as job_service
from worker.services import seed_dirs
from worker.sources.seed_tree import content_digest, stat_seed_file, walk_seed_files
from worker.sources.seeds import read_seed_file
from worker.storage.models import Article, IngestJob, Reject
from worker.storage.session import get_engine

SECRET = "TOP-SECRET-DATABASE-PASSWORD-hunter2"
MAX_BYTES = 1 << 20


def _secret_outside(tmp_path: Path) -> Path:
    """A readable file outside every seed root, holding text that must never be stored."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    secret = outside / "secret.txt"
    secret.write_text(f"date 2024-05-01 {SECRET} " + "words " * 50, encoding="utf-8")
    return secret


def _aged(path: Path) -> Path:
    past = time.time() - 60
    os.utime(path, (past, past), follow_symlinks=False)
    return path


def _rejects(engine) -> dict[str, tuple[str, bytes | None]]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        rows = connection.execute(select(Reject.location, Reject.reason, Reject.raw)).all()
    return {Path(location).name: (reason, raw) for location, reason, raw in rows}


def _bodies(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return list(connection.execute(select(Article.body)).scalars())


@pytest.fixture
def sqlite_engine(sqlite_db: str):  # type: ignore[no-untyped-def]
    return get_engine(sqlite_db)


class TestReadBeneathRoot:
    def test_a_link_beneath_a_root_is_rejected_without_bytes(self, tmp_path: Path) -> None:
        """A symbolic link inside the root is refused by the reader, not followed."""
        root = tmp_path / "root"
        root.mkdir()
        (root / "evil.txt").symlink_to(_secret_outside(tmp_path))
        with pytest.raises(RejectedInput, match="symbolic link") as error:
            read_seed_file(root / "evil.txt", source="t", max_bytes=MAX_BYTES, root=str(root))
        assert error.value.raw is None

    def test_a_linked_directory_on_the_way_is_rejected(self, tmp_path: Path) -> None:
        """A directory component that is a link is refused, even to a place inside."""
        root = tmp_path / "root"
        (root / "real").mkdir(parents=True)
        write_seed(root / "real" / "a.txt", 1)
        (root / "via").symlink_to(root / "real", target_is_directory=True)
        with pytest.raises(RejectedInput, match="via is a symbolic link"):
            read_seed_file(root / "via" / "a.txt", source="t", max_bytes=MAX_BYTES, root=str(root))

    def test_a_path_outside_or_climbing_out_of_the_root_is_rejected(self, tmp_path: Path) -> None:
        """A path that does not lie beneath the root as written is refused unread."""
        root = tmp_path / "root"
        root.mkdir()
        secret = _secret_outside(tmp_path)
        for path in (secret, root / ".." / "outside" / "secret.txt"):
            with pytest.raises(RejectedInput, match="root"):
                read_seed_file(path, source="t", max_bytes=MAX_BYTES, root=str(root))

    @pytest.mark.timeout(10)
    def test_a_fifo_is_rejected_at_once(self, tmp_path: Path) -> None:
        """A FIFO named like a seed is opened without blocking and refused."""
        os.mkfifo(tmp_path / "x.txt")
        with pytest.raises(RejectedInput, match="not a regular file"):
            read_seed_file(tmp_path / "x.txt", source="t", max_bytes=MAX_BYTES, root=str(tmp_path))
        with pytest.raises(RejectedInput, match="not a regular file"):
            content_digest(tmp_path / "x.txt", root=str(tmp_path), max_bytes=MAX_BYTES)

    @pytest.mark.timeout(10)
    def test_a_sparse_giant_is_not_read(self, tmp_path: Path) -> None:
        """A 2 GiB sparse file is refused from its size, by the reader and the rescan hash."""
        big = tmp_path / "big.txt"
        with big.open("wb") as handle:
            handle.truncate(2 << 30)
        with pytest.raises(RejectedInput, match="over the"):
            content_digest(big, root=str(tmp_path), max_bytes=MAX_BYTES)
        with pytest.raises(RejectedInput, match="over the") as error:
            read_seed_file(big, source="t", max_bytes=MAX_BYTES, root=str(tmp_path))
        assert error.value.raw is None

    def test_a_file_named_by_the_operator_may_be_a_link(self, tmp_path: Path) -> None:
        """Without a root (a path given on the command line) the link is followed."""
        link = tmp_path / "named.txt"
        link.symlink_to(_secret_outside(tmp_path))
        assert SECRET in read_seed_file(link, source="t", max_bytes=MAX_BYTES).body


class TestRunDirectory:
    def test_run_stores_the_good_file_and_rejects_links_out(
        self, sqlite_engine, tmp_path: Path
    ) -> None:
        """`run DIR` rejects links to a file outside and to /proc/self/environ, with the
        reason and no bytes, and stores the regular file."""
        root = tmp_path / "seeds"
        root.mkdir()
        write_seed(root / "001_good.txt", 1)
        (root / "002_evil.txt").symlink_to(_secret_outside(tmp_path))
        (root / "003_environ.txt").symlink_to("/proc/self/environ")
        result = CliRunner().invoke(cli, ["run", str(root)])
        assert result.exit_code == 0, result.output
        rejects = _rejects(sqlite_engine)
        assert set(rejects) == {"002_evil.txt", "003_environ.txt"}
        assert all("symbolic link" in reason and raw is None for reason, raw in rejects.values())
        bodies = _bodies(sqlite_engine)
        assert len(bodies) == 1 and not any(SECRET in body for body in bodies)

    def test_run_on_a_named_link_reads_it(self, sqlite_engine, tmp_path: Path) -> None:
        """A link named directly on the command line is the operator's choice: it is read."""
        link = tmp_path / "named.txt"
        link.symlink_to(_secret_outside(tmp_path))
        result = CliRunner().invoke(cli, ["run", str(link)])
        assert result.exit_code == 0, result.output
        assert any(SECRET in body for body in _bodies(sqlite_engine))


class TestRescanAndWatch:
    @pytest.mark.timeout(60)
    def test_a_rescan_is_held_by_no_fifo_giant_or_link(self, sqlite_engine, tmp_path: Path) -> None:
        """A registered directory with a FIFO, a 2 GiB sparse file and a link out scans to
        the end: the good file is stored, the giant and the link are rejects without bytes."""
        from worker.services.parts import run_part

        root = tmp_path / "seeds"
        root.mkdir()
        write_seed(root / "001_good.txt", 2)
        _aged(root / "001_good.txt")
        os.mkfifo(root / "002_fifo.txt")
        with (root / "003_big.txt").open("wb") as handle:
            handle.truncate(2 << 30)
        _aged(root / "003_big.txt")
        (root / "004_link.txt").symlink_to(_secret_outside(tmp_path))
        _aged(root / "004_link.txt")
        source_id, _, _ = seed_dirs.add_seed_dir(engine=sqlite_engine, path=root, interval_s=60)

        def run_now(job_id: str, part_no: int, _kind: str) -> None:
            run_part(engine=sqlite_engine, job_id=job_id, part_no=part_no)

        result = seed_dirs.scan_seed_dir(
            engine=sqlite_engine, source_id=source_id, send_part=run_now
        )
        assert result.error is None and result.queued == 3
        rejects = _rejects(sqlite_engine)
        assert set(rejects) == {"003_big.txt", "004_link.txt"}
        assert "over the" in rejects["003_big.txt"][0]
        assert "symbolic link" in rejects["004_link.txt"][0]
        assert all(raw is None for _, raw in rejects.values())
        assert not any(SECRET in body for body in _bodies(sqlite_engine))
        # The next scan sees nothing changed and queues nothing again.
        again = seed_dirs.scan_seed_dir(
            engine=sqlite_engine, source_id=source_id, send_part=run_now
        )
        assert again.queued == 0

    def test_a_watched_link_is_rejected(self, sqlite_engine, tmp_path: Path) -> None:
        """A link that `watch` saw settle goes through the same check: rejected, unread."""
        from worker.services.parts import run_part

        root = (tmp_path / "seeds").resolve()
        root.mkdir()
        link = root / "001_link.txt"
        link.symlink_to(_secret_outside(tmp_path))
        source_id, _, _ = seed_dirs.add_seed_dir(engine=sqlite_engine, path=root, interval_s=60)
        state = stat_seed_file(link)
        assert state is not None and [s.path for s in walk_seed_files(root)] == [str(link)]
        queue = seed_dirs.SeedDirQueue(
            engine=sqlite_engine,
            source_id=source_id,
            path=str(root),
            send_part=lambda job, part, _k: run_part(
                engine=sqlite_engine, job_id=job, part_no=part
            ),
        )
        queue.offer_all([state], trigger="watch", settle=False)
        queue.close()
        assert "symbolic link" in _rejects(sqlite_engine)["001_link.txt"][0]
        assert _bodies(sqlite_engine) == []


class TestWatchProcess:
    @pytest.mark.timeout(120)
    def test_watch_rejects_a_dropped_link_and_giant_and_is_not_held_by_a_fifo(
        self, postgres_db: str, redis_client: object, tmp_path: Path
    ) -> None:
        """A real `watch --inline`: a FIFO, a link out and a 2 GiB sparse file dropped in
        next to a good file; the good file is stored, the link and the giant are rejects
        without bytes, and the watcher goes on to store a file dropped after them."""
        engine = get_engine(postgres_db)
        inbox = (tmp_path / "inbox").resolve()
        inbox.mkdir()
        with CliProcess(["watch", str(inbox), "--inline"], tmp_path / "watch.log") as watch:
            os.mkfifo(inbox / "001_fifo.txt")
            (inbox / "002_link.txt").symlink_to(_secret_outside(tmp_path))
            with (inbox / "003_big.txt").open("wb") as handle:
                handle.truncate(2 << 30)
            write_seed(inbox / "004_good.txt", 8)
            wait_for(
                lambda: len(_rejects(engine)) == 2 and len(_bodies(engine)) == 1,
                timeout=60,
                what="the watcher's rejects and article",
            )
            write_seed(inbox / "005_after.txt", 9)
            wait_for(lambda: len(_bodies(engine)) == 2, timeout=60, what="the later file")
            assert watch.terminate(timeout=30) == 0
        rejects = _rejects(engine)
        assert "symbolic link" in rejects["002_link.txt"][0]
        assert "over the" in rejects["003_big.txt"][0]
        assert all(raw is None for _, raw in rejects.values())
        assert not any(SECRET in body for body in _bodies(engine))


class TestWorkerRecheck:
    def test_a_file_swapped_for_a_link_after_the_scan_is_rejected_by_the_worker(
        self, celery_worker, postgres_db: str, tmp_path: Path
    ) -> None:
        """Regular files at scan time, a link (and a linked directory) when the real worker
        opens them: the worker's check against the part's root rejects both."""
        from worker.tasks.jobs import send_part

        engine = get_engine(postgres_db)
        root = (tmp_path / "seeds").resolve()
        (root / "sub").mkdir(parents=True)
        write_seed(root / "001_good.txt", 3)
        write_seed(root / "002_swapped.txt", 4)
        write_seed(root / "sub" / "003_inner.txt", 5)
        job_id = job_service.create_job(engine=engine)
        parts: list[tuple[str, int, str]] = []
        job_service.add_seed_parts(
            engine=engine,
            job_id=job_id,
            paths=[root],
            batch_size=10,
            send_part=lambda job, part, kind: parts.append((job, part, kind)),
        )
        job_service.seal_job(engine=engine, job_id=job_id)
        # The swap, between the scan and the worker's open.
        secret = _secret_outside(tmp_path)
        (root / "002_swapped.txt").unlink()
        (root / "002_swapped.txt").symlink_to(secret)
        (root / "sub").rename(root / "moved")
        (root / "sub").symlink_to(secret.parent, target_is_directory=True)
        (secret.parent / "003_inner.txt").write_text(f"date 2024-05-01 {SECRET} more")
        for part in parts:
            send_part(*part)

        def finished() -> bool:
            with engine.connect() as connection:
                status = connection.execute(select(IngestJob.status)).scalar_one()
            return status in ("done", "failed")

        wait_for(finished, what="the worker finishing the job")
        rejects = _rejects(engine)
        assert set(rejects) == {"002_swapped.txt", "003_inner.txt"}
        assert all("symbolic link" in reason and raw is None for reason, raw in rejects.values())
        bodies = _bodies(engine)
        assert len(bodies) == 1 and not any(SECRET in body for body in bodies)


class TestApiSeedRoots:
    def test_post_jobs_never_reads_through_a_link(
        self, celery_worker, postgres_db: str, tmp_path: Path
    ) -> None:
        """POST /jobs of a directory under NEWS_INGEST_API_SEED_ROOTS holding a link out:
        the link is a reject without bytes, the regular file is stored."""
        allowed = (tmp_path / "allowed").resolve()
        seeds = allowed / "batch"
        seeds.mkdir(parents=True)
        write_seed(seeds / "001_good.txt", 6)
        (seeds / "002_environ.txt").symlink_to("/proc/self/environ")
        (seeds / "003_evil.txt").symlink_to(_secret_outside(tmp_path))
        log = tmp_path / "api.log"
        with (
            running_api(postgres_db, log, NEWS_INGEST_API_SEED_ROOTS=str(allowed)) as server,
            server.client() as client,
        ):
            response = client.post("/jobs", json={"paths": [str(seeds)]})
            assert response.status_code == 202, response.text
            job_id = response.json()["job_id"]

            def done() -> dict[str, object] | None:
                job: dict[str, object] = client.get(f"/jobs/{job_id}").json()
                return job if job["status"] in ("done", "failed") else None

            job = wait_for(done, what="the job finishing")
            outside = client.post("/jobs", json={"paths": [str(seeds / "003_evil.txt")]})
        assert (job["received"], job["rejected"]) == (3, 2)
        engine = get_engine(postgres_db)
        rejects = _rejects(engine)
        assert set(rejects) == {"002_environ.txt", "003_evil.txt"}
        assert all("symbolic link" in reason and raw is None for reason, raw in rejects.values())
        assert not any(SECRET in body for body in _bodies(engine))
        assert outside.status_code == 400  # resolved outside the root: refused up front
