"""Tests for worker.sources.seeds: finding seed files, decoding them, reading the header."""

from __future__ import annotations

import codecs
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from worker.errors import RejectedInput
from worker.pipeline.normalize import normalize_article
from worker.sources.seeds import (
    decode_seed_bytes,
    iter_seed_files,
    parse_seed_text,
    read_seed_file,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE_SEED = REPO / "seeds" / "000_d9f37a4187b141f7.txt"
DEV_SEEDS = Path("/work/shared/eval/neardup-dev/seeds")
MAX_BYTES = 1 << 20

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)
CP1252_HIGH = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ¡¢£¤¥¦§¨©ª«¬®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõö÷øùúûüýþÿ"


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _read(path: Path, max_bytes: int = MAX_BYTES) -> str:
    return read_seed_file(path, source="test", max_bytes=max_bytes).body


class TestIterSeedFiles:
    def test_directories_are_walked_recursively_in_sorted_order(self, tmp_path: Path) -> None:
        """A directory yields its *.txt files at any depth, sorted by path."""
        for name in ["b.txt", "a.txt", "sub/c.txt", "sub/deeper/a.txt", "A.TXT", "z/0.txt"]:
            _write(tmp_path / name, b"x")
        found = [path.relative_to(tmp_path).as_posix() for path in iter_seed_files([tmp_path])]
        assert found == ["A.TXT", "a.txt", "b.txt", "sub/c.txt", "sub/deeper/a.txt", "z/0.txt"]

    def test_other_and_hidden_files_are_skipped(self, tmp_path: Path) -> None:
        """Non-.txt files, hidden files and hidden directories are not seeds."""
        for name in ["keep.txt", "notes.md", ".hidden.txt", ".git/objects.txt", "x.txt.bak"]:
            _write(tmp_path / name, b"x")
        assert [path.name for path in iter_seed_files([tmp_path])] == ["keep.txt"]

    def test_files_named_directly_are_yielded_whatever_their_name(self, tmp_path: Path) -> None:
        """A file given on the command line is a seed even without the .txt suffix."""
        seed = _write(tmp_path / "article.text", b"x")
        assert list(iter_seed_files([str(seed)])) == [seed]

    def test_order_follows_the_arguments_and_each_file_comes_once(self, tmp_path: Path) -> None:
        """Arguments are visited in order, and a file reached twice is yielded once."""
        first = _write(tmp_path / "d/1.txt", b"x")
        second = _write(tmp_path / "d/2.txt", b"x")
        other = _write(tmp_path / "e/0.txt", b"x")
        found = list(iter_seed_files([other, tmp_path / "d", second, first]))
        assert found == [other, first, second]

    def test_links_to_a_seed_are_read_once(self, tmp_path: Path) -> None:
        """A hard link to a seed is the same file: yielded once, at its first name; a
        symbolic link is yielded as itself (the reader rejects it), and a link to a
        directory is not walked."""
        original = _write(tmp_path / "a.txt", b"x")
        (tmp_path / "b.txt").symlink_to(original)
        os.link(original, tmp_path / "c.txt")
        _write(tmp_path / "elsewhere/d.txt", b"y")
        (tmp_path / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
        (tmp_path / "dangling.txt").symlink_to(tmp_path / "missing.txt")
        assert list(iter_seed_files([tmp_path])) == [
            original,
            tmp_path / "b.txt",
            tmp_path / "dangling.txt",
            tmp_path / "elsewhere/d.txt",
        ]
        assert list(iter_seed_files([tmp_path / "c.txt", tmp_path])) == [
            tmp_path / "c.txt",
            tmp_path / "b.txt",
            tmp_path / "dangling.txt",
            tmp_path / "elsewhere/d.txt",
        ]

    def test_the_order_is_deterministic(self, tmp_path: Path) -> None:
        """Two walks of the same tree give the same sequence."""
        for index in range(30):
            _write(tmp_path / f"{index % 3}" / f"{index:03}_x.txt", b"x")
        assert list(iter_seed_files([tmp_path])) == list(iter_seed_files([tmp_path]))

    def test_missing_path_raises_before_anything_is_yielded(self, tmp_path: Path) -> None:
        """A missing path raises FileNotFoundError naming it, at call time."""
        _write(tmp_path / "ok.txt", b"x")
        missing = tmp_path / "nope"
        with pytest.raises(FileNotFoundError, match="no such seed file or directory") as error:
            iter_seed_files([tmp_path, missing])
        assert error.value.filename == str(missing)

    def test_the_repository_sample_seed_is_found(self) -> None:
        """The seeds/ directory of the repository yields the sample seed."""
        assert SAMPLE_SEED in list(iter_seed_files([REPO / "seeds"]))


class TestDecodeSeedBytes:
    def test_utf8(self) -> None:
        """UTF-8 is decoded as such."""
        assert decode_seed_bytes("caf\u00e9 \u2019 \u4e16".encode()) == "caf\u00e9 \u2019 \u4e16"

    def test_utf8_bom_is_removed(self) -> None:
        """A UTF-8 BOM decides the encoding and is not part of the text."""
        assert decode_seed_bytes(codecs.BOM_UTF8 + "\u00e9t\u00e9".encode()) == "\u00e9t\u00e9"

    @pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
    def test_utf16_and_utf32_with_bom(self, encoding: str) -> None:
        """UTF-16 and UTF-32 files with a BOM are decoded."""
        bom = {
            "utf-16-le": codecs.BOM_UTF16_LE,
            "utf-16-be": codecs.BOM_UTF16_BE,
        }.get(encoding, b"")
        data = bom + " date 2024-03-24 \u00e9t\u00e9\n".encode(encoding)
        assert decode_seed_bytes(data) == " date 2024-03-24 \u00e9t\u00e9"

    def test_utf16_without_bom(self) -> None:
        """UTF-16 without a BOM is recognised from its zero bytes."""
        text = "date 2024-03-24 Plain English text, \u00e9t\u00e9."
        assert decode_seed_bytes(text.encode("utf-16-le")) == text
        assert decode_seed_bytes(text.encode("utf-16-be")) == text

    def test_cp1252(self) -> None:
        """cp1252 bytes (smart quotes, dashes, accents) decode to the right characters."""
        data = b"caf\xe9 \x93quoted\x94 \x96 dash \x85 \x80 5"
        assert decode_seed_bytes(data) == "caf\u00e9 \u201cquoted\u201d \u2013 dash \u2026 \u20ac 5"

    def test_cp1252_undefined_bytes_are_latin1(self) -> None:
        """The five bytes cp1252 leaves undefined decode deterministically as C1 controls."""
        assert decode_seed_bytes(b"a\x81b\x8dc\x8fd\x90e\x9d") == "a\x81b\x8dc\x8fd\x90e\x9d"

    def test_utf8_with_stray_cp1252_bytes(self) -> None:
        """Valid UTF-8 stays UTF-8 and only the invalid bytes are read as cp1252."""
        data = "don\u2019t".encode() + b" caf\xe9"
        assert decode_seed_bytes(data) == "don\u2019t caf\u00e9"

    def test_trailing_padding_is_tolerated(self) -> None:
        """Trailing NULs and a DOS end-of-file marker are noise, not binary data."""
        assert decode_seed_bytes(b"Some text.\n" + b"\x00" * 500 + b"\x1a") == "Some text."

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"   \r\n\t",
            b"\x00" * 64,
            codecs.BOM_UTF8,
            codecs.BOM_UTF8 + b"  \n",
            codecs.BOM_UTF16_LE,
            codecs.BOM_UTF16_LE + " \n".encode("utf-16-le"),
            "\u00a0\u3000\n".encode(),
            b"\xa0",
        ],
    )
    def test_empty_files_are_rejected(self, data: bytes) -> None:
        """A file with no text is rejected as empty, with its bytes."""
        with pytest.raises(RejectedInput, match="empty file") as error:
            decode_seed_bytes(data)
        assert error.value.raw == data

    @pytest.mark.parametrize(
        "data",
        [
            bytes(range(256)) * 8,
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06",
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(40)),
            b"text with a binary tail " + bytes(range(32)) * 4 + b" more",
        ],
    )
    def test_binary_files_are_rejected(self, data: bytes) -> None:
        """Data full of control bytes is rejected as binary, with its bytes."""
        with pytest.raises(RejectedInput, match="binary") as error:
            decode_seed_bytes(data)
        assert error.value.raw == data

    def test_a_stray_control_byte_is_not_binary(self) -> None:
        """One NUL in a page of text does not make the file binary."""
        data = b"A long enough line of text. " * 20 + b"\x00" + b"More text."
        assert "\x00" in decode_seed_bytes(data)

    @pytest.mark.parametrize(
        "data",
        [
            codecs.BOM_UTF16_LE + b"\x00\xd8A\x00",  # a lone high surrogate
            codecs.BOM_UTF32_LE + b"\x00\x00\x11\x00",  # beyond U+10FFFF
        ],
    )
    def test_undecodable_text_is_rejected(self, data: bytes) -> None:
        """Bytes invalid in the encoding their BOM names are rejected as undecodable."""
        with pytest.raises(RejectedInput, match="undecodable") as error:
            decode_seed_bytes(data)
        assert error.value.raw == data

    @PROPERTY_SETTINGS
    @given(data=st.binary(max_size=400))
    def test_any_bytes_decode_or_are_rejected(self, data: bytes) -> None:
        """Any bytes give text or RejectedInput, never another exception."""
        try:
            text = decode_seed_bytes(data)
        except RejectedInput as error:
            assert error.raw == data
        else:
            assert text.strip()

    @PROPERTY_SETTINGS
    @given(
        text=st.text(
            alphabet=st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="\ufeff"),
            min_size=1,
        )
    )
    def test_utf8_round_trips(self, text: str) -> None:
        """UTF-8 text with some non-space comes back as written, less trailing spaces."""
        assume(text.strip())
        assert decode_seed_bytes(text.encode()) == text.rstrip(" ")

    @PROPERTY_SETTINGS
    @given(
        pairs=st.lists(
            st.tuples(st.sampled_from("abc XYZ.,"), st.sampled_from(CP1252_HIGH)), min_size=1
        )
    )
    def test_cp1252_round_trips(self, pairs: list[tuple[str, str]]) -> None:
        """cp1252 text whose non-ASCII characters are never adjacent decodes exactly."""
        text = "x" + "".join(ascii_char + high for ascii_char, high in pairs)
        assert decode_seed_bytes(text.encode("cp1252")) == text


class TestParseSeedText:
    def test_header_with_leading_whitespace(self) -> None:
        """Leading whitespace, `date YYYY-MM-DD`, a space, then the body on the same line."""
        assert parse_seed_text(" \n date 2024-03-24 In a move.") == ("2024-03-24", "In a move.")

    def test_header_followed_by_a_line_break(self) -> None:
        """A header alone on its line is still a header (LF or CRLF after it)."""
        assert parse_seed_text("date 2024-03-24\nBody.") == ("2024-03-24", "\nBody.")
        assert parse_seed_text("date 2024-03-24\r\nBody.") == ("2024-03-24", "\r\nBody.")

    def test_impossible_date_is_kept_as_written(self) -> None:
        """The reader does not judge dates: 2024-02-30 is passed on for the normalizer."""
        assert parse_seed_text("date 2024-02-30 Body.") == ("2024-02-30", "Body.")

    @pytest.mark.parametrize(
        "text",
        [
            "No header at all.",
            "Update 2024-03-24 was the day.",
            "date 2024-3-24 Body.",
            "date 2024-03-241 Body.",
            "Body.\ndate 2024-03-24 later.",
            "",
        ],
    )
    def test_without_a_header_the_whole_text_is_the_body(self, text: str) -> None:
        """Text without a well-formed header at its start is all body, with no date."""
        assert parse_seed_text(text) == (None, text)


class TestReadSeedFile:
    def test_the_sample_seed(self) -> None:
        """The sample seed reads as a text/plain RawArticle with its date and path."""
        raw = read_seed_file(SAMPLE_SEED, source="seeds", max_bytes=MAX_BYTES)
        assert raw.published_at == "2024-03-24"
        assert raw.content_type == "text/plain"
        assert raw.source == "seeds"
        assert raw.extra == {"path": str(SAMPLE_SEED)}
        assert raw.body.startswith("In a move that has sent ripples")
        assert raw.url is raw.guid is raw.title is None

    def test_crlf_bom_cp1252_seed_normalizes_cleanly(self, tmp_path: Path) -> None:
        """A seed with a BOM, CRLF line ends and cp1252 bytes gives clean text and a date."""
        data = codecs.BOM_UTF8 + (
            b" date 2024-03-24 The caf\xe9 \x93opened\x94.\r\n\r\nAdvertisment\r\n\r\n"
            b"Second \x96 para\r\ncontinues.\r\n"
        )
        # A BOM means UTF-8, so the cp1252 bytes rely on the per-byte fallback.
        article = normalize_article(
            read_seed_file(_write(tmp_path / "s.txt", data), source="t", max_bytes=MAX_BYTES)
        )
        assert article.body == "The caf\u00e9 \u201copened\u201d.\n\nSecond \u2013 para continues."
        assert article.published_at == datetime(2024, 3, 24, tzinfo=UTC)

    def test_mojibake_seed_is_repaired(self, tmp_path: Path) -> None:
        """A seed saved with mojibake (UTF-8 read as cp1252, saved as UTF-8) is repaired."""
        data = "date 2024-03-24 They donâ€™t know.".encode()
        article = normalize_article(
            read_seed_file(_write(tmp_path / "m.txt", data), source="t", max_bytes=MAX_BYTES)
        )
        assert article.body == "They don\u2019t know."

    def test_impossible_date_is_kept_then_nulled_by_the_normalizer(self, tmp_path: Path) -> None:
        """2024-02-30 stays in published_at; normalizing keeps the article with a warning."""
        path = _write(tmp_path / "d.txt", b"date 2024-02-30 Body text.")
        raw = read_seed_file(path, source="t", max_bytes=MAX_BYTES)
        assert raw.published_at == "2024-02-30"
        article = normalize_article(raw)
        assert article.published_at is None
        assert article.warnings == ("date invalid: 2024-02-30",)

    def test_missing_date(self, tmp_path: Path) -> None:
        """A seed without the header has no date; the normalizer notes it as missing."""
        raw = read_seed_file(
            _write(tmp_path / "n.txt", b"Just text."), source="t", max_bytes=MAX_BYTES
        )
        assert (raw.published_at, raw.body) == (None, "Just text.")
        assert normalize_article(raw).warnings == ("date missing",)

    @pytest.mark.parametrize(
        ("data", "reason"),
        [
            (b"", "empty file"),
            (b"\x00\x00\x00", "empty file"),
            (bytes(range(256)) * 4, "binary"),
        ],
    )
    def test_bad_files_are_rejected_with_their_bytes(
        self, tmp_path: Path, data: bytes, reason: str
    ) -> None:
        """Empty and binary files are rejected with the reason and the raw bytes."""
        with pytest.raises(RejectedInput, match=reason) as error:
            read_seed_file(_write(tmp_path / "bad.txt", data), source="t", max_bytes=MAX_BYTES)
        assert error.value.raw == data

    def test_size_limit_is_inclusive(self, tmp_path: Path) -> None:
        """A file of exactly max_bytes is read; one byte more is rejected."""
        assert _read(_write(tmp_path / "ok.txt", b"x" * 1024), max_bytes=1024) == "x" * 1024
        with pytest.raises(RejectedInput, match="1025 bytes, over the 1024 limit"):
            _read(_write(tmp_path / "big.txt", b"x" * 1025), max_bytes=1024)

    def test_oversize_file_is_refused_from_its_size(self, tmp_path: Path) -> None:
        """A huge (sparse) file is refused from stat alone, without reading it."""
        path = tmp_path / "huge.txt"
        with path.open("wb") as handle:
            handle.truncate(8 * 1024**3)
        with pytest.raises(RejectedInput, match="over the") as error:
            _read(path, max_bytes=MAX_BYTES)
        assert error.value.raw is None

    @pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
    def test_file_larger_than_its_stat_is_read_to_the_end_within_the_limit(self) -> None:
        """A file that grows after its size was read (here a /proc file, which reports 0
        bytes) is read to its end, and the byte limit still holds while reading."""
        body = _read(Path("/proc/self/status"))
        assert "Name:" in body and "VmRSS:" in body.split("Name:", 1)[1]
        with pytest.raises(RejectedInput, match="over the 1024 byte limit"):
            _read(Path("/proc/self/smaps"), max_bytes=1024)

    @pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
    def test_special_files_are_rejected_without_blocking(self, tmp_path: Path) -> None:
        """A named pipe is rejected as not a regular file instead of blocking on read."""
        fifo = tmp_path / "pipe.txt"
        os.mkfifo(fifo)
        with pytest.raises(RejectedInput, match="not a regular file"):
            _read(fifo)

    def test_directory_is_rejected(self, tmp_path: Path) -> None:
        """A directory passed as a seed file is rejected as not a regular file."""
        with pytest.raises(RejectedInput, match="not a regular file"):
            _read(tmp_path)

    @pytest.mark.skipif(not DEV_SEEDS.is_dir(), reason="shared dev seeds not present")
    def test_dev_seeds_all_read_and_normalize(self) -> None:
        """Every realistic dev seed reads, normalizes to text and has a valid date."""
        paths = list(iter_seed_files([DEV_SEEDS]))
        assert paths
        for path in paths:
            article = normalize_article(read_seed_file(path, source="dev", max_bytes=MAX_BYTES))
            assert article.body and article.title
            assert article.published_at is not None, path
            assert article.warnings == (), path
            assert "\r" not in article.body and "\xa0" not in article.body
            assert "Advertisment" not in article.body.split("\n\n")
