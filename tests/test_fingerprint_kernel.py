"""The C kernel (worker/pipeline/_fingerprint.c) gives exactly what the Python code it
replaces gives: stored sketches and paragraph hashes must not depend on whether it was
built."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.pipeline import dedup, normalize
from worker.pipeline.candidates import sketch_body
from worker.pipeline.normalize import fingerprint_paragraphs, fingerprint_words
from worker.settings import Settings

kernel = pytest.importorskip(
    "worker.pipeline._fingerprint", reason="the C kernel is not built (no C compiler at install)"
)

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
ASCII = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=300)
# Words of every length the hash treats apart (1-3, 4-7, 8-16 and longer bytes), in ASCII
# and beyond it, as fingerprint texts hold them: single spaces between.
WORD = st.text(
    alphabet=st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc", "Cs")),
    min_size=1,
    max_size=40,
).filter(lambda word: not any(c.isspace() for c in word))
FINGERPRINT = st.lists(WORD, max_size=60).map(" ".join)


@given(ASCII)
@settings(max_examples=400, deadline=None)
def test_fold_is_fingerprint_text(text: str) -> None:
    words = fingerprint_words(text)
    assert kernel.fold(text.encode("ascii")) == (" ".join(words).encode("ascii"), len(words))


@given(FINGERPRINT, st.integers(min_value=1, max_value=6))
@settings(max_examples=400, deadline=None)
def test_shingles_are_word_hashes_combined(text: str, size: int) -> None:
    expected = dedup.word_shingles(text.split(), size=size)
    got = np.frombuffer(kernel.word_shingles(text.encode("utf-8"), size), dtype="<u8")
    assert got.tolist() == expected.tolist()


def test_shingles_of_texts_longer_than_a_shingle_table() -> None:
    """Sizes past the 16 precomputed word multipliers."""
    text = " ".join(f"word{index}" for index in range(40))
    for size in (16, 17, 25):
        got = np.frombuffer(kernel.word_shingles(text.encode(), size), dtype="<u8")
        assert got.tolist() == dedup.word_shingles(text.split(), size=size).tolist()


def _bodies() -> list[str]:
    """Real article bodies: the given seeds and near-duplicate set (mojibake, typography,
    datelines and other scripts among them), plus a few made to hit the edges."""
    from worker.pipeline.normalize import normalize_article
    from worker.sources.seeds import read_seed_file

    bodies = [
        "SYDNEY (AAP) - It's a test, isn't it?\n\nRelated: another story here now\n\n"
        "Update: later, more words in this added note here",
        "Don't stop\n\n\n\nnow\x1cthen\ttabs\r\n\n\nend",
        "\u00e9t\u00e9 caf\u00e9 d\u2019\u00e9t\u00e9",
        "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
        "x",
    ]
    for path in sorted(EVAL.rglob("*.txt"))[:400]:
        try:
            bodies.append(
                normalize_article(
                    read_seed_file(path, source="t", max_bytes=1 << 20),
                    boilerplate=frozenset(),
                    title_max_chars=200,
                ).body
            )
        except Exception:  # rejected seeds have no body to compare
            continue
    return bodies


def test_paragraphs_and_sketches_match_the_python_code(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = _bodies()
    assert len(bodies) > 50, "the eval set is missing"
    limits = Settings()
    with_kernel = [(fingerprint_paragraphs(body), sketch_body(body, limits)) for body in bodies]
    monkeypatch.setattr(normalize, "_kernel", None)
    monkeypatch.setattr(dedup, "_kernel", None)
    for body, (paragraphs, (hashed, shingles, sketch)) in zip(bodies, with_kernel, strict=True):
        python_hashed, python_shingles, python_sketch = sketch_body(body, limits)
        assert paragraphs == fingerprint_paragraphs(body)
        assert hashed == python_hashed
        assert shingles.tolist() == python_shingles.tolist()
        assert sketch == python_sketch
