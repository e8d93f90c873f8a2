"""How much of an ingest's CPU the cyclic garbage collector takes: runs `news-ingest run
DIR` in this process with a callback timing every collection, and prints the seconds
spent per generation against the CPU of the whole run.

    DATABASE_URL=... python bench/gc_share.py bench/out/bulk20000

Use a fresh database (`news-ingest db upgrade` first), as for the profile in PROFILE.md.
"""

from __future__ import annotations

import gc
import json
import sys
import time

spent = [0.0, 0.0, 0.0]
collections = [0, 0, 0]
_started = 0.0


def _timed(phase: str, info: dict[str, int]) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
    else:
        spent[info["generation"]] += time.perf_counter() - _started
        collections[info["generation"]] += 1


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    from worker.cli import main as cli

    gc.callbacks.append(_timed)
    cpu = time.process_time()
    sys.argv = ["news-ingest", "run", sys.argv[1], "--json"]
    try:
        cli()
    except SystemExit as done:
        if done.code:
            raise
    cpu = time.process_time() - cpu
    print(
        json.dumps(
            {
                "cpu_s": round(cpu, 2),
                "gc_s": round(sum(spent), 2),
                "gc_share": round(sum(spent) / cpu, 3),
                "gc_s_by_generation": [round(s, 2) for s in spent],
                "collections_by_generation": collections,
            }
        ),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
