"""Per-article ingest time with 10 thousand and with 1 million articles already stored.

    python bench/index_scale.py [--small 10000] [--large 1000000] [--probe 2000]

The stored corpus is synthetic (COPYed straight into `articles` and `story_bands`: random
signatures and band keys, short bodies), because only the index's size matters for the
lookups; the probe articles are real-text seed files ingested through the normal service
(`run_part`), exactly as a worker would. Cost must stay flat: every lookup is an index
probe on a primary key or unique constraint, never a scan. At the large size the probe runs
twice on different files: the first pass right after the fill (cold caches), the second is
the one reported. Peak RSS of this (ingesting) process is reported after each size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from ingest_bench import PG_ADMIN, drop_database, fresh_database, make_seeds  # noqa: E402


def fill(url: str, start: int, stop: int, bands: int) -> float:
    """COPY synthetic articles [start, stop) with their band keys; returns seconds."""
    import psycopg

    rng = np.random.default_rng(start)
    began = time.perf_counter()
    with psycopg.connect(url) as connection:
        with connection.cursor() as cursor:
            with cursor.copy(
                "COPY articles (id, title, body, content_hash, story_id, shingle_count, "
                "signature, normalizer_version, raw, created_at, updated_at) FROM STDIN"
            ) as copy:
                for article_id in range(start, stop):
                    signature = rng.integers(0, 2**32, 128, dtype=np.uint32).astype("<u4").tobytes()
                    copy.write_row(
                        (
                            article_id,
                            f"filler {article_id}",
                            f"filler article {article_id}",
                            uuid.uuid5(uuid.NAMESPACE_OID, str(article_id)).hex * 2,
                            article_id,
                            400,
                            signature,
                            1,
                            b"{}",
                            "2024-01-01T00:00:00Z",
                            "2024-01-01T00:00:00Z",
                        )
                    )
            keys = rng.integers(-(2**63), 2**63 - 1, (stop - start) * bands, dtype=np.int64)
            with cursor.copy("COPY story_bands (band_key, article_id) FROM STDIN") as copy:
                for index, key in enumerate(np.unique(keys).tolist()):
                    copy.write_row((key, start + index % (stop - start)))
            # Five paragraphs per article in the paragraph index (probed for every new text).
            hashes = np.unique(
                rng.integers(-(2**63), 2**63 - 1, (stop - start) * 5, dtype=np.int64)
            )
            with cursor.copy(
                "COPY common_paragraphs (paragraph_hash, article_id, shared) FROM STDIN"
            ) as copy:
                for index, key in enumerate(hashes.tolist()):
                    copy.write_row((key, start + index % (stop - start), False))
            cursor.execute("SELECT setval(pg_get_serial_sequence('articles', 'id'), %s)", (stop,))
            cursor.execute("ANALYZE articles; ANALYZE story_bands; ANALYZE common_paragraphs")
        connection.commit()
    return time.perf_counter() - began


def probe(sqlalchemy_url: str, files: list[Path]) -> float:
    """Ingest real seed files through the service; returns ms per article."""
    from worker.services import jobs as job_service
    from worker.services import parts as part_service
    from worker.storage.session import get_engine

    engine = get_engine(sqlalchemy_url)
    job_id = job_service.create_job(engine=engine)
    began = time.perf_counter()
    for start in range(0, len(files), 500):
        job_service.add_seed_parts(
            engine=engine,
            job_id=job_id,
            paths=files[start : start + 500],
            batch_size=500,
            send_part=lambda job, part, _kind: part_service.run_part(
                engine=engine, job_id=job, part_no=part
            ),
        )
    return (time.perf_counter() - began) * 1000 / len(files)


def _in_child(function, *args):  # type: ignore[no-untyped-def]
    """Run the fill in another process, so the peak RSS reported is the ingest's alone."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--probe", type=int, default=2_000)
    args = parser.parse_args()
    os.environ.setdefault("NEWS_INGEST_LOG_LEVEL", "WARNING")
    from worker.settings import get_settings

    bands = get_settings().lsh_bands + get_settings().lead_bands  # full-text and opening keys
    seeds = sorted(make_seeds(2 * args.probe * 5).glob("*.txt"))
    first, second, third = (seeds[n * args.probe : (n + 1) * args.probe] for n in range(3))
    database = fresh_database()
    psycopg_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"
    sqlalchemy_url = psycopg_url.replace("postgresql://", "postgresql+psycopg://")
    subprocess.run(
        ["news-ingest", "db", "upgrade"],
        env={**os.environ, "DATABASE_URL": sqlalchemy_url},
        check=True,
        capture_output=True,
    )
    try:
        fill_small = _in_child(fill, psycopg_url, 1, args.small + 1, bands)
        at_small = probe(sqlalchemy_url, first)
        rss_small = _peak_rss_mib()
        fill_large = _in_child(
            fill, psycopg_url, args.small + 1 + 10 * args.probe, args.large + 1, bands
        )
        at_large_cold = probe(sqlalchemy_url, second)  # right after the fill: caches cold
        at_large = probe(sqlalchemy_url, third)
        rss_large = _peak_rss_mib()
    finally:
        from worker.resources import resources

        resources.close()
        drop_database(database)
    print(
        json.dumps(
            {
                "stored_small": args.small,
                "ms_per_article_small": round(at_small, 3),
                "stored_large": args.large,
                "ms_per_article_large": round(at_large, 3),
                "ms_per_article_large_first_pass": round(at_large_cold, 3),
                "ratio_large_to_small": round(at_large / at_small, 3),
                "peak_rss_mib": [round(rss_small, 1), round(rss_large, 1)],
                "fill_seconds": [round(fill_small, 1), round(fill_large, 1)],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
