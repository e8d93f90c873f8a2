"""How a process that ingests batches sets up Python's cyclic garbage collector."""

from __future__ import annotations

import gc

# A batch makes tens of thousands of container objects that live until it is stored (texts,
# candidates, index rows), and reference counting, not the collector, frees them. At the
# default threshold (700 new objects) the collector scanned them ~2,400 times in a 20,000-
# article run; at 20,000, ~50 times. Peak RSS stayed the same (bench/PROFILE.md).
YOUNG_COLLECTION_THRESHOLD = 20_000


def prepare_for_batches() -> None:
    """Call once what the process needs is loaded: in the Celery parent before the pool
    forks, in `news-ingest run` after its imports. What is loaded by then lives as long as
    the process; frozen, full collections no longer scan it (nor write to its pages, which
    forked children then keep sharing)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
