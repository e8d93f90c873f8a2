"""Score near-duplicate detection on the given set and a fixed suite of generated ones.

    python bench/neardup_suite.py [--only PREFIX] [--postgres] [--batch-size N] [--jobs N]

Makes the generated sets once into bench/out/ (`bench/make_neardup.py`, deterministic for a
corpus, seed and profile), scores each with `bench/neardup_score.py` and prints one line per
set and a summary: the worst precision and recall, and the sets under the issue's targets
(precision 0.995, recall 0.99). The suite names which sets rules were tuned on: `dev`
(../shared/eval/neardup-dev) and the `tuned` sets were looked at while the rules were
written, `seen` sets were scored before the last rule changes, and the `held-out` sets were
generated after them and only scored. --postgres ingests
into a fresh Postgres database per set (dropped afterwards) with batches of --batch-size (10)
files, which exercises the stored index, the dedup lock and story expansion; the default is
SQLite and one batch, as `news-ingest run` does for a small directory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "eval" / "neardup-dev"
OUT = ROOT / "bench" / "out"
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_PRECISION, TARGET_RECALL = 0.995, 0.99

# (name, corpus, seed, profile, role)
SUITE = [
    ("neardup-lee", "lee", 0, "normal", "tuned"),
    ("neardup-wiki", "wiki", 0, "normal", "tuned"),
    ("neardup-lee-hard", "lee", 0, "hard", "tuned"),
    ("neardup-mixed-hard", "mixed", 0, "hard", "tuned"),
    ("val-lee", "lee", 7, "normal", "tuned"),
    ("val-mixed-hard", "mixed", 7, "hard", "tuned"),
    ("val2-lee", "lee", 21, "normal", "tuned"),
    ("val2-wiki-hard", "wiki", 21, "hard", "tuned"),
    ("val2-lee-hard", "lee", 33, "hard", "tuned"),
    ("val2-mixed", "mixed", 33, "normal", "tuned"),
    ("val3-lee", "lee", 101, "normal", "tuned"),
    ("val3-wiki", "wiki", 101, "normal", "tuned"),
    ("val3-mixed", "mixed", 102, "normal", "tuned"),
    ("val3-lee50", "lee50", 103, "normal", "tuned"),
    *[
        (f"val4-{corpus}-{seed}", corpus, seed, "normal", "tuned")
        for seed, corpus in zip(range(200, 208), ["lee", "wiki", "mixed", "lee50"] * 2)
    ],
    *[
        (f"val5-{corpus}-{seed}", corpus, seed, "normal", "tuned")
        for seed, corpus in zip(range(300, 308), ["lee", "wiki", "mixed", "lee50"] * 2)
    ],
    *[
        (f"val6-{corpus}-{seed}", corpus, seed, "normal", "tuned")
        for seed, corpus in zip(range(500, 508), ["lee", "wiki", "mixed", "lee50"] * 2)
    ],
    *[
        (f"val6-{corpus}-hard-{seed}", corpus, seed, "hard", "tuned")
        for seed, corpus in zip(range(508, 512), ["lee", "wiki", "mixed", "lee50"])
    ],
    # val7 was held out until one of its false positives (a lead-only copy joining a story
    # whose reprint carried it as an "Update:") led to leaving such notes out.
    *[
        (f"val7-{corpus}-{seed}", corpus, seed, "normal", "tuned")
        for seed, corpus in zip(range(700, 712), ["lee", "wiki", "mixed", "lee50"] * 3)
    ],
    *[
        (f"val7-{corpus}-hard-{seed}", corpus, seed, "hard", "tuned")
        for seed, corpus in zip(range(712, 716), ["lee", "wiki", "mixed", "lee50"])
    ],
    # The first dev-profile sets were held out until one of their false positives (a cut
    # copy bridging two stories through the sentence both quote) set STORY_BRIDGE_SHARE.
    *[
        (f"devlike-{corpus}-{seed}", corpus, seed, "dev", "tuned")
        for seed, corpus in zip(range(900, 912), ["lee", "wiki", "mixed", "lee50"] * 3)
    ],
    # ... and the second ones until theirs (two short copies sharing one quoted sentence)
    # set SINGLE_PASSAGE_MIN_SHINGLES.
    *[
        (f"devlike2-{corpus}-{seed}", corpus, seed, "dev", "tuned")
        for seed, corpus in zip(range(950, 962), ["lee", "wiki", "mixed", "lee50"] * 3)
    ],
    # val8 was scored before the last two rule changes, not tuned on: "seen".
    *[
        (f"val8-{corpus}-{seed}", corpus, seed, "normal", "seen")
        for seed, corpus in zip(range(800, 812), ["lee", "wiki", "mixed", "lee50"] * 3)
    ],
    *[
        (f"val8-{corpus}-hard-{seed}", corpus, seed, "hard", "seen")
        for seed, corpus in zip(range(812, 816), ["lee", "wiki", "mixed", "lee50"])
    ],
    # Generated after the last rule change.
    *[
        (f"devlike3-{corpus}-{seed}", corpus, seed, "dev", "held-out")
        for seed, corpus in zip(range(1000, 1012), ["lee", "wiki", "mixed", "lee50"] * 3)
    ],
    *[
        (f"val9-{corpus}-{seed}", corpus, seed, "normal", "held-out")
        for seed, corpus in zip(range(1100, 1112), ["lee", "wiki", "mixed", "lee50"] * 3)
    ],
    *[
        (f"val9-{corpus}-hard-{seed}", corpus, seed, "hard", "held-out")
        for seed, corpus in zip(range(1112, 1116), ["lee", "wiki", "mixed", "lee50"])
    ],
]


# Wire copy (`bench/make_wire.py`): recurring templated reports and their resends. Seeds 0
# and 1 of the dev families were looked at while the specific-content rule was written;
# seeds 2-5 were only scored; the holdout families (report formats the rule was not written
# against) were scored once, at the end. (name, seed, families, role)
WIRE = [
    *[(f"wire-dev-{seed}", seed, "dev", "tuned") for seed in (0, 1)],
    *[(f"wire-dev-{seed}", seed, "dev", "held-out") for seed in range(2, 6)],
    *[(f"wire-holdout-{seed}", seed, "holdout", "held-out") for seed in range(8)],
]


def make_wire(name: str, seed: int, families: str) -> Path:
    target = OUT / name
    if not (target / "truth.json").is_file():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "make_wire.py"),
                str(target),
                "--seed",
                str(seed),
                "--families",
                families,
            ],
            check=True,
            capture_output=True,
        )
    return target


def make(name: str, corpus: str, seed: int, profile: str) -> Path:
    target = OUT / name
    if not (target / "truth.json").is_file():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "make_neardup.py"),
                str(target),
                "--corpus",
                corpus,
                "--seed",
                str(seed),
                "--profile",
                profile,
            ],
            check=True,
            capture_output=True,
        )
    return target


def score(directory: Path, *, postgres: bool, batch_size: int) -> dict[str, object]:
    command = [sys.executable, str(ROOT / "bench" / "neardup_score.py"), str(directory)]
    database = None
    if postgres:
        import psycopg

        database = f"neardup_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        command += [
            "--database-url",
            f"{url}/{database}",
            "--env",
            f"NEWS_INGEST_BATCH_SIZE={batch_size}",
        ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        if database is not None:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", default="", help="score only the sets whose name starts with this")
    ap.add_argument("--postgres", action="store_true", help="Postgres, batches of --batch-size")
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=1, help="sets scored at once")
    args = ap.parse_args()

    sets = [("neardup-dev", DEV, "dev")] if "neardup-dev".startswith(args.only) else []
    sets += [
        (name, make(name, corpus, seed, profile), role)
        for name, corpus, seed, profile, role in SUITE
        if name.startswith(args.only)
    ]
    sets += [
        (name, make_wire(name, seed, families), role)
        for name, seed, families, role in WIRE
        if name.startswith(args.only)
    ]
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(
            pool.map(
                lambda s: score(s[1], postgres=args.postgres, batch_size=args.batch_size), sets
            )
        )
    under = []
    for (name, _, role), result in zip(sets, results, strict=True):
        precision, recall = result["precision"], result["recall"]
        mark = "" if precision >= TARGET_PRECISION and recall >= TARGET_RECALL else "  < target"
        if mark:
            under.append(name)
        print(
            f"{name:24} {role:9} P {precision:.4f}  R {recall:.4f}  files {result['files']}{mark}"
        )
    for role in ("dev", "tuned", "seen", "held-out"):
        chosen = [r for (_, _, r_), r in zip(sets, results, strict=True) if r_ == role]
        if chosen:
            print(
                f"{role:9} {len(chosen):3} sets: precision min {min(r['precision'] for r in chosen):.4f}, "
                f"recall min {min(r['recall'] for r in chosen):.4f}"
            )
    print(f"under target: {', '.join(under) or 'none'}")


if __name__ == "__main__":
    main()
