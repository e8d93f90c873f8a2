"""Seed files: find them, decode their bytes, split off the `date YYYY-MM-DD` header.

Turns a file into a RawArticle and nothing more; cleaning is the normalizer's job.
"""

from __future__ import annotations

import codecs
import errno
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from schemas.articles import MAX_BODY_CHARS, RawArticle
from worker.errors import RejectedInput

__all__ = [
    "SEED_SUFFIX",
    "decode_seed_bytes",
    "iter_seed_files",
    "open_seed_file",
    "parse_seed_text",
    "read_open_seed_file",
    "read_seed_file",
]

SEED_SUFFIX = ".txt"


def iter_seed_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """The seed files under `paths`, each once, in a deterministic order.

    A file named directly is yielded whatever its name; a directory is walked recursively
    for `*.txt` (case-insensitive), skipping hidden files and directories (editor and VCS
    droppings), in sorted order. Symbolic links found by the walk are yielded, not
    followed: reading them beneath their root rejects them with the reason. Raises FileNotFoundError at once, before yielding
    anything, if a path does not exist.
    """
    roots = [Path(path) for path in paths]
    for root in roots:
        if not root.exists():
            raise FileNotFoundError(errno.ENOENT, "no such seed file or directory", str(root))
    return _walk(roots)


def _walk(roots: list[Path]) -> Iterator[Path]:
    seen: set[tuple[int, int]] = set()  # (device, inode): the same file named twice is read once
    for root in roots:
        found: Iterable[tuple[Path, tuple[int, int]]]
        if root.is_dir():
            found = _files_under(root)
        else:
            info = root.stat()
            found = [(root, (info.st_dev, info.st_ino))]
        for path, identity in found:
            if identity not in seen:
                seen.add(identity)
                yield path


def _files_under(directory: Path) -> Iterator[tuple[Path, tuple[int, int]]]:
    """The seed files under a directory with their (device, inode), in the order of their
    path components (the same on every file system), as the walk finds them. One scandir
    and one lstat per directory: a regular file costs no system call of its own (its type
    and inode come with the directory entry), which matters at 100,000 files. Symbolic
    links are never followed: one named `*.txt` is yielded as itself (its own inode), so
    the reader rejects it with the reason instead of reading what it points to, which may
    lie outside the directory (issue 19); links to directories are not walked."""
    pending = [(iter(_sorted_entries(directory)), directory.stat().st_dev)]
    while pending:
        entries, device = pending[-1]
        entry = next(entries, None)
        if entry is None:
            pending.pop()
            continue
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            children = _sorted_entries(entry.path)
            pending.append((iter(children), entry.stat(follow_symlinks=False).st_dev))
        elif entry.name.lower().endswith(SEED_SUFFIX) and (
            entry.is_file(follow_symlinks=False) or entry.is_symlink()
        ):
            yield Path(entry.path), (device, entry.inode())


def _sorted_entries(directory: str | Path) -> list[os.DirEntry[str]]:
    """A directory's entries by name; none if it cannot be read (os.walk skips it too)."""
    try:
        with os.scandir(directory) as scan:
            return sorted(scan, key=lambda entry: entry.name)
    except OSError:
        return []


# --------------------------------------------------------------------------------------
# Bytes to text
# --------------------------------------------------------------------------------------

_BOMS = (
    # UTF-32 first: its little-endian BOM starts with UTF-16's.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Padding and end-of-file markers that old tools leave after the text.
_TRAILING_NOISE = b"\x00\x1a \t\r\n\x0b\x0c"
# Bytes that never occur in text: C0 controls other than whitespace and ESC, and DEL.
_BINARY_BYTES = bytes([*range(0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
_BINARY_RATIO = 0.01
_SAMPLE_BYTES = 64 * 1024

# Bytes 0x80-0x9f as cp1252 shows them; the five it leaves undefined stay C1 controls
# (what Latin-1 gives), so decoding never fails and depends on nothing but the bytes.
_CP1252_HIGH = {
    byte: bytes([byte]).decode("cp1252", errors="ignore") or chr(byte) for byte in range(0x80, 0xA0)
}
_CP1252_TABLE = str.maketrans({chr(byte): text for byte, text in _CP1252_HIGH.items()})
_ERROR_HANDLER = "news_ingest.cp1252"


def _decode_as_cp1252(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return bytes(bad).decode("latin-1").translate(_CP1252_TABLE), error.end


codecs.register_error(_ERROR_HANDLER, _decode_as_cp1252)


def decode_seed_bytes(data: bytes) -> str:
    """Text of a seed file's bytes.

    A BOM decides the encoding (UTF-8, UTF-16 or UTF-32). Without one the bytes are read
    as UTF-8, and any byte that is not valid UTF-8 is read as cp1252 (Latin-1 for the
    five bytes cp1252 leaves undefined): a cp1252 file comes out right, and so does a
    UTF-8 file with a few stray cp1252 bytes. UTF-16 without a BOM is recognised by its
    zero bytes. Raises RejectedInput (with the bytes) for an empty file, binary data or
    text that cannot be decoded in the encoding its BOM names.
    """
    content = data.rstrip(_TRAILING_NOISE)
    if not content.strip():
        raise RejectedInput("empty file", raw=data)
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return _decode_with_bom(data, content, bom, encoding)
    utf16 = _sniff_utf16(data)
    if utf16 is not None:
        return utf16
    if _looks_binary(content):
        raise RejectedInput("binary file (control bytes)", raw=data)
    text = content.decode("utf-8", errors=_ERROR_HANDLER).removeprefix("\ufeff")
    if not text.strip():  # e.g. only no-break spaces
        raise RejectedInput("empty file", raw=data)
    return text


def _decode_with_bom(data: bytes, content: bytes, bom: bytes, encoding: str) -> str:
    if encoding == "utf-8":
        text = content[len(bom) :].decode("utf-8", errors=_ERROR_HANDLER)
    else:
        # Zero bytes belong to UTF-16/32 code units: strip padding after decoding, and
        # only drop a ragged end that is padding.
        body = data[len(bom) :]
        unit = 4 if "32" in encoding else 2
        if len(body) % unit and not body[len(body) - len(body) % unit :].strip(_TRAILING_NOISE):
            body = body[: len(body) - len(body) % unit]
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError as error:
            raise RejectedInput(f"undecodable {encoding}: {error.reason}", raw=data) from None
    text = text.rstrip("\x00\x1a \t\r\n").removeprefix("\ufeff")
    if not text.strip():
        raise RejectedInput("empty file", raw=data)
    if _looks_binary(text.encode("utf-8", errors="surrogatepass")):
        raise RejectedInput("binary file (control characters)", raw=data)
    return text


def _sniff_utf16(data: bytes) -> str | None:
    """UTF-16 without a BOM: text in Latin script has a zero in every other byte."""
    sample = data[:_SAMPLE_BYTES]
    if len(sample) < 4 or sample.count(0) < len(sample) // 3:
        return None
    even_zeros = sample[0::2].count(0)
    odd_zeros = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_zeros > 0.9 * half and even_zeros < 0.1 * half:
        encoding = "utf-16-le"
    elif even_zeros > 0.9 * half and odd_zeros < 0.1 * half:
        encoding = "utf-16-be"
    else:
        return None
    body = data[: len(data) - len(data) % 2]
    try:
        text = body.decode(encoding).rstrip("\x00\x1a \t\r\n")
    except UnicodeDecodeError:
        return None
    if not text.strip() or _looks_binary(text.encode("utf-8", errors="surrogatepass")):
        return None
    return text


def _looks_binary(content: bytes) -> bool:
    sample = content[:_SAMPLE_BYTES]
    controls = len(sample) - len(sample.translate(None, _BINARY_BYTES))
    return controls > _BINARY_RATIO * len(sample)


# --------------------------------------------------------------------------------------
# Text to article
# --------------------------------------------------------------------------------------

_DATE_HEADER = re.compile(r"\s*date[ \t]+(\d{4}-\d{2}-\d{2})(?:[ \t]+|(?=[\r\n])|\Z)")


def parse_seed_text(text: str) -> tuple[str | None, str]:
    """(date, body) of a seed: optional leading whitespace, `date YYYY-MM-DD`, a space,
    then the body on the same line. Without that header: (None, the whole text).
    The date is returned as written, even if impossible; the normalizer judges it."""
    match = _DATE_HEADER.match(text)
    if match is None:
        return None, text
    return match.group(1), text[match.end() :]


# Reads past the size a file had: small enough for malloc to serve from its heap. With a
# 1 MiB buffer, a read took 34 µs instead of 5.6 in a 5,000-file `run` (the heap grown and
# trimmed back for every file).
_READ_CHUNK = 64 * 1024


# Opening beneath a root: every directory component is opened relative to the one before
# with O_NOFOLLOW, so no symbolic link (swapped in after the scan or not) is ever followed
# below the root, and the file itself is opened with O_NOFOLLOW and O_NONBLOCK (a FIFO's
# open does not wait for a writer). O_PATH: the directories need search permission only.
_DIRECTORY_FLAGS = (
    getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
)
_FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
_LINK_ERRNOS = frozenset({errno.ELOOP, errno.ENOTDIR, errno.EMLINK})


def open_seed_file(name: str, *, root: str | None) -> int:
    """A file descriptor for seed file `name`, opened for reading without blocking.

    With `root` (a directory found by a walk or allowed to the API), `name` must lie
    beneath it and is opened component by component from the root without following any
    symbolic link: RejectedInput (no bytes) if it is outside the root or reached through a
    link. Without `root` (a file the operator named on the command line) the path is
    followed as given. OSError (missing, unreadable) propagates.
    """
    if root is None:
        return os.open(name, _FILE_FLAGS)
    parts = _parts_beneath(root, name)
    directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            try:
                fd = os.open(
                    part,
                    (_FILE_FLAGS | os.O_NOFOLLOW) if last else _DIRECTORY_FLAGS,
                    dir_fd=directory,
                )
            except OSError as error:
                if error.errno in _LINK_ERRNOS and _is_link(part, directory):
                    raise RejectedInput(
                        f"{'/'.join(parts[: index + 1])} is a symbolic link: not followed "
                        f"beneath {root}"
                    ) from None
                raise
            if last:
                return fd
            os.close(directory)
            directory = fd
    finally:
        os.close(directory)
    raise AssertionError("unreachable: a path beneath a root has a last component")


def _parts_beneath(root: str, name: str) -> list[str]:
    """The components of `name` below `root` (compared as written: both come resolved)."""
    prefix = root if root.endswith(os.sep) else root + os.sep
    if not name.startswith(prefix):
        raise RejectedInput(f"outside its root {root}")
    parts = name[len(prefix) :].split(os.sep)
    if any(part in ("", ".", "..") for part in parts):
        raise RejectedInput(f"not a plain path beneath its root {root}")
    return parts


def _is_link(part: str, directory: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(part, dir_fd=directory, follow_symlinks=False).st_mode)
    except OSError:
        return False


def read_open_seed_file(fd: int, max_bytes: int) -> bytes:
    """An open file's bytes, at most `max_bytes`; the descriptor is left open.

    The open file is checked (no race between a stat and the open): RejectedInput without
    bytes if it is not a regular file or is over `max_bytes` (a sparse 2 GiB file is not
    read at all). Reads ask for the size the file has plus one byte, not for `max_bytes`:
    a read buffer is allocated at the size asked for, and megabytes per small file cost
    more than reading it."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise RejectedInput("not a regular file")
    if info.st_size > max_bytes:
        raise RejectedInput(f"seed file is {info.st_size} bytes, over the {max_bytes} limit")
    chunks = [os.read(fd, info.st_size + 1)]
    size = len(chunks[0])
    while chunks[-1] and size <= max_bytes:  # on to EOF: it may have grown since
        chunks.append(os.read(fd, min(max_bytes + 1 - size, _READ_CHUNK)))
        size += len(chunks[-1])
    if size > max_bytes:
        raise RejectedInput(f"seed file is over the {max_bytes} byte limit")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_seed_file(
    path: str | Path, *, source: str, max_bytes: int, root: str | None = None
) -> RawArticle:
    """One seed file as a RawArticle (text/plain, `extra["path"]` set).

    With `root`, the file is read only if the opened file lies beneath it with no symbolic
    link on the way (see `open_seed_file`). Raises RejectedInput for a file outside its
    root or reached through a link, one that is not a regular file, is larger than
    `max_bytes` (checked before reading it, and again while reading in case it grows),
    is empty, binary or undecodable. OSError (unreadable file) propagates: it may be
    fixed by the operator and is not a property of the input.
    """
    name = os.fspath(path)  # os calls on the string: Path objects cost more than the open
    fd = open_seed_file(name, root=root)
    try:
        data = read_open_seed_file(fd, max_bytes)
    finally:
        os.close(fd)
    text = decode_seed_bytes(data)
    if len(text) > MAX_BODY_CHARS:
        raise RejectedInput(f"seed file has over {MAX_BODY_CHARS} characters", raw=data)
    published_at, body = parse_seed_text(text)
    return RawArticle(
        body=body,
        published_at=published_at,
        content_type="text/plain",
        source=source,
        extra={"path": name},
    )
