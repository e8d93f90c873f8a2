"""What the compose services rely on: heartbeat healthchecks, and `db upgrade --wait`
for a database that is still starting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.faults import BIN, REPO, cli, free_port
from tests.polling import wait_for


def _heartbeat(path: Path, max_age: str) -> int:
    return subprocess.run(
        [sys.executable, "-m", "worker.heartbeat", str(path), max_age],
        cwd=REPO,
        capture_output=True,
        check=False,
        timeout=60,
    ).returncode


class TestHeartbeatHealthcheck:
    def test_fresh_stale_and_missing_files(self, tmp_path: Path) -> None:
        """`python -m worker.heartbeat FILE MAX_AGE_S` passes on a fresh file only."""
        path = tmp_path / "beat"
        assert _heartbeat(path, "60") == 1
        path.touch()
        assert _heartbeat(path, "60") == 0
        past = time.time() - 120
        os.utime(path, (past, past))
        assert _heartbeat(path, "60") == 1

    def test_relay_keeps_its_heartbeat_fresh(self, postgres_db: str, tmp_path: Path) -> None:
        """A running `news-ingest events relay` touches its heartbeat file, which the relay
        service's healthcheck reads."""
        path = tmp_path / "relay.heartbeat"
        env = {**os.environ, "DATABASE_URL": postgres_db, "NEWS_INGEST_RELAY_HEARTBEAT": str(path)}
        relay = subprocess.Popen(
            [str(BIN / "news-ingest"), "events", "relay"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(path.exists, timeout=60, what="relay heartbeat")
            assert _heartbeat(path, "60") == 0
        finally:
            relay.terminate()
            relay.wait(timeout=30)

    def test_watch_keeps_its_heartbeat_fresh(self, postgres_db: str, tmp_path: Path) -> None:
        """`news-ingest watch DIR` touches its heartbeat file while it watches."""
        path = tmp_path / "watch.heartbeat"
        env = {**os.environ, "DATABASE_URL": postgres_db, "NEWS_INGEST_WATCH_HEARTBEAT": str(path)}
        (tmp_path / "seeds").mkdir()
        watch = subprocess.Popen(
            [str(BIN / "news-ingest"), "watch", str(tmp_path / "seeds")],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(path.exists, timeout=60, what="watch heartbeat")
            assert _heartbeat(path, "60") == 0
        finally:
            watch.terminate()
            watch.wait(timeout=30)


class TestUpgradeWaits:
    def test_db_upgrade_waits_for_an_unreachable_database_then_gives_up(self) -> None:
        """`db upgrade --wait 2` against a port nobody listens on retries (saying so), then
        fails with a one-line error."""
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
        result = cli("db", "upgrade", "--wait", "2", env={**os.environ, "DATABASE_URL": url})
        assert result.returncode == 1
        assert "not ready" in result.stderr and "retrying" in result.stderr
        assert "cannot migrate" in result.stderr

    def test_db_upgrade_migrates_a_reachable_database(self, postgres_db: str) -> None:
        """`db upgrade` on a database at head says so and exits 0."""
        result = cli("db", "upgrade", env={**os.environ, "DATABASE_URL": postgres_db})
        assert result.returncode == 0, result.stderr
        assert "newest schema" in result.stdout
