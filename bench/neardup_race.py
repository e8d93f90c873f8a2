"""Score a labelled near-duplicate set ingested by racing workers on Postgres.

    python bench/neardup_race.py DIR [DIR ...] [--workers 2] [--batch-size 10]

Each set's seed files are dealt round-robin to --workers directories, and as many
`news-ingest run` processes ingest them at once, in batches of --batch-size, into one fresh
Postgres database (h_neardup_*, dropped afterwards): their dedup decisions race on the
advisory lock and on each other's stories, as Celery workers' would. The export is scored
as `bench/neardup_score.py` scores it; one JSON line per set.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from neardup_score import _cli, score, stories_from_export  # noqa: E402

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def race(directory: Path, *, workers: int, batch_size: int) -> dict[str, object]:
    import psycopg

    truth = json.loads((directory / "truth.json").read_text(encoding="utf-8"))["files"]
    database = f"h_neardup_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    work = Path(tempfile.mkdtemp(prefix="neardup-race-"))
    try:
        env = dict(os.environ)
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        env["DATABASE_URL"] = f"{base}/{database}"
        _cli(env, "db", "upgrade")
        parts = [work / f"worker-{n}" for n in range(workers)]
        for part in parts:
            part.mkdir()
        for n, seed in enumerate(sorted((directory / "seeds").glob("*.txt"))):
            shutil.copyfile(seed, parts[n % workers] / seed.name)
        exe = shutil.which("news-ingest") or str(Path(sys.executable).with_name("news-ingest"))
        running = [
            subprocess.Popen(
                [exe, "run", str(part), "--batch-size", str(batch_size)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for part in parts
        ]
        codes = [process.wait() for process in running]
        if any(codes):
            raise SystemExit(f"news-ingest run exited with {codes}")
        export = work / "export.jsonl"
        _cli(env, "export", "--format", "jsonl", "-o", str(export))
        story, _ = stories_from_export(export)
        return {"set": str(directory), **score(truth, story), "workers": workers}
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=10)
    args = parser.parse_args()
    for directory in args.dirs:
        result = race(directory, workers=args.workers, batch_size=args.batch_size)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
