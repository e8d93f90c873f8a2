"""Walk a seed directory cheaply: each seed file's path, size and mtime, from one stat.

A rescan compares these with what it recorded last time, so a directory of a million
unchanged files costs a million stats and no reads. Same selection rules as
`worker.sources.seeds.iter_seed_files`: `*.txt` (any case), recursively, hidden files and
directories skipped, no symbolic link followed (one named `*.txt` is reported as itself,
so the reader rejects it with the reason).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from worker.errors import RejectedInput
from worker.sources.seeds import SEED_SUFFIX, open_seed_file

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
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
                yield FileState(entry.path, info.st_size, info.st_mtime_ns)
        stack.extend(reversed(subdirectories))


def stat_seed_file(path: str | Path) -> FileState | None:
    """The state of one regular file or symbolic link (not followed), or None if it is
    gone or something else (a FIFO, a directory)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
        return None
    return FileState(os.fspath(path), info.st_size, info.st_mtime_ns)


def content_digest(path: str | Path, *, root: str, max_bytes: int) -> str:
    """SHA-256 of a file's bytes (hex): tells a touched file from a changed one.

    The file is opened beneath `root` as the worker will open it (no symbolic link
    followed, O_NONBLOCK so a FIFO cannot hold the scan) and checked once open: raises
    RejectedInput, having read nothing, for a link, a file outside the root, anything
    but a regular file, or one over `max_bytes` (a 2 GiB sparse file is not read).
    """
    fd = open_seed_file(os.fspath(path), root=root)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RejectedInput("not a regular file")
        if info.st_size > max_bytes:
            raise RejectedInput(f"seed file is {info.st_size} bytes, over the {max_bytes} limit")
        digest = hashlib.sha256()
        size = 0
        while chunk := os.read(fd, _READ_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise RejectedInput(f"seed file is over the {max_bytes} byte limit")
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()
