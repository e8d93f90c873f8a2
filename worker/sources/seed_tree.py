"""Walk a seed directory cheaply: each seed file's path, size and mtime, from one stat.

A rescan compares these with what it recorded last time, so a directory of a million
unchanged files costs a million stats and no reads. Same selection rules as
`worker.sources.seeds.iter_seed_files`: `*.txt` (any case), recursively, hidden files and
directories skipped, symlinked directories not followed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from worker.sources.seeds import SEED_SUFFIX

__all__ = ["FileState", "content_digest", "is_seed_name", "stat_seed_file", "walk_seed_files"]

_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileState:
    """A seed file as one stat saw it."""

    path: str
    size: int
    mtime_ns: int


def is_seed_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(SEED_SUFFIX)


def walk_seed_files(root: str | Path) -> Iterator[FileState]:
    """Every seed file under `root`, depth first, in name order within each directory.

    A directory that cannot be listed and a file that vanishes mid-walk are skipped: the
    next scan sees them as they are then.
    """
    stack = [os.fspath(root)]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            continue
        subdirectories = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirectories.append(entry.path)
                    continue
                if not is_seed_name(entry.name):
                    continue
                info = entry.stat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                yield FileState(entry.path, info.st_size, info.st_mtime_ns)
        stack.extend(reversed(subdirectories))


def stat_seed_file(path: str | Path) -> FileState | None:
    """The state of one regular file, or None if it is gone or not a regular file."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return FileState(os.fspath(path), info.st_size, info.st_mtime_ns)


def content_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex): tells a touched file from a changed one."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
