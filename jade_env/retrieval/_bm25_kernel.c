/* The BM25 kernel of jade_env.retrieval.bm25: compressed postings, exact block-max MaxScore top-k, build helpers.
 *
 * Index layout (see bm25.py): the postings of term t are the blocks term_blocks[t] .. term_blocks[t+1]-1 of at
 * most 128 postings each (all full but the last of a term; term_df[t] postings in all). Block b holds, from byte
 * block_off[b] to block_off[b+1] of `postings`, the gaps between its document numbers (the first one from the
 * previous block's last document, or from -1) and then the term frequencies, both as variable-byte integers
 * (7 bits a byte, high bit set on every byte but the last). block_last[b] is its last document number and
 * block_max[b] the largest tf * norm_inverse[norms[doc]] in it, the quantity Lucene's BM25 score is monotone in.
 *
 * Scoring is Lucene's BM25Scorer, bit for bit: with w = boost * idf (float) and x = tf * norm_inverse[norm] (float),
 * a term scores w - w / (1 + x) in float; a document's score is the double sum of its terms' scores cast to float.
 * Ties go to the smaller doc_rank (the rank of the passage id string, as Anserini breaks ties by docid).
 *
 * search(): document-at-a-time over windows of WINDOW documents (MaxScore with per-block maximum impacts, as
 * Lucene's MaxScoreBulkScorer). In each window every query term's bound is the largest block maximum it has in
 * the window; the terms whose bounds together cannot reach the k-th best score so far are non-essential.
 * A window where no term is essential is skipped without decoding anything. Otherwise the essential terms are
 * decoded and scored into an accumulator, and each document they hit gets the non-essential terms added (looked
 * up by galloping over block_last, then inside the decoded block), dropped as soon as its score plus the bounds
 * of the terms still to add cannot reach the k-th best. Exact: a document is never dropped while it could still
 * enter the top k, ties included.
 * Speed without changing a score: a term with 16,384+ postings is scored from a per-query table of its scores at
 * tf 1..16 for each norm (the same float expression); eight one-byte gaps or tfs are decoded at once; a document
 * whose bound is far enough below the k-th score is dropped on one double comparison before the exact test.
 *
 * Safety: every array is checked against the others before use (open), and every decoded block is checked while
 * it is decoded (bytes inside its range, documents increasing, below n_docs and ending at block_last, tf >= 1).
 * A violation makes search() return -1 (bm25.py raises a RetrievalError naming the index); nothing is read out
 * of bounds whatever the files hold. The GIL is released while scoring.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 128
#define WINDOW 4096
#define MAX_TERMS 1024

/* ------------------------------------------------------------------------------------------ the index */
typedef struct {
    Py_buffer bufs[8];
    int n_bufs;
    const int64_t *term_blocks; /* [V+1] */
    const int64_t *term_df;     /* [V] */
    const float *term_max;      /* [V]: the largest block_max of the term */
    const int32_t *block_last;  /* [B] */
    const int64_t *block_off;   /* [B+1] */
    const float *block_max;     /* [B] */
    const uint8_t *postings;    /* [P bytes] */
    const uint8_t *norms;       /* [N] */
    int64_t n_terms, n_blocks, n_bytes;
    int32_t n_docs;
} Index;

static void index_free(PyObject *capsule) {
    Index *ix = PyCapsule_GetPointer(capsule, "jade_bm25_index");
    if (!ix) return;
    for (int i = 0; i < ix->n_bufs; i++) PyBuffer_Release(&ix->bufs[i]);
    free(ix);
}

static int take(Index *ix, PyObject *obj, Py_ssize_t itemsize, Py_ssize_t *count, const void **out) {
    Py_buffer *b = &ix->bufs[ix->n_bufs];
    if (PyObject_GetBuffer(obj, b, PyBUF_C_CONTIGUOUS) < 0) return -1;
    ix->n_bufs++;
    if (b->len % itemsize) { PyErr_SetString(PyExc_ValueError, "array length is not a multiple of its item size"); return -1; }
    *count = b->len / itemsize;
    *out = b->buf;
    return 0;
}

/* open(term_blocks, term_df, term_max, block_last, block_off, block_max, postings, norms) -> capsule.
 * Checks what can be checked without decoding: sizes agree, pointers are monotone and inside their arrays,
 * every term's block count matches its df, block maxima finite and >= 0, last documents increasing in a term
 * and below n_docs. Raises ValueError saying which check failed. */
static PyObject *kernel_open(PyObject *self, PyObject *args) {
    PyObject *o[8];
    if (!PyArg_ParseTuple(args, "OOOOOOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &o[7])) return NULL;
    Index *ix = calloc(1, sizeof(Index));
    if (!ix) return PyErr_NoMemory();
    Py_ssize_t n_tb, n_df, n_tm, n_bl, n_bo, n_bm, n_post, n_norm;
    if (take(ix, o[0], 8, &n_tb, (const void **)&ix->term_blocks) || take(ix, o[1], 8, &n_df, (const void **)&ix->term_df) ||
        take(ix, o[2], 4, &n_tm, (const void **)&ix->term_max) || take(ix, o[3], 4, &n_bl, (const void **)&ix->block_last) ||
        take(ix, o[4], 8, &n_bo, (const void **)&ix->block_off) || take(ix, o[5], 4, &n_bm, (const void **)&ix->block_max) ||
        take(ix, o[6], 1, &n_post, (const void **)&ix->postings) || take(ix, o[7], 1, &n_norm, (const void **)&ix->norms))
        goto fail;
    const char *why = NULL;
    ix->n_terms = n_df; ix->n_blocks = n_bl; ix->n_bytes = n_post;
    if (n_norm > INT32_MAX) why = "more than 2**31-1 documents";
    ix->n_docs = (int32_t)n_norm;
    if (!why && (n_tb != n_df + 1 || n_tm != n_df)) why = "term arrays of different lengths";
    if (!why && (n_bo != n_bl + 1 || n_bm != n_bl)) why = "block arrays of different lengths";
    if (!why && (ix->term_blocks[0] != 0 || ix->term_blocks[n_df] != n_bl)) why = "term_blocks does not span the blocks";
    if (!why && (ix->block_off[0] != 0 || ix->block_off[n_bl] != n_post)) why = "block_off does not span the postings";
    for (Py_ssize_t b = 0; !why && b < n_bl; b++) {
        if (ix->block_off[b + 1] <= ix->block_off[b]) why = "block_off is not increasing";
        else if (!(ix->block_max[b] >= 0.0f) || !isfinite(ix->block_max[b])) why = "block_max holds a negative, NaN or infinite value";
        else if (ix->block_last[b] < 0 || ix->block_last[b] >= ix->n_docs) why = "block_last holds a document number out of range";
    }
    for (Py_ssize_t t = 0; !why && t < n_df; t++) {
        int64_t b0 = ix->term_blocks[t], b1 = ix->term_blocks[t + 1], df = ix->term_df[t];
        if (b1 <= b0) { why = "term_blocks is not increasing"; break; }
        if (df <= (b1 - b0 - 1) * BLOCK || df > (b1 - b0) * BLOCK || df > ix->n_docs) { why = "term_df disagrees with the block count"; break; }
        float mx = 0.0f;
        for (int64_t b = b0; b < b1; b++) {
            if (b > b0 && ix->block_last[b] <= ix->block_last[b - 1]) { why = "block_last is not increasing within a term"; break; }
            if (ix->block_max[b] > mx) mx = ix->block_max[b];
        }
        if (!why && !(ix->term_max[t] == mx)) why = "term_max disagrees with block_max";
    }
    if (why) { PyErr_Format(PyExc_ValueError, "%s", why); goto fail; }
    PyObject *cap = PyCapsule_New(ix, "jade_bm25_index", index_free);
    if (cap) return cap;
fail:
    for (int i = 0; i < ix->n_bufs; i++) PyBuffer_Release(&ix->bufs[i]);
    free(ix);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ decoding */
static inline int read_vb(const uint8_t **p, const uint8_t *end, uint32_t *out) {
    uint32_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        if (*p >= end) return -1;
        uint8_t byte = *(*p)++;
        v |= (uint32_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) { *out = v; return 0; }
    }
    return -1;
}

static inline int block_count(const Index *ix, int64_t t, int64_t b) {
    int64_t last = ix->term_blocks[t + 1] - 1;
    return b < last ? BLOCK : (int)(ix->term_df[t] - (last - ix->term_blocks[t]) * BLOCK);
}

/* the high bit of every byte of a 64-bit word; any-zero-byte test (exact as a yes/no answer) */
#define HIGH_BITS 0x8080808080808080ULL
#define HAS_ZERO_BYTE(w) (((w) - 0x0101010101010101ULL) & ~(w) & HIGH_BITS)

/* may values i.. be taken eight at a time? 1: the next eight bytes are eight one-byte values (none of them 0 when
 * `w` is then tested with HAS_ZERO_BYTE), 0: not (fewer than eight left, or a longer value among them) */
static inline int eight_one_byte(const uint8_t *p, const uint8_t *end, int i, int n, uint64_t *w) {
    if (i + 8 > n || end - p < 8) return 0;
    memcpy(w, p, 8);
    return !(*w & HIGH_BITS);
}

/* docs/tfs of block b of term t; 0, or -1 when the block is corrupt. Dense postings are mostly one-byte gaps and
 * tfs: eight of them are taken at once when the next eight bytes all are (no high bit set), the rest one by one. */
static int decode_block(const Index *ix, int64_t t, int64_t b, int32_t *docs, uint32_t *tfs, int n) {
    const uint8_t *p = ix->postings + ix->block_off[b], *end = ix->postings + ix->block_off[b + 1];
    int64_t doc = b > ix->term_blocks[t] ? ix->block_last[b - 1] : -1;
    uint64_t w;
    for (int i = 0; i < n;) {
        if (eight_one_byte(p, end, i, n, &w)) {
            if (HAS_ZERO_BYTE(w)) return -1;  /* a zero gap */
            for (int j = 0; j < 8; j++) { doc += p[j]; docs[i + j] = (int32_t)doc; }
            if (doc >= ix->n_docs) return -1;  /* documents only increase: the last one is checked */
            p += 8; i += 8;
            continue;
        }
        uint32_t gap;
        if (read_vb(&p, end, &gap) || gap == 0) return -1;
        doc += gap;
        if (doc >= ix->n_docs) return -1;
        docs[i++] = (int32_t)doc;
    }
    if (doc != ix->block_last[b]) return -1;
    for (int i = 0; i < n;) {
        if (eight_one_byte(p, end, i, n, &w)) {
            if (HAS_ZERO_BYTE(w)) return -1;  /* a zero tf */
            for (int j = 0; j < 8; j++) tfs[i + j] = p[j];
            p += 8; i += 8;
            continue;
        }
        if (read_vb(&p, end, &tfs[i]) || tfs[i] == 0) return -1;
        i++;
    }
    return p == end ? 0 : -1;
}

/* ------------------------------------------------------------------------------------------ search */
typedef struct { float score; int32_t rank; int32_t doc; } Entry;

/* a ranks below b: lower score, or the same score and a larger id rank */
static inline int below(Entry a, Entry b) { return a.score < b.score || (a.score == b.score && a.rank > b.rank); }

static void sift_down(Entry *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && below(h[l], h[m])) m = l;
        if (r < n && below(h[r], h[m])) m = r;
        if (m == i) return;
        Entry x = h[i]; h[i] = h[m]; h[m] = x; i = m;
    }
}

static void sift_up(Entry *h, int i) {
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!below(h[i], h[p])) return;
        Entry x = h[i]; h[i] = h[p]; h[p] = x; i = p;
    }
}

typedef struct {
    int64_t t, b, b_end;  /* term, current block, end of its blocks */
    float w;              /* boost * idf */
    float ub;             /* bound in the current window */
    int n, pos, decoded;  /* postings in the decoded block, next one to use */
    float *tab;           /* long lists: the scores of tf 1..TAB_TF at each norm, tab[(tf - 1) * 256 + norm] (or NULL) */
    int32_t docs[BLOCK];
    uint32_t tfs[BLOCK];
} Cursor;

static inline float term_score(float w, float x) { return w - w / (1.0f + x); }

/* A term with at least TAB_MIN_DF postings scores them from a table of its scores at tf 1..TAB_TF for each of the
 * 256 norms, filled at the start of the query (the same float expression: the same scores, without a division
 * per posting). */
#define TAB_TF 16
#define TAB_MIN_DF 16384

static inline float posting_score(const Cursor *c, uint32_t tf, uint8_t norm, const float *norm_inv) {
    if (c->tab && tf <= TAB_TF) return c->tab[(tf - 1) * 256 + norm];
    return term_score(c->w, (float)tf * norm_inv[norm]);
}

static void fill_tab(Cursor *c, const float *norm_inv) {
    for (uint32_t tf = 1; tf <= TAB_TF; tf++)
        for (int norm = 0; norm < 256; norm++) c->tab[(tf - 1) * 256 + norm] = term_score(c->w, (float)tf * norm_inv[norm]);
}

/* the first block of c with block_last >= d (galloping), or b_end */
static inline int64_t seek_block(const Index *ix, const Cursor *c, int32_t d) {
    int64_t lo = c->b, hi, step = 1;
    if (lo >= c->b_end || ix->block_last[lo] >= d) return lo;
    for (;;) {  /* block_last[lo] < d */
        hi = lo + step;
        if (hi >= c->b_end) { hi = c->b_end; break; }
        if (ix->block_last[hi] >= d) break;
        lo = hi;
        step <<= 1;
    }
    while (hi - lo > 1) {  /* block_last[lo] < d <= block_last[hi] (or hi = b_end) */
        int64_t mid = lo + (hi - lo) / 2;
        if (ix->block_last[mid] >= d) hi = mid; else lo = mid;
    }
    return hi;
}

/* moves c to its first posting >= d: 1 if it is d, 0 if not, -1 corrupt; c->b == c->b_end when exhausted */
static int advance(const Index *ix, Cursor *c, int32_t d) {
    int64_t b = seek_block(ix, c, d);
    if (b != c->b) { c->b = b; c->decoded = 0; c->pos = 0; }
    if (b >= c->b_end) return 0;
    if (!c->decoded) {
        c->n = block_count(ix, c->t, b);
        if (decode_block(ix, c->t, b, c->docs, c->tfs, c->n)) return -1;
        c->decoded = 1;
        c->pos = 0;
    }
    int pos = c->pos;  /* docs[n-1] = block_last >= d: the scan stops inside the block */
    if (c->docs[pos] < d) {
        int step = 1, lo = pos, hi;
        for (;;) {
            hi = lo + step;
            if (hi >= c->n - 1) { hi = c->n - 1; break; }
            if (c->docs[hi] >= d) break;
            lo = hi;
            step <<= 1;
        }
        while (hi - lo > 1) {
            int mid = lo + (hi - lo) / 2;
            if (c->docs[mid] >= d) hi = mid; else lo = mid;
        }
        pos = hi;
    }
    c->pos = pos;
    return c->docs[pos] == d;
}

static int cmp_ub(const void *a, const void *b) {
    float x = (*(Cursor *const *)a)->ub, y = (*(Cursor *const *)b)->ub;
    return x < y ? -1 : (x > y);
}

/* below this, a bound is sure to fail can_enter: about 16 float ulps under the threshold (-inf while the heap fills) */
static inline double reject_below(int full, float threshold) {
    return full && threshold > 0.0f ? (double)threshold * (1.0 - 1e-6) : -HUGE_VAL;
}

/* may a document whose score is at most `bound` (a double sum) still enter the heap? */
static inline int can_enter(double bound, int full, float threshold) {
    return !full || (float)(bound * (1.0 + 1e-12)) >= threshold;
}

/* search(index, term_ids int64[T], weights float32[T], norm_inverse float32[256], doc_rank int32[N], k,
 *        out_docs int64[k], out_scores float32[k]) -> number of results, best first; -1 when the index is corrupt */
static PyObject *kernel_search(PyObject *self, PyObject *args) {
    PyObject *cap;
    Py_buffer tid_b, w_b, ni_b, rank_b, od_b, os_b;
    int k;
    if (!PyArg_ParseTuple(args, "Oy*y*y*y*iw*w*", &cap, &tid_b, &w_b, &ni_b, &rank_b, &k, &od_b, &os_b)) return NULL;
    Index *ix = PyCapsule_GetPointer(cap, "jade_bm25_index");
    int64_t n_terms = tid_b.len / 8;
    const char *err = NULL;
    if (!ix) err = "not an index";
    else if (w_b.len != n_terms * 4 || ni_b.len != 256 * 4 || rank_b.len != (Py_ssize_t)ix->n_docs * 4) err = "argument sizes disagree";
    else if (k < 0 || od_b.len < (Py_ssize_t)k * 8 || os_b.len < (Py_ssize_t)k * 4) err = "output arrays shorter than k";
    else if (n_terms > MAX_TERMS) err = "too many query terms";
    const int64_t *tids = tid_b.buf;
    for (int64_t i = 0; !err && i < n_terms; i++)
        if (tids[i] < 0 || tids[i] >= ix->n_terms) err = "term id out of range";
    if (err) {
        PyBuffer_Release(&tid_b); PyBuffer_Release(&w_b); PyBuffer_Release(&ni_b); PyBuffer_Release(&rank_b);
        PyBuffer_Release(&od_b); PyBuffer_Release(&os_b);
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, err);
        return NULL;
    }
    const float *weights = w_b.buf, *norm_inv = ni_b.buf;
    const int32_t *rank = rank_b.buf;
    int64_t *out_docs = od_b.buf;
    float *out_scores = os_b.buf;
    Cursor *cur = calloc((size_t)(n_terms > 0 ? n_terms : 1), sizeof(Cursor));
    Cursor **order = calloc((size_t)(n_terms > 0 ? n_terms : 1), sizeof(Cursor *));
    Entry *heap = malloc(sizeof(Entry) * (size_t)(k > 0 ? k : 1));
    double *acc = calloc(WINDOW, sizeof(double));
    uint64_t *hit = calloc(WINDOW / 64, sizeof(uint64_t));
    double *rest = calloc((size_t)(n_terms + 1), sizeof(double));
    int64_t n_long = 0;
    for (int64_t i = 0; i < n_terms; i++) n_long += ix->term_df[tids[i]] >= TAB_MIN_DF;
    float *tabs = malloc(sizeof(float) * 256 * TAB_TF * (size_t)(n_long > 0 ? n_long : 1));
    if (!cur || !order || !heap || !acc || !hit || !rest || !tabs) {
        free(cur); free(order); free(heap); free(acc); free(hit); free(rest); free(tabs);
        PyBuffer_Release(&tid_b); PyBuffer_Release(&w_b); PyBuffer_Release(&ni_b); PyBuffer_Release(&rank_b);
        PyBuffer_Release(&od_b); PyBuffer_Release(&os_b);
        return PyErr_NoMemory();
    }
    int n_heap = 0, corrupt = 0;
    Py_BEGIN_ALLOW_THREADS
    int64_t n_cur = 0, n_tab = 0;
    for (int64_t i = 0; i < n_terms; i++) {
        Cursor *c = &cur[n_cur];
        c->t = tids[i]; c->b = ix->term_blocks[c->t]; c->b_end = ix->term_blocks[c->t + 1]; c->w = weights[i];
        if (!(c->w > 0.0f && k > 0)) continue;
        c->tab = NULL;
        if (ix->term_df[c->t] >= TAB_MIN_DF) { c->tab = tabs + 256 * TAB_TF * n_tab++; fill_tab(c, norm_inv); }
        n_cur++;
    }
    int32_t wmin = 0;
    while (!corrupt && k > 0 && wmin < ix->n_docs) {
        int full = n_heap == k;
        float threshold = full ? heap[0].score : 0.0f;
        /* each term's bound in [wmin, wmax): its largest block maximum there */
        int64_t wmax64 = (int64_t)wmin + WINDOW;
        int32_t wmax = wmax64 > ix->n_docs ? ix->n_docs : (int32_t)wmax64;
        int64_t n_live = 0;
        int32_t next_doc = INT32_MAX;  /* the smallest document any term still has */
        for (int64_t i = 0; i < n_cur; i++) {
            Cursor *c = &cur[i];
            int64_t b = seek_block(ix, c, wmin);
            if (b != c->b) { c->b = b; c->decoded = 0; c->pos = 0; }
            c->ub = 0.0f;
            if (b >= c->b_end) continue;
            int32_t first = c->decoded ? c->docs[c->pos] : (b > ix->term_blocks[c->t] ? ix->block_last[b - 1] + 1 : 0);
            if (first < wmin) first = wmin;
            if (first < next_doc) next_doc = first;
            order[n_live++] = c;
            float mx = 0.0f;
            for (int64_t bb = b; bb < c->b_end; bb++) {
                if (ix->block_max[bb] > mx) mx = ix->block_max[bb];
                if (ix->block_last[bb] >= wmax - 1) break;
            }
            if (first < wmax) c->ub = term_score(c->w, mx);
        }
        if (n_live == 0) break;
        if (next_doc >= wmax) { wmin = next_doc; continue; }  /* nothing here: go to the next posting */
        qsort(order, (size_t)n_live, sizeof(Cursor *), cmp_ub);
        /* non-essential: the longest prefix (smallest bounds) whose sum cannot reach the threshold */
        int64_t n_ness = 0;
        double sum = 0.0;
        while (n_ness < n_live && !can_enter(sum + order[n_ness]->ub, full, threshold)) sum += order[n_ness++]->ub;
        if (n_ness == n_live) { wmin = wmax; continue; }  /* no document here can enter the top k */
        rest[0] = 0.0;
        for (int64_t i = 0; i < n_ness; i++) rest[i + 1] = rest[i] + order[i]->ub;
        /* essential terms: every posting in the window into the accumulator */
        for (int64_t e = n_ness; e < n_live && !corrupt; e++) {
            Cursor *c = order[e];
            if (c->decoded)
                while (c->pos < c->n - 1 && c->docs[c->pos] < wmin) c->pos++;  /* left behind as a non-essential term */
            while (c->b < c->b_end) {
                if (!c->decoded) {
                    c->n = block_count(ix, c->t, c->b);
                    if (decode_block(ix, c->t, c->b, c->docs, c->tfs, c->n)) { corrupt = 1; break; }
                    c->decoded = 1;
                    c->pos = 0;
                    while (c->pos < c->n && c->docs[c->pos] < wmin) c->pos++;
                }
                while (c->pos < c->n && c->docs[c->pos] < wmax) {
                    int32_t d = c->docs[c->pos];
                    acc[d - wmin] += (double)posting_score(c, c->tfs[c->pos], ix->norms[d], norm_inv);
                    hit[(d - wmin) >> 6] |= 1ULL << ((d - wmin) & 63);
                    c->pos++;
                }
                if (c->pos < c->n) break;  /* the block goes on past the window */
                c->b++;
                c->decoded = 0;
            }
        }
        /* the documents they hit, in order, completed with the non-essential terms. Below `reject`, a bound is sure to
         * fail can_enter (a margin of about 16 float ulps below the threshold), so most documents are dropped on one
         * double comparison; the exact test decides the others. Both change only when the heap does. */
        full = n_heap == k;
        threshold = full ? heap[0].score : 0.0f;
        double reject = reject_below(full, threshold);
        for (int word = 0; word < WINDOW / 64 && !corrupt; word++) {
            uint64_t bits = hit[word];
            hit[word] = 0;
            while (bits) {
                int j = word * 64 + __builtin_ctzll(bits);
                bits &= bits - 1;
                int32_t d = wmin + j;
                double s = acc[j];
                acc[j] = 0.0;
                double bound = s + rest[n_ness];
                int alive = bound >= reject && can_enter(bound, full, threshold);
                for (int64_t i = n_ness - 1; alive && i >= 0; i--) {
                    Cursor *c = order[i];
                    int r = advance(ix, c, d);
                    if (r < 0) { corrupt = 1; alive = 0; break; }
                    if (r) s += (double)posting_score(c, c->tfs[c->pos], ix->norms[d], norm_inv);
                    bound = s + rest[i];
                    alive = bound >= reject && can_enter(bound, full, threshold);
                }
                if (!alive) continue;
                Entry e = {(float)s, rank[d], d};
                if (n_heap < k) { heap[n_heap] = e; sift_up(heap, n_heap++); }
                else if (below(heap[0], e)) { heap[0] = e; sift_down(heap, k, 0); }
                full = n_heap == k;
                threshold = full ? heap[0].score : 0.0f;
                reject = reject_below(full, threshold);
            }
        }
        wmin = wmax;
    }
    if (!corrupt) {  /* heap sort: best first */
        int n = n_heap;
        while (n > 1) { Entry x = heap[0]; heap[0] = heap[n - 1]; heap[n - 1] = x; sift_down(heap, --n, 0); }
        for (int i = 0; i < n_heap; i++) { out_docs[i] = heap[i].doc; out_scores[i] = heap[i].score; }
    }
    Py_END_ALLOW_THREADS
    free(cur); free(order); free(heap); free(acc); free(hit); free(rest); free(tabs);
    PyBuffer_Release(&tid_b); PyBuffer_Release(&w_b); PyBuffer_Release(&ni_b); PyBuffer_Release(&rank_b);
    PyBuffer_Release(&od_b); PyBuffer_Release(&os_b);
    return PyLong_FromLong(corrupt ? -1 : n_heap);
}

/* check(index, norm_inverse float32[256]) -> None: decodes every block (load time) and recomputes its maximum;
 * ValueError naming the first bad term */
static PyObject *kernel_check(PyObject *self, PyObject *args) {
    PyObject *cap;
    Py_buffer ni_b;
    if (!PyArg_ParseTuple(args, "Oy*", &cap, &ni_b)) return NULL;
    Index *ix = PyCapsule_GetPointer(cap, "jade_bm25_index");
    if (!ix || ni_b.len != 1024) {
        PyBuffer_Release(&ni_b);
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "norm_inverse must hold 256 float32");
        return NULL;
    }
    const float *ni = ni_b.buf;
    int64_t bad = -1;
    Py_BEGIN_ALLOW_THREADS
    int32_t docs[BLOCK];
    uint32_t tfs[BLOCK];
    for (int64_t t = 0; t < ix->n_terms && bad < 0; t++)
        for (int64_t b = ix->term_blocks[t]; b < ix->term_blocks[t + 1]; b++) {
            int n = block_count(ix, t, b);
            if (decode_block(ix, t, b, docs, tfs, n)) { bad = t; break; }
            float m = 0.0f;
            for (int i = 0; i < n; i++) {
                float x = (float)tfs[i] * ni[ix->norms[docs[i]]];
                if (x > m) m = x;
            }
            if (m != ix->block_max[b]) { bad = t; break; }
        }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&ni_b);
    if (bad >= 0) return PyErr_Format(PyExc_ValueError, "the postings of term %lld do not decode to their block maxima", (long long)bad);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ building */
static inline uint8_t *write_vb(uint8_t *p, uint32_t v) {
    while (v >= 0x80) { *p++ = (uint8_t)(v | 0x80); v >>= 7; }
    *p++ = (uint8_t)v;
    return p;
}

/* encode(term_ptr int64[V+1], docs int32[P], tfs int32[P], norms uint8[N], norm_inverse float32[256],
 *        out_bytes uint8[>= 10 P], block_last int32[B], block_off int64[B+1], block_max float32[B]) -> bytes used.
 * The postings of each term (sorted by document) as blocks of 128; B = sum over terms of ceil(df / 128). */
static PyObject *kernel_encode(PyObject *self, PyObject *args) {
    Py_buffer ptr_b, doc_b, tf_b, norm_b, ni_b, out_b, last_b, off_b, max_b;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*w*w*w*", &ptr_b, &doc_b, &tf_b, &norm_b, &ni_b, &out_b, &last_b, &off_b, &max_b))
        return NULL;
    const int64_t *ptr = ptr_b.buf;
    const int32_t *docs = doc_b.buf, *tfs = tf_b.buf;
    const uint8_t *norms = norm_b.buf;
    const float *ni = ni_b.buf;
    int64_t n_terms = ptr_b.len / 8 - 1, n_post = doc_b.len / 4, n_blocks = last_b.len / 4;
    uint8_t *out = out_b.buf, *p = out;
    int32_t *last = last_b.buf;
    int64_t *off = off_b.buf;
    float *mx = max_b.buf;
    int bad = tf_b.len != doc_b.len || out_b.len < 10 * n_post || off_b.len != (n_blocks + 1) * 8 || max_b.len != n_blocks * 4
              || ni_b.len != 1024 || n_terms < 0 || ptr[0] != 0 || ptr[n_terms] != n_post;
    int64_t b = 0;
    if (!bad) {
        Py_BEGIN_ALLOW_THREADS
        for (int64_t t = 0; t < n_terms && !bad; t++) {
            int64_t prev = -1;
            for (int64_t s = ptr[t]; s < ptr[t + 1] && !bad; s += BLOCK) {
                int64_t e = s + BLOCK < ptr[t + 1] ? s + BLOCK : ptr[t + 1];
                if (b >= n_blocks) { bad = 1; break; }
                off[b] = p - out;
                float m = 0.0f;
                for (int64_t i = s; i < e; i++) {
                    if (docs[i] <= prev || (Py_ssize_t)docs[i] >= norm_b.len || tfs[i] < 1) { bad = 1; break; }
                    p = write_vb(p, (uint32_t)(docs[i] - prev));
                    prev = docs[i];
                    float x = (float)tfs[i] * ni[norms[docs[i]]];
                    if (x > m) m = x;
                }
                for (int64_t i = s; i < e && !bad; i++) p = write_vb(p, (uint32_t)tfs[i]);
                last[b] = (int32_t)prev;
                mx[b] = m;
                b++;
            }
        }
        off[b < n_blocks + 1 ? b : n_blocks] = p - out;
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&ptr_b); PyBuffer_Release(&doc_b); PyBuffer_Release(&tf_b); PyBuffer_Release(&norm_b); PyBuffer_Release(&ni_b);
    PyBuffer_Release(&out_b); PyBuffer_Release(&last_b); PyBuffer_Release(&off_b); PyBuffer_Release(&max_b);
    if (bad || b != n_blocks) { PyErr_SetString(PyExc_ValueError, "encode: postings not sorted by document, or sizes disagree"); return NULL; }
    return PyLong_FromLongLong((long long)(p - out));
}

static PyMethodDef methods[] = {
    {"open", kernel_open, METH_VARARGS, "Check an index's arrays against each other and hold them (see the file comment)."},
    {"search", kernel_search, METH_VARARGS, "Exact BM25 top-k, block-max MaxScore (see the file comment)."},
    {"check", kernel_check, METH_VARARGS, "Decode every block of an index; ValueError at the first corrupt one."},
    {"encode", kernel_encode, METH_VARARGS, "Compress sorted postings into blocks with their last documents and maxima."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_bm25_kernel", "BM25 kernel: compressed postings, block-max top-k.", -1, methods};

PyMODINIT_FUNC PyInit__bm25_kernel(void) { return PyModule_Create(&module); }
