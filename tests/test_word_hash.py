"""The word hash and the sketch built on it are ours and fixed: stored band keys and
signatures must not change when a dependency (rensa, numpy) is upgraded."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.pipeline import dedup
from worker.pipeline.word_hash import word_hash
from worker.settings import Settings

# Words of every length class, in ASCII and beyond, as fingerprint texts hold them.
WORD = st.text(
    alphabet=st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc", "Cs")),
    min_size=1,
    max_size=40,
).filter(lambda word: not any(c.isspace() for c in word))
# A treasury-balance sentence, folded as fingerprint text.
TEXT = (
    "the treasury said balances at the federal reserve rose on april six to four billion "
    "dollars from three billion the previous week"
)


class TestWordHash:
    @pytest.mark.parametrize(
        ("word", "expected"),
        [
            ("a", 0xBD8E8067B4BE2F50),
            ("news", 0x5AE185D62E135A1C),
            ("ingest", 0x0F5A8D12598EC27D),
            ("fingerprint", 0xF4E4ADCD46509C34),
            ("a-word-longer-than-sixteen-bytes", 0x7DE6AA4C316ED9E5),
            ("zürich", 0x34EDCFE86F2E0212),
        ],
    )
    def test_fixed_values(self, word: str, expected: int) -> None:
        """Each length class of the definition (1-3, 4-7, 8-16, longer, non-ASCII) gives the
        value the stored index was built with."""
        assert word_hash(word.encode("utf-8")) == expected

    @given(st.lists(WORD, min_size=1, max_size=30))
    @settings(max_examples=300, deadline=None)
    def test_python_fallback_equals_the_c_kernel(self, words: list[str]) -> None:
        """Where the C kernel is built, its shingles are the Python reference's, word for word."""
        kernel = pytest.importorskip("worker.pipeline._fingerprint")
        got = np.frombuffer(kernel.word_shingles(" ".join(words).encode("utf-8"), 1), dtype="<u8")
        assert got.tolist() == dedup.word_shingles(words, size=1).tolist()


class TestSketchIsPinned:
    def test_shingles_signature_and_band_keys_of_a_fixed_text(self) -> None:
        """A fixed text's shingles, MinHash signature and band keys are the stored ones: a
        dependency upgrade that changed any of them would split every story in an existing
        index, so it fails here first."""
        s = Settings()
        unique, sketch = dedup.sketch_text(
            TEXT,
            size=s.shingle_words,
            perms=s.minhash_perms,
            bands=s.lsh_bands,
            rows=s.lsh_rows,
            lead_shingles=s.lead_shingles,
            lead_bands=s.lead_bands,
        )
        assert len(unique) == 19
        assert (
            hashlib.sha256(unique.tobytes()).hexdigest()
            == "3470d5987c3609d5051645399aaba2f2d22d0177daaf7e0158d6783282cca477"
        )
        assert (
            hashlib.sha256(sketch.signature).hexdigest()
            == "f5eac434e4db5378e72bc3f496b3e22cd8ec8c22171311bf5bfbe6a0bd6a3745"
        )
        assert len(sketch.band_keys) == 24
        assert sketch.band_keys[:3] == (
            8116572267131654603,
            7643594550307131091,
            6397541514495850876,
        )
        assert (
            hashlib.sha256(repr(sketch.band_keys).encode()).hexdigest()
            == "d57776b455ae081c0f967e77bf6834135e0aefe306b4518cb999d9ce88c37303"
        )
