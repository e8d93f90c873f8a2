"""Heartbeat files for the long-running commands that answer no ping (relay, watch): the
loop touches a file while it works, and the container healthcheck,
`python -m worker.heartbeat FILE MAX_AGE_S`, fails when the file is older than that."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

__all__ = ["RELAY_HEARTBEAT", "WATCH_HEARTBEAT", "is_fresh", "touch"]

RELAY_HEARTBEAT = Path(
    os.environ.get("NEWS_INGEST_RELAY_HEARTBEAT", "/tmp/news-ingest-relay.heartbeat")
)
WATCH_HEARTBEAT = Path(
    os.environ.get("NEWS_INGEST_WATCH_HEARTBEAT", "/tmp/news-ingest-watch.heartbeat")
)


def touch(path: Path) -> None:
    """Mark `path` fresh; a file that cannot be written only costs the healthcheck."""
    with contextlib.suppress(OSError):
        path.touch()


def is_fresh(path: Path, max_age_s: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime <= max_age_s
    except OSError:
        return False


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m worker.heartbeat FILE MAX_AGE_S", file=sys.stderr)
        return 2
    return 0 if is_fresh(Path(argv[0]), float(argv[1])) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
