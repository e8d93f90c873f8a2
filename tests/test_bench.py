"""The ingest and enqueue benchmarks still run end to end (at a tiny N: their timings mean
nothing here, and no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL, TEST_REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
MAKE_BULK = ROOT.parent / "shared" / "eval" / "make_bulk.py"

pytestmark = pytest.mark.slow


def _bench_env() -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "BENCH_PG_ADMIN": PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://"),
        "BENCH_REDIS_URL": TEST_REDIS_URL,
    }


@pytest.mark.skipif(not MAKE_BULK.exists(), reason=f"the article generator {MAKE_BULK} is not here")
def test_ingest_bench_runs_end_to_end() -> None:
    env = _bench_env()
    finished = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ingest_bench.py"), "--n", "60", "--no-results"],
        env=env, capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(finished.stdout[finished.stdout.index("{"):])
    first = result["first_pass"]
    assert (first["status"], first["received"], first["new"], first["rejected"]) == ("done", 60, 60, 0)
    assert result["second_pass_duplicates"] == 60  # the same files again: all known
    for figure in ("celery_postgres_articles_per_s", "copy_rows_per_s", "sqlite_run_articles_per_s",
                   "stored_rows_copy_articles_per_s"):
        assert result[figure] > 0, figure
    assert 0 < result["ratio_to_copy"] and 0 < result["stored_rows_copy_ratio_to_copy"]
    assert len(result["peak_rss_mib_per_worker_process"]) >= 2  # the pool's parent and children


@pytest.mark.skipif(not MAKE_BULK.exists(), reason=f"the article generator {MAKE_BULK} is not here")
def test_enqueue_bench_queues_every_file() -> None:
    finished = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "enqueue_bench.py"), "--n", "60"],
        env=_bench_env(), capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(finished.stdout)
    assert (result["files"], result["messages"]) == (60, 1)  # one batch of 60 files
    assert 0 < result["first_batch_queued_s"] <= result["all_queued_s"]
