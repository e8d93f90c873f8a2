"""The 64-bit word hash every shingle, signature and band key is built from.

Stored band keys and signatures are derived from it, so it must never change with a
dependency: this module is its reference definition, and `_fingerprint.c` computes the same
values in C (`tests/test_fingerprint_kernel.py` holds the two to each other and to fixed
values). The function is the one rensa 0.5 used for its token hashes (rustc-hash 2's
`FxHasher`, `write(bytes)` then `finish()`), so articles stored before it was ours keep
their keys.

For a word of n UTF-8 bytes, with little-endian loads and the 128-bit product folded to 64
bits (`mix(x, y) = low64(x*y) ^ high64(x*y)`):

    s0, s1 = 0x243f6a8885a308d3, 0x13198a2e03707344
    n <= 16:  n >= 8: s0 ^= load8(w[0:]);  s1 ^= load8(w[n-8:])
              n >= 4: s0 ^= load4(w[0:]);  s1 ^= load4(w[n-4:])
              n >= 1: s0 ^= w[0];          s1 ^= w[n-1] << 8 | w[n//2]
    n > 16:   for each 16 bytes at offset o while o < n-16:
                  s0, s1 = s1, mix(s0 ^ load8(w[o:]), 0xa4093822299f31d0 ^ load8(w[o+8:]))
              s0 ^= load8(w[n-16:]);  s1 ^= load8(w[n-8:])
    hash = rotate_left64((mix(s0, s1) ^ n) * 0xf1357aea2e62a9c5, 26)
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["word_hash"]

_MASK = (1 << 64) - 1
_SEED1 = 0x243F6A8885A308D3
_SEED2 = 0x13198A2E03707344
_CHUNK_KEY = 0xA4093822299F31D0
_FX_K = 0xF1357AEA2E62A9C5


def _mix(x: int, y: int) -> int:
    full = x * y
    return (full & _MASK) ^ (full >> 64)


def _load(word: bytes, start: int, size: int) -> int:
    return int.from_bytes(word[start : start + size], "little")


# Words repeat (a few thousand make most of any text): the cache makes this pure-Python
# reference usable as the fallback where the C kernel is not built.
@lru_cache(maxsize=1 << 16)
def word_hash(word: bytes) -> int:
    """The hash of one word's UTF-8 bytes, as an unsigned 64-bit integer."""
    n = len(word)
    s0, s1 = _SEED1, _SEED2
    if n <= 16:
        if n >= 8:
            s0 ^= _load(word, 0, 8)
            s1 ^= _load(word, n - 8, 8)
        elif n >= 4:
            s0 ^= _load(word, 0, 4)
            s1 ^= _load(word, n - 4, 4)
        elif n > 0:
            s0 ^= word[0]
            s1 ^= (word[n - 1] << 8) | word[n // 2]
    else:
        offset = 0
        while offset < n - 16:
            mixed = _mix(s0 ^ _load(word, offset, 8), _CHUNK_KEY ^ _load(word, offset + 8, 8))
            s0, s1 = s1, mixed
            offset += 16
        s0 ^= _load(word, n - 16, 8)
        s1 ^= _load(word, n - 8, 8)
    value = ((_mix(s0, s1) ^ n) * _FX_K) & _MASK
    return ((value << 26) | (value >> 38)) & _MASK
