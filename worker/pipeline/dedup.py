"""Near-duplicate math: word shingles, MinHash sketches, LSH band keys and exact similarity.

Why MinHash + banding: the band keys go into an indexed table (see
`worker.storage.index`), so a lookup is a handful of equality probes whatever the corpus
size. rensa computes the sketch in Rust (~10 us per 600-word article; datasketch costs
~500 us), which keeps sketching off the top of the profile.

Banding uses one row per band (16 bands by default) so that candidates are found for
short copies of long stories too: a lead-only copy that keeps a third of the text has a
Jaccard similarity near 0.33, which 16 single-row bands find with probability 0.998, at 16
index rows per article. That also finds unrelated articles sharing a sentence, so
candidates go through two filters: the full 128-value signatures estimate Jaccard and
containment (cheap, vectorised), and the survivors are verified exactly on their shingle
sets. The stored similarity is a measured value, not an estimate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import rensa

# Stored signatures and band keys depend on the seed, the shingling and the banding:
# changing any of them means re-sketching every stored article.
MINHASH_SEED = 20241123
_MASK64 = (1 << 64) - 1
_BAND_MIX = 0x9E3779B97F4A7C15  # golden-ratio multiplier: spreads band numbers over 64 bits


@dataclass(frozen=True, slots=True)
class Sketch:
    """What the index needs of one article: its signature, band keys and shingle count."""

    signature: bytes  # the MinHash values as little-endian uint32, stored with the article
    band_keys: tuple[int, ...]
    shingle_count: int


EMPTY_SKETCH = Sketch(signature=b"", band_keys=(), shingle_count=0)


@dataclass(frozen=True, slots=True)
class Similarity:
    jaccard: float
    containment: float  # |A & B| / min(|A|, |B|): high when one text is a cut of the other
    smaller: int  # shingles in the smaller text

    def score(self, *, min_containment_shingles: int) -> float:
        """The similarity used for the decision: containment counts only for texts long
        enough that sharing a footer or a stock sentence cannot reach it by chance."""
        if self.smaller >= min_containment_shingles:
            return max(self.jaccard, self.containment)
        return self.jaccard

    def is_near(self, *, threshold: float, containment_threshold: float,
                min_containment_shingles: int) -> bool:
        """A near copy: by Jaccard, or by containment against its own (higher) bar, as a
        lead quoted inside another story's article is contained in it at about 0.6."""
        return self.jaccard >= threshold or (
            self.smaller >= min_containment_shingles and self.containment >= containment_threshold)


def paragraph_fingerprints(fingerprints: Sequence[str]) -> list[tuple[int, str]]:
    """(hash, fingerprint) of each paragraph, from `normalize.fingerprint_paragraphs` (this
    module does no text cleaning). The hash is a signed 64-bit key for the
    `common_paragraphs` table."""
    result = []
    for text in fingerprints:
        digest = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        result.append((digest - (1 << 64) if digest >= 1 << 63 else digest, text))
    return result


def shingles(fingerprint: str, *, size: int) -> set[str]:
    """Word `size`-grams of a fingerprint text (see `normalize.fingerprint_text`)."""
    words = fingerprint.split()
    if len(words) <= size:
        return {" ".join(words)} if words else set()
    return set(map(" ".join, zip(*(words[i:] for i in range(size)))))


def sketch(shingle_set: set[str], *, perms: int, bands: int, rows: int) -> Sketch:
    """MinHash the shingles; the first `bands * rows` values make the band keys."""
    if not shingle_set:
        return EMPTY_SKETCH
    minhash = rensa.RMinHash(num_perm=perms, seed=MINHASH_SEED)
    minhash.update(list(shingle_set))
    values = minhash.digest()
    return Sketch(
        signature=np.asarray(values, dtype="<u4").tobytes(),
        band_keys=band_keys(values, bands=bands, rows=rows),
        shingle_count=len(shingle_set),
    )


def band_keys(signature: Sequence[int], *, bands: int, rows: int) -> tuple[int, ...]:
    """One signed 64-bit key per band (the type of a BIGINT column)."""
    if bands * rows > len(signature):
        raise ValueError(f"{bands} bands of {rows} rows need more than {len(signature)} values")
    keys = []
    for band in range(bands):
        value = (band + 1) * _BAND_MIX
        for row in signature[band * rows : (band + 1) * rows]:
            value = ((value ^ row) * _BAND_MIX) & _MASK64
        keys.append(value - (1 << 64) if value >= 1 << 63 else value)
    return tuple(keys)


def estimated_scores(
    a: Sketch, signatures: Sequence[bytes], counts: Sequence[int], *, min_containment_shingles: int
) -> np.ndarray:
    """`estimate(...).score(...)` against many candidates at once (one numpy pass)."""
    if not a.signature or not signatures:
        return np.zeros(len(signatures))
    mine = np.frombuffer(a.signature, "<u4")
    empty = np.full(len(mine), -1, dtype=np.int64)
    theirs = np.stack([np.frombuffer(sig, "<u4") if len(sig) == len(a.signature) else empty
                       for sig in signatures])
    jaccard = (theirs == mine).mean(axis=1)
    counts_array = np.asarray(counts, dtype=np.float64)
    smaller = np.minimum(float(a.shingle_count), counts_array)
    common = jaccard * (a.shingle_count + counts_array) / (1.0 + jaccard)
    containment = np.minimum(1.0, common / np.maximum(smaller, 1.0))
    return np.where(smaller >= min_containment_shingles, np.maximum(jaccard, containment), jaccard)


def similarity(a: set[str], b: set[str]) -> Similarity:
    """Exact Jaccard and containment of two shingle sets."""
    if not a or not b:
        return Similarity(jaccard=0.0, containment=0.0, smaller=0)
    common = len(a & b)
    smaller = min(len(a), len(b))
    return Similarity(
        jaccard=common / (len(a) + len(b) - common),
        containment=common / smaller,
        smaller=smaller,
    )
