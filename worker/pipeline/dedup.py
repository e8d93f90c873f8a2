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

A second, small sketch of the opening of the text (`sketch_text`, `lead_shingles` shingles)
adds `lead_bands` keys in their own key space. A lead-only copy of a long story that was
edited is about as alike as its opening, and shares a full-text band with it only with
probability 1-(1-J)^16, ~0.8 at a Jaccard of 0.1: the opening keys find it nearly always.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import ModuleType

import numpy as np
import rensa

from worker.pipeline.word_hash import word_hash

_kernel: ModuleType | None
try:  # the C kernel (setup.py); without it the Python code gives the same results, slower
    from worker.pipeline import _fingerprint as _kernel
except ImportError:  # pragma: no cover - built wherever a C compiler is
    _kernel = None

# Stored signatures and band keys depend on the seed, the shingling and the banding:
# changing any of them means re-sketching every stored article.
MINHASH_SEED = 20241123
_MASK64 = (1 << 64) - 1
_BAND_MIX = 0x9E3779B97F4A7C15  # golden-ratio multiplier: spreads band numbers over 64 bits
# Band numbers of the opening's keys start here, apart from the full text's.
LEAD_FIRST_BAND = 1 << 16


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
    # `leading_containment` of the smaller in the larger, measured only where it decides
    # (see `needs_leading`)
    leading: float = 0.0
    # `shared_passages` of the smaller text (how many, the longest), measured only where
    # they decide (`needs_passages`)
    passages: int = 0
    longest_passage: int = 0

    def score(self, *, min_containment_shingles: int) -> float:
        """The similarity used for the decision: containment counts only for texts long
        enough that sharing a footer or a stock sentence cannot reach it by chance."""
        if self.smaller >= min_containment_shingles:
            return max(self.jaccard, self.containment)
        return max(self.jaccard, self.leading)  # a short lead: its share of the opening

    def is_near(self, rules: NearRules) -> bool:
        """Whether two texts are near copies. Jaccard at `threshold` decides alone. For texts
        of `min_containment_shingles` or more, containment (the share of the shorter text in
        the longer) counts in bands, with evidence of how the text is shared where a quote
        could reach the same figures:

        - `containment_threshold` or more: alone (a lead-only or first-third copy);
        - `threshold` or more, at the start of the longer text (`leading`): an edited cut
          copy. A story quoting a few sentences of another contains that other's lead-only
          copy at 0.6-0.7 with a Jaccard under 0.2, but not at its start;
        - `threshold` or more with Jaccard `containment_min_jaccard` or more (a cut or edited
          copy of comparable size), if more than one quoted sentence is shared: several
          passages, or one of `single_passage_min_shingles`. Short copies of two stories of
          one event that both quote a sentence share just it;
        - `edited_containment` with `edited_jaccard` (a sentence or two of a short article
          rewritten), in `edited_passages` passages or more.

        A shorter text is a copy only as the opening of the longer, nearly word for word
        (`short_lead_*`)."""
        if self.jaccard >= rules.threshold:
            return True
        if self.smaller < rules.min_containment_shingles:
            return (
                self.smaller >= rules.short_lead_min_shingles
                and self.leading >= rules.short_lead_containment
            )
        if self.containment < rules.threshold:
            return (
                self.containment >= rules.edited_containment
                and self.jaccard >= rules.edited_jaccard
                and self.passages >= rules.edited_passages
            )
        if self.containment >= rules.containment_threshold or self.leading >= rules.threshold:
            return True
        return self.jaccard >= rules.containment_min_jaccard and (
            self.passages >= rules.edited_passages
            or self.longest_passage >= rules.single_passage_min_shingles
        )

    def needs_leading(self, rules: NearRules) -> bool:
        """Whether `leading` alone decides `is_near`: worth measuring only then."""
        if self.jaccard >= rules.threshold:
            return False
        if self.smaller < rules.min_containment_shingles:
            return (
                self.smaller >= rules.short_lead_min_shingles
                and self.containment >= rules.short_lead_containment
            )
        if not rules.threshold <= self.containment < rules.containment_threshold:
            return False
        return self.jaccard < rules.containment_min_jaccard or not (
            self.passages >= rules.edited_passages
            or self.longest_passage >= rules.single_passage_min_shingles
        )

    def needs_passages(self, rules: NearRules) -> bool:
        """Whether `passages` can decide `is_near`: worth measuring only then (before
        `leading`, which is judged with them)."""
        if self.jaccard >= rules.threshold or self.smaller < rules.min_containment_shingles:
            return False
        if rules.threshold <= self.containment < rules.containment_threshold:
            return self.jaccard >= rules.containment_min_jaccard
        return (
            rules.edited_containment <= self.containment < rules.threshold
            and self.jaccard >= rules.edited_jaccard
        )


@dataclass(frozen=True, slots=True)
class NearRules:
    """The thresholds of `Similarity.is_near` (the NEWS_INGEST_* settings of the same names)."""

    threshold: float
    containment_threshold: float
    containment_min_jaccard: float
    edited_containment: float
    edited_jaccard: float
    edited_passages: int
    single_passage_min_shingles: int
    min_containment_shingles: int
    short_lead_min_shingles: int
    short_lead_containment: float


def paragraph_fingerprints(fingerprints: Sequence[str]) -> list[tuple[int, str]]:
    """(hash, fingerprint) of each paragraph, from `normalize.fingerprint_paragraphs` (this
    module does no text cleaning). The hash is a signed 64-bit key for the
    `common_paragraphs` table."""
    result = []
    for text in fingerprints:
        digest = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        result.append((digest - (1 << 64) if digest >= 1 << 63 else digest, text))
    return result


def _word_mix(size: int) -> np.ndarray:
    # One odd 64-bit multiplier per position in a shingle (golden ratio times odd numbers).
    return np.array(
        [(_BAND_MIX * (2 * position + 1)) & _MASK64 for position in range(size)], dtype=np.uint64
    )


_WORD_MIX = _word_mix(16)
EMPTY_SHINGLES = np.empty(0, dtype=np.uint64)


def shingles(fingerprint: str, *, size: int) -> np.ndarray:
    """Word `size`-grams of a fingerprint text (see `normalize.fingerprint_text`), as the
    sorted unique 64-bit hashes of the shingles (`shingles_in_order`: the C kernel, or
    `word_hash.word_hash` combined in numpy, with the same result). Set operations on sorted integer
    arrays are cheap."""
    return sorted_unique(shingles_in_order(fingerprint, size=size))


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """`np.unique` of a 1-d array, without the overhead it pays for its options: ~5 us
    against ~35 us for the few hundred shingles of an article, on every article."""
    if len(values) < 2:
        return values.copy()
    ordered = np.sort(values)
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def shingles_in_order(fingerprint: str, *, size: int) -> np.ndarray:
    """The hashes of `shingles`, one per position in the text, in text order. A fingerprint
    text separates its words by single spaces, so the C kernel can take its bytes."""
    if _kernel is not None:
        return np.frombuffer(
            _kernel.word_shingles(fingerprint.encode("utf-8", "surrogatepass"), size), dtype="<u8"
        )
    return word_shingles(fingerprint.split(), size=size)


def word_shingles(words: list[str], *, size: int) -> np.ndarray:
    """`shingles_in_order` of a fingerprint text's words."""
    if not words:
        return EMPTY_SHINGLES
    hashes = np.fromiter(
        (word_hash(word.encode("utf-8", "surrogatepass")) for word in words),
        dtype=np.uint64,
        count=len(words),
    )
    width = min(size, len(hashes))
    count = len(hashes) - width + 1
    mix = _WORD_MIX if size <= len(_WORD_MIX) else _word_mix(size)
    combined = hashes[:count] * mix[0]
    for position in range(1, width):
        combined += hashes[position : position + count] * mix[position]
    # A final avalanche (the splitmix64 finaliser) so that nearby sums differ everywhere.
    combined ^= combined >> np.uint64(30)
    combined *= np.uint64(0xBF58476D1CE4E5B9)
    combined ^= combined >> np.uint64(27)
    combined *= np.uint64(0x94D049BB133111EB)
    combined ^= combined >> np.uint64(31)
    result: np.ndarray = combined
    return result


def sketch(shingle_hashes: np.ndarray, *, perms: int, bands: int, rows: int) -> Sketch:
    """MinHash the shingles; the first `bands * rows` values make the band keys."""
    if not len(shingle_hashes):
        return EMPTY_SKETCH
    values = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
        shingle_hashes,
        np.array([0, len(shingle_hashes)], dtype=np.uint64),
        num_perm=perms,
        seed=MINHASH_SEED,
    ).to_rows()[0]
    signature = np.asarray(values, dtype="<u4")
    return Sketch(
        signature=signature.tobytes(),
        band_keys=band_keys(signature, bands=bands, rows=rows),
        shingle_count=len(shingle_hashes),
    )


def sketch_text(
    fingerprint: str,
    *,
    size: int,
    perms: int,
    bands: int,
    rows: int,
    lead_shingles: int,
    lead_bands: int,
) -> tuple[np.ndarray, Sketch]:
    """`shingles` of a fingerprint text and its `sketch`, whose band keys end with
    `lead_bands` single-row keys of the opening: a MinHash of its first `lead_shingles`
    shingles (the whole text if shorter)."""
    in_order = shingles_in_order(fingerprint, size=size)
    unique = sorted_unique(in_order)
    whole = sketch(unique, perms=perms, bands=bands, rows=rows)
    if not lead_bands or not len(unique):
        return unique, whole
    opening = in_order[:lead_shingles]  # repeats change no minimum
    values = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
        opening,
        np.array([0, len(opening)], dtype=np.uint64),
        num_perm=lead_bands,
        seed=MINHASH_SEED + 1,
    ).to_rows()[0]
    lead = band_keys(values, bands=lead_bands, rows=1, first_band=LEAD_FIRST_BAND)
    return unique, replace(whole, band_keys=whole.band_keys + lead)


def band_keys(
    signature: Sequence[int] | np.ndarray, *, bands: int, rows: int, first_band: int = 0
) -> tuple[int, ...]:
    """One signed 64-bit key per band (the type of a BIGINT column): the band's number and
    its rows mixed by multiplication modulo 2^64, all bands in one numpy pass."""
    if bands * rows > len(signature):
        raise ValueError(f"{bands} bands of {rows} rows need more than {len(signature)} values")
    grid = np.asarray(signature[: bands * rows], dtype=np.uint64).reshape(bands, rows)
    mix = np.uint64(_BAND_MIX)
    value = np.arange(first_band + 1, first_band + bands + 1, dtype=np.uint64) * mix
    for row in range(rows):
        value = (value ^ grid[:, row]) * mix
    return tuple(value.view(np.int64).tolist())


def signature_values(signature: bytes, perms: int) -> np.ndarray | None:
    """A stored signature as an array, or None if it was made with another permutation
    count (such a candidate is never estimated similar)."""
    if len(signature) != 4 * perms:
        return None
    return np.frombuffer(signature, "<u4")


def estimated_scores(
    a: Sketch,
    values: Sequence[np.ndarray | None],
    counts: Sequence[int],
    *,
    min_containment_shingles: int,
) -> np.ndarray:
    """`estimate(...).score(...)` against many candidates at once (one numpy pass);
    `values` are `signature_values` of the candidates."""
    if not a.signature or not values:
        return np.zeros(len(values))
    mine = np.frombuffer(a.signature, "<u4")
    rows = np.zeros(len(values), dtype=np.intp)
    return estimated_pair_scores(
        mine[np.newaxis],
        np.array([a.shingle_count]),
        rows,
        *stack_signatures(values, len(mine)),
        np.asarray(counts),
        np.arange(len(values)),
        min_containment_shingles=min_containment_shingles,
    )


def stack_signatures(
    values: Sequence[np.ndarray | None], perms: int
) -> tuple[np.ndarray, np.ndarray]:
    """`signature_values` as one matrix, and which rows hold a signature of `perms` values
    (the others are zeros and are never estimated similar)."""
    valid = np.array([row is not None and len(row) == perms for row in values], dtype=bool)
    matrix = np.zeros((len(values), perms), dtype="<u4")
    if valid.any():
        matrix[valid] = np.stack(
            [row for row, ok in zip(values, valid, strict=True) if ok and row is not None]
        )
    return matrix, valid


def estimated_pair_scores(
    signatures: np.ndarray,
    counts: np.ndarray,
    rows: np.ndarray,
    other_signatures: np.ndarray,
    other_valid: np.ndarray,
    other_counts: np.ndarray,
    other_rows: np.ndarray,
    *,
    min_containment_shingles: int,
) -> np.ndarray:
    """Estimated scores of many pairs in one numpy pass: the text at `rows[i]` of
    (`signatures`, `counts`) against the one at `other_rows[i]` of the others (see
    `stack_signatures`). Jaccard is the share of equal MinHash values; containment follows
    from it and the shingle counts, for texts of `min_containment_shingles` or more."""
    if not len(rows):
        return np.zeros(0)
    jaccard = (signatures[rows] == other_signatures[other_rows]).mean(axis=1)
    jaccard[~other_valid[other_rows]] = 0.0
    mine = np.asarray(counts, dtype=np.float64)[rows]
    theirs = np.asarray(other_counts, dtype=np.float64)[other_rows]
    smaller = np.minimum(mine, theirs)
    common = jaccard * (mine + theirs) / (1.0 + jaccard)
    containment = np.minimum(1.0, common / np.maximum(smaller, 1.0))
    scores: np.ndarray = np.where(
        smaller >= min_containment_shingles, np.maximum(jaccard, containment), jaccard
    )
    return scores


def similarity(a: np.ndarray, b: np.ndarray) -> Similarity:
    """Exact Jaccard and containment of two `shingles` arrays."""
    if not len(a) or not len(b):
        return Similarity(jaccard=0.0, containment=0.0, smaller=0)
    common = common_count(a, b)
    smaller = min(len(a), len(b))
    return Similarity(
        jaccard=common / (len(a) + len(b) - common),
        containment=common / smaller,
        smaller=smaller,
    )


def leading_containment(smaller: np.ndarray, larger_in_order: np.ndarray) -> float:
    """The share of a text's shingles (`shingles`) found at the start of a longer one
    (`shingles_in_order`), within as many shingles as the shorter has: about its
    containment for a cut copy (a lead, a first third, a trimmed ending), near zero for a
    passage quoted further down."""
    if not len(smaller):
        return 0.0
    start = sorted_unique(larger_in_order[: len(smaller)])
    return common_count(smaller, start) / len(smaller)


# A shared passage is at least this many shingles in a row (7 words with 4-word shingles).
PASSAGE_SHINGLES = 4


def shared_passages(smaller_in_order: np.ndarray, larger: np.ndarray) -> tuple[int, int]:
    """The passages of a text (`shingles_in_order`) another (`shingles`) shares: how many
    runs of at least PASSAGE_SHINGLES shared shingles in a row, and the longest run."""
    if not len(smaller_in_order) or not len(larger):
        return 0, 0
    shared = np.isin(smaller_in_order, larger, assume_unique=False).astype(np.int8)
    edges = np.diff(np.concatenate(([0], shared, [0])))
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return int(np.count_nonzero(lengths >= PASSAGE_SHINGLES)), int(lengths.max(initial=0))


def common(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The shingles in both."""
    return np.intersect1d(a, b, assume_unique=True)


def common_count(a: np.ndarray, b: np.ndarray) -> int:
    return len(np.intersect1d(a, b, assume_unique=True))
