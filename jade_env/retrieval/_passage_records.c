/* The passage records of a jade_env BM25 index (docs.bin), decoded in C.
 *
 * Layout (bm25.py): passage d is bytes doc_offsets[d] .. doc_offsets[d+1] of docs.bin. It is its record, the UTF-8
 * JSON text of [id, title, text] as json.dumps(..., ensure_ascii=False) writes it, stored as it is or, in a compressed
 * index, as a raw deflate stream made with the preset dictionary docs.zdict.
 *
 * decode(store, doc_offsets, zdict, compressed, docs, max_record) -> list, one item per document number in docs (a
 * sequence of ints): the tuple (id, title, text), or the record's bytes when it is not a plain array of three strings that this
 * parser reads exactly (JSON escapes are decoded; anything else, such as a lone surrogate or another shape, is left
 * to json.loads, which also says what is wrong). Equal to json.loads(record) on every record bm25.py writes
 * (tests/test_passage_records.py).
 *
 * Why: decoding a passage in Python costs a new zlib stream primed with the 32 KiB dictionary (about 10 us, most of a
 * 1M-passage query's Python time, all of it holding the GIL). Here one stream serves the whole call (reset and primed
 * again per passage), and every stream is inflated with the GIL released, so the threads of a batched search decode
 * in parallel.
 *
 * Safety: offsets outside docs.bin or decreasing, and a stream that does not reach its final block or inflates to more
 * than max_record bytes (bm25.MAX_RECORD_BYTES), raise ValueError naming the document (bm25.py raises its
 * RetrievalError; bytes after a stream's end are ignored, as Python's zlib ignores them); a document number outside
 * the index raises IndexError. Nothing is read outside the buffers, whatever the files hold.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { OK = 0, BAD_OFFSETS = 1, NO_INFLATE = 2, NO_MEMORY = 3 };

typedef struct {
    Py_ssize_t start, len; /* of the record, in the output buffer (compressed) or in the store (not) */
    int status;
} Span;

/* Inflate one raw deflate stream (in, n) primed with the dictionary onto the end of *out, at most max_record bytes; the
 * record's span. */
static int inflate_one(z_stream *z, const Bytef *dict, uInt dict_len, const Bytef *in, Py_ssize_t n, Py_ssize_t max_record,
                       char **out, Py_ssize_t *cap, Py_ssize_t *used, Span *span) {
    if (inflateReset(z) != Z_OK) return NO_INFLATE;
    if (dict_len && inflateSetDictionary(z, dict, dict_len) != Z_OK) return NO_INFLATE;
    if (n > UINT32_MAX) return NO_INFLATE;
    z->next_in = (Bytef *)in;
    z->avail_in = (uInt)n;
    span->start = *used;
    for (;;) {
        Py_ssize_t want = 4 * n + 256;
        if (*cap - *used < want) {
            Py_ssize_t grown = *cap * 2 > *used + want ? *cap * 2 : *used + want;
            char *bigger = realloc(*out, (size_t)grown);
            if (!bigger) return NO_MEMORY;
            *out = bigger;
            *cap = grown;
        }
        Py_ssize_t room = *cap - *used;
        if (room > UINT32_MAX) room = UINT32_MAX;
        z->next_out = (Bytef *)(*out + *used);
        z->avail_out = (uInt)room;
        uInt in_before = z->avail_in;
        int ret = inflate(z, Z_NO_FLUSH);
        *used += room - z->avail_out;
        if (*used - span->start > max_record) return NO_INFLATE;
        if (ret == Z_STREAM_END) break;
        if (ret != Z_OK && ret != Z_BUF_ERROR) return NO_INFLATE;
        if (z->avail_out == 0) continue;                                 /* more room needed */
        if (z->avail_in == 0 || z->avail_in == in_before) return NO_INFLATE; /* truncated, or no progress */
    }
    span->len = *used - span->start;
    return OK;
}

static const char *skip_space(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static int hex4(const char *p, unsigned *value) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *value = v;
    return 0;
}

/* The JSON string whose opening quote is at *pp: a new str, with *pp past its closing quote. NULL with no exception
 * set: not read here (the caller hands the record to json.loads); NULL with one set: out of memory. */
static PyObject *json_string(const char **pp, const char *end, char **scratch, Py_ssize_t *scratch_cap) {
    const char *p = *pp + 1, *q = p;
    int escaped = 0;
    while (q < end && *q != '"') {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20) return NULL; /* json.loads refuses raw control characters */
        if (c == '\\') {
            escaped = 1;
            q += 2;
        } else {
            q++;
        }
    }
    if (q >= end) return NULL;
    *pp = q + 1;
    if (!escaped) {
        PyObject *s = PyUnicode_DecodeUTF8(p, q - p, NULL);
        if (!s && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) PyErr_Clear(); /* json.loads says it */
        return s;
    }
    if (*scratch_cap < q - p) {
        char *bigger = realloc(*scratch, (size_t)(q - p));
        if (!bigger) return PyErr_NoMemory();
        *scratch = bigger;
        *scratch_cap = q - p;
    }
    char *o = *scratch; /* the unescaped UTF-8 is never longer than the escaped text */
    for (const char *s = p; s < q;) {
        if (*s != '\\') {
            *o++ = *s++;
            continue;
        }
        char e = s[1];
        s += 2;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, low;
            if (q - s < 4 || hex4(s, &cp)) return NULL;
            s += 4;
            if (cp >= 0xDC00 && cp < 0xE000) return NULL; /* a lone low surrogate: json.loads keeps it */
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (q - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &low) || low < 0xDC00 || low >= 0xE000) return NULL;
                s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xC0 | (cp >> 6));
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                *o++ = (char)(0xE0 | (cp >> 12));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *o++ = (char)(0xF0 | (cp >> 18));
                *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: return NULL;
        }
    }
    PyObject *s = PyUnicode_DecodeUTF8(*scratch, o - *scratch, NULL);
    if (!s && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) PyErr_Clear();
    return s;
}

/* [id, title, text] -> a new tuple; NULL with no exception set: not read here; NULL with one: out of memory. */
static PyObject *record(const char *p, Py_ssize_t n, char **scratch, Py_ssize_t *scratch_cap) {
    const char *end = p + n;
    PyObject *t = PyTuple_New(3);
    if (!t) return NULL;
    p = skip_space(p, end);
    if (p >= end || *p != '[') goto decline;
    p++;
    for (int i = 0; i < 3; i++) {
        p = skip_space(p, end);
        if (p >= end || *p != '"') goto decline;
        PyObject *s = json_string(&p, end, scratch, scratch_cap);
        if (!s) goto decline;
        PyTuple_SET_ITEM(t, i, s);
        p = skip_space(p, end);
        if (p >= end || *p != (i < 2 ? ',' : ']')) goto decline;
        p++;
    }
    if (skip_space(p, end) != end) goto decline;
    return t;
decline:
    Py_DECREF(t);
    return NULL;
}

static PyObject *decode(PyObject *self, PyObject *args) {
    PyObject *store_obj, *offsets_obj, *zdict_obj, *docs_obj;
    int compressed;
    Py_ssize_t max_record;
    if (!PyArg_ParseTuple(args, "OOOpOn", &store_obj, &offsets_obj, &zdict_obj, &compressed, &docs_obj, &max_record)) return NULL;
    Py_buffer store, offsets, zdict;
    if (PyObject_GetBuffer(store_obj, &store, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (PyObject_GetBuffer(offsets_obj, &offsets, PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&store);
        return NULL;
    }
    if (PyObject_GetBuffer(zdict_obj, &zdict, PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&store);
        PyBuffer_Release(&offsets);
        return NULL;
    }
    PyObject *result = NULL, *seq = NULL;
    int64_t *docs = NULL;
    Span *spans = NULL;
    char *out = NULL, *scratch = NULL;
    Py_ssize_t cap = 0, used = 0, scratch_cap = 0;
    z_stream z;
    int z_open = 0;
    if (offsets.len % 8 || offsets.len < 8 || zdict.len > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "doc_offsets must be int64 with one entry more than the documents");
        goto done;
    }
    const char *off = offsets.buf; /* int64 values, read with memcpy: the buffer need not be aligned */
    int64_t n_docs = offsets.len / 8 - 1;
    seq = PySequence_Tuple(docs_obj); /* a copy: an item's __index__ cannot change what is read */
    if (!seq) goto done;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    docs = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    spans = calloc((size_t)(n ? n : 1), sizeof(Span));
    if (!docs || !spans) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int overflow = 0;
        PyObject *number = PyNumber_Index(PyTuple_GET_ITEM(seq, i));
        if (!number) goto done;
        long long d = PyLong_AsLongLongAndOverflow(number, &overflow);
        Py_DECREF(number);
        if (d == -1 && PyErr_Occurred()) goto done;
        if (overflow || d < 0 || d >= n_docs) {
            PyErr_Format(PyExc_IndexError, "document number %S is outside the index (%lld documents)", PyTuple_GET_ITEM(seq, i),
                         (long long)n_docs);
            goto done;
        }
        docs[i] = d;
    }
    if (compressed) {
        memset(&z, 0, sizeof z);
        if (inflateInit2(&z, -15) != Z_OK) {
            PyErr_NoMemory();
            goto done;
        }
        z_open = 1;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t s, e;
        memcpy(&s, off + 8 * docs[i], 8);
        memcpy(&e, off + 8 * (docs[i] + 1), 8);
        if (s < 0 || e < s || e > store.len) {
            spans[i].status = BAD_OFFSETS;
            continue;
        }
        if (!compressed) {
            spans[i].start = (Py_ssize_t)s;
            spans[i].len = (Py_ssize_t)(e - s);
            continue;
        }
        spans[i].status = inflate_one(&z, zdict.buf, (uInt)zdict.len, (const Bytef *)store.buf + s, (Py_ssize_t)(e - s),
                                      max_record, &out, &cap, &used, &spans[i]);
        if (spans[i].status == NO_MEMORY) break;
    }
    Py_END_ALLOW_THREADS
    result = PyList_New(n);
    if (!result) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (spans[i].status == NO_MEMORY) {
            PyErr_NoMemory();
            Py_CLEAR(result);
            goto done;
        }
        if (spans[i].status != OK) {
            PyErr_Format(PyExc_ValueError, "passage %lld %s", (long long)docs[i],
                         spans[i].status == BAD_OFFSETS ? "has offsets outside docs.bin" : "does not inflate");
            Py_CLEAR(result);
            goto done;
        }
        const char *base = (compressed ? out : (const char *)store.buf) + spans[i].start;
        PyObject *item = record(base, spans[i].len, &scratch, &scratch_cap);
        if (!item) {
            if (PyErr_Occurred()) {
                Py_CLEAR(result);
                goto done;
            }
            item = PyBytes_FromStringAndSize(base, spans[i].len);
            if (!item) {
                Py_CLEAR(result);
                goto done;
            }
        }
        PyList_SET_ITEM(result, i, item);
    }
done:
    if (z_open) inflateEnd(&z);
    free(out);
    free(scratch);
    free(docs);
    free(spans);
    Py_XDECREF(seq);
    PyBuffer_Release(&store);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&zdict);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS,
     "decode(store, doc_offsets, zdict, compressed, docs, max_record) -> list of (id, title, text) tuples (or a record's bytes)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_passage_records", NULL, -1, methods};

PyMODINIT_FUNC PyInit__passage_records(void) { return PyModule_Create(&module); }
