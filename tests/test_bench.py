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
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(finished.stdout[finished.stdout.index("{") :])
    first = result["first_pass"]
    assert (first["status"], first["received"], first["new"], first["rejected"]) == (
        "done",
        60,
        60,
        0,
    )
    assert result["second_pass_duplicates"] == 60  # the same files again: all known
    for figure in (
        "celery_postgres_articles_per_s",
        "copy_rows_per_s",
        "sqlite_run_articles_per_s",
        "stored_rows_copy_articles_per_s",
    ):
        assert result[figure] > 0, figure
    assert result["ratio_to_copy"] > 0 and result["stored_rows_copy_ratio_to_copy"] > 0
    assert len(result["peak_rss_mib_per_worker_process"]) >= 2  # the pool's parent and children


@pytest.mark.skipif(not MAKE_BULK.exists(), reason=f"the article generator {MAKE_BULK} is not here")
def test_enqueue_bench_queues_every_file() -> None:
    finished = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "enqueue_bench.py"), "--n", "60"],
        env=_bench_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(finished.stdout)
    assert (result["files"], result["messages"]) == (60, 1)  # one batch of 60 files
    assert 0 < result["first_batch_queued_s"] <= result["all_queued_s"]


@pytest.mark.skipif(not MAKE_BULK.exists(), reason=f"the article generator {MAKE_BULK} is not here")
def test_storage_ceiling_times_every_variant() -> None:
    finished = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "storage_ceiling.py"), "--n", "60", "--rounds", "1"],
        env=_bench_env(),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(finished.stdout)
    assert result["n"] == 60 and result["raw_copy_rows_per_s"] > 0
    assert set(result["variants"]) == {
        "everything stored",
        "without the raw input",
        "without the raw input and the signature",
        "without outbox events",
        "articles only",
    }
    for name, variant in result["variants"].items():
        assert variant["articles_per_s"] > 0 and variant["ratio_to_copy"] > 0, name


@pytest.mark.skipif(not MAKE_BULK.exists(), reason=f"the article generator {MAKE_BULK} is not here")
def test_gc_share_times_the_collector_during_a_run(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(MAKE_BULK), str(tmp_path / "seeds"), "60"],
        check=True,
        capture_output=True,
    )
    env = {**_bench_env(), "DATABASE_URL": f"sqlite:///{tmp_path}/news.db"}
    finished = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gc_share.py"), str(tmp_path / "seeds")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert json.loads(finished.stdout[finished.stdout.index("{") :])["new"] == 60
    result = json.loads(finished.stderr.strip().splitlines()[-1])
    assert result["cpu_s"] > 0 and 0 <= result["gc_share"] < 1
    assert result["collections_by_generation"][0] > 0  # 60 articles make young objects
