/*
 * The per-word work of near-duplicate detection, in C: folding ASCII paragraphs into
 * fingerprint words, and hashing word shingles. Each function returns exactly what
 * its Python reference returns (worker/pipeline/normalize.py and dedup.py), which stays
 * the fallback when this module is not built; tests/test_fingerprint_kernel.py holds the
 * two to each other.
 *
 *   fold(text: bytes) -> tuple[bytes, int]
 *       An ASCII text as `normalize.fingerprint_text` makes it (lower case, punctuation as
 *       space, apostrophes dropped, single spaces), with its word count.
 *   word_shingles(text: bytes, size: int) -> bytearray
 *       `dedup.word_shingles(text.split(), size)` of a fingerprint text in UTF-8 (its
 *       words are separated by ASCII spaces only): `word_hash.word_hash` of each word
 *       (its reference definition: worker/pipeline/word_hash.py) combined into
 *       `size`-word shingles and mixed, as little-endian uint64.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* ---- folding ------------------------------------------------------------------------ */

enum { KEEP = 0, SPACE = 1, DROP = 2 };
static unsigned char fold_class[256];
static unsigned char fold_lower[256];
static unsigned char is_space[256];  /* str.split()'s ASCII whitespace */

static void init_fold_tables(void)
{
    const char *punctuation = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~";
    for (int c = 0; c < 256; c++) {
        fold_class[c] = KEEP;
        fold_lower[c] = (unsigned char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    for (const char *p = punctuation; *p; p++)
        fold_class[(unsigned char)*p] = SPACE;
    /* str.split()'s ASCII whitespace: \t \n \v \f \r, \x1c-\x1f and space */
    const char *whitespace = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f";
    for (const char *p = whitespace; *p; p++)
        fold_class[(unsigned char)*p] = is_space[(unsigned char)*p] = SPACE;
    fold_class[(unsigned char)'\''] = DROP;
}

/* Fold text[0:n] into out (single spaces, no leading or trailing one); returns the
 * length written and sets *words. */
static Py_ssize_t fold_text(const unsigned char *text, Py_ssize_t n, unsigned char *out,
                            Py_ssize_t *words)
{
    Py_ssize_t length = 0, count = 0;
    int in_word = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = text[i];
        switch (fold_class[c]) {
        case DROP:
            break;
        case SPACE:
            in_word = 0;
            break;
        default:
            if (!in_word) {
                if (count)
                    out[length++] = ' ';
                count++;
                in_word = 1;
            }
            out[length++] = fold_lower[c];
        }
    }
    *words = count;
    return length;
}

static PyObject *fold(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    unsigned char *scratch = PyMem_Malloc(view.len > 0 ? (size_t)view.len : 1);
    if (scratch == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    Py_ssize_t words;
    Py_ssize_t length = fold_text(view.buf, view.len, scratch, &words);
    PyObject *result = Py_BuildValue("(y#n)", (const char *)scratch, length, words);
    PyMem_Free(scratch);
    PyBuffer_Release(&view);
    return result;
}

/* ---- shingle hashes ----------------------------------------------------------------- */

#define FX_K 0xf1357aea2e62a9c5ULL
#define SEED1 0x243f6a8885a308d3ULL
#define SEED2 0x13198a2e03707344ULL
#define PREVENT_TRIVIAL_ZERO_COLLAPSE 0xa4093822299f31d0ULL
#define BAND_MIX 0x9E3779B97F4A7C15ULL

static inline uint64_t multiply_mix(uint64_t x, uint64_t y)
{
#if defined(__SIZEOF_INT128__)
    unsigned __int128 full = (unsigned __int128)x * y;
    return (uint64_t)full ^ (uint64_t)(full >> 64);
#else
    uint64_t xl = x & 0xffffffffULL, xh = x >> 32, yl = y & 0xffffffffULL, yh = y >> 32;
    uint64_t ll = xl * yl, lh = xl * yh, hl = xh * yl, hh = xh * yh;
    uint64_t mid = (ll >> 32) + (lh & 0xffffffffULL) + (hl & 0xffffffffULL);
    uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    return (x * y) ^ hi;
#endif
}

static inline uint64_t load(const unsigned char *p, int bytes)
{
    uint64_t value = 0;
    for (int k = 0; k < bytes; k++)
        value |= (uint64_t)p[k] << (8 * k);
    return value;
}

/* rustc-hash 2's hash_bytes, then FxHasher's add_to_hash and finish (rotate left 26). */
static inline uint64_t word_hash(const unsigned char *word, Py_ssize_t length)
{
    uint64_t s0 = SEED1, s1 = SEED2;
    if (length <= 16) {
        if (length >= 8) {
            s0 ^= load(word, 8);
            s1 ^= load(word + length - 8, 8);
        } else if (length >= 4) {
            s0 ^= load(word, 4);
            s1 ^= load(word + length - 4, 4);
        } else if (length > 0) {
            s0 ^= word[0];
            s1 ^= ((uint64_t)word[length - 1] << 8) | word[length / 2];
        }
    } else {
        Py_ssize_t offset = 0;
        while (offset < length - 16) {
            uint64_t t = multiply_mix(s0 ^ load(word + offset, 8),
                                      PREVENT_TRIVIAL_ZERO_COLLAPSE ^ load(word + offset + 8, 8));
            s0 = s1;
            s1 = t;
            offset += 16;
        }
        s0 ^= load(word + length - 16, 8);
        s1 ^= load(word + length - 8, 8);
    }
    uint64_t hash = (multiply_mix(s0, s1) ^ (uint64_t)length) * FX_K;
    return (hash << 26) | (hash >> 38);
}

static PyObject *word_shingles(PyObject *module, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "y*n", &view, &size))
        return NULL;
    if (size < 1) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "size must be at least 1");
        return NULL;
    }
    const unsigned char *text = view.buf;
    Py_ssize_t n = view.len, count = 0;
    uint64_t *hashes = PyMem_Malloc(sizeof(uint64_t) * (size_t)(n / 2 + 1));
    uint64_t *mix = PyMem_Malloc(sizeof(uint64_t) * (size_t)size);
    if (hashes == NULL || mix == NULL) {
        PyMem_Free(hashes);
        PyMem_Free(mix);
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n;) {  /* words as str.split() finds them in ASCII */
        while (i < n && is_space[text[i]])
            i++;
        Py_ssize_t start = i;
        while (i < n && !is_space[text[i]])
            i++;
        if (i > start)
            hashes[count++] = word_hash(text + start, i - start);
    }
    for (Py_ssize_t p = 0; p < size; p++)
        mix[p] = BAND_MIX * (uint64_t)(2 * p + 1);
    Py_ssize_t width = count < size ? count : size;
    Py_ssize_t shingles = count ? count - width + 1 : 0;
    PyObject *result = PyByteArray_FromStringAndSize(NULL, shingles * (Py_ssize_t)sizeof(uint64_t));
    if (result != NULL) {
        unsigned char *out = (unsigned char *)PyByteArray_AS_STRING(result);
        for (Py_ssize_t i = 0; i < shingles; i++) {
            uint64_t c = 0;
            for (Py_ssize_t p = 0; p < width; p++)
                c += hashes[i + p] * mix[p];
            c ^= c >> 30;
            c *= 0xBF58476D1CE4E5B9ULL;
            c ^= c >> 27;
            c *= 0x94D049BB133111EBULL;
            c ^= c >> 31;
            for (int k = 0; k < 8; k++)  /* little-endian whatever the machine */
                out[8 * i + k] = (unsigned char)(c >> (8 * k));
        }
    }
    PyMem_Free(hashes);
    PyMem_Free(mix);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"fold", fold, METH_O,
     "An ASCII text folded as fingerprint text (bytes), with its word count."},
    {"word_shingles", word_shingles, METH_VARARGS,
     "In-order shingle hashes of a text's words, as little-endian uint64 bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fingerprint",
    "Per-word fingerprint work in C (see worker/pipeline/_fingerprint.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__fingerprint(void)
{
    init_fold_tables();
    return PyModule_Create(&module);
}
