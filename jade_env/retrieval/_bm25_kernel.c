/* The BM25 scoring kernel of jade_env.retrieval.bm25: exact top-k over impact postings, MaxScore-style.
 *
 * topk(post_ptr: int64[V+1], post_doc: int32[P], post_impact: float32[P],
 *      term_ids: int64[T], weights: float32[T], term_max: float32[T] (each term's largest impact),
 *      n_rare: int, buf: float32[N] (all zero, left zero),
 *      out_docs: int64[k], out_scores: float32[k], k: int) -> int (number of results written)
 *
 * Terms come rarest first. The first n_rare ("essential") terms are scored over all their postings
 * into buf; every document they touch is a candidate. The remaining (frequent) terms are looked up for
 * the candidates only (binary search: postings are sorted by document). Terms become essential, rarest
 * first, until the k-th best partial score of the candidates (a lower bound of the final k-th score)
 * exceeds the most the remaining terms could add to a document outside the candidates; the top k is
 * then exact (MaxScore). At worst every term is scored over all its postings.
 * Additions happen in term order, as the numpy path does, so both give the same float32 scores.
 * Ties are broken by the lower document number. The GIL is released while scoring.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct { float score; int32_t doc; } Entry;

/* a is "worse" than b: lower score, or equal score and higher doc */
static inline int worse(Entry a, Entry b) { return a.score < b.score || (a.score == b.score && a.doc > b.doc); }

static void sift_down(Entry *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(h[l], h[m])) m = l;
        if (r < n && worse(h[r], h[m])) m = r;
        if (m == i) return;
        Entry t = h[i]; h[i] = h[m]; h[m] = t; i = m;
    }
}

static int cmp_better(const void *pa, const void *pb) {
    Entry a = *(const Entry *)pa, b = *(const Entry *)pb;
    if (a.score != b.score) return a.score > b.score ? -1 : 1;
    return a.doc < b.doc ? -1 : (a.doc > b.doc);
}

/* top k of the candidates (cand[i] scoring score[i]) into heap; returns its size */
static int select_topk(const int32_t *cand, const float *score, int64_t n_cand, Entry *heap, int k) {
    int n = 0;
    for (int64_t i = 0; i < n_cand; i++) {
        Entry e = {score[i], cand[i]};
        if (n < k) {
            heap[n++] = e;
            if (n == k) for (int j = k / 2 - 1; j >= 0; j--) sift_down(heap, k, j);
        } else if (worse(heap[0], e)) {
            heap[0] = e;
            sift_down(heap, k, 0);
        }
    }
    return n;
}

static int64_t lookup(const int32_t *docs, int64_t n, int32_t d) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = (lo + hi) >> 1;
        if (docs[mid] < d) lo = mid + 1; else hi = mid;
    }
    return (lo < n && docs[lo] == d) ? lo : -1;
}

static PyObject *topk(PyObject *self, PyObject *args) {
    Py_buffer ptr_b, doc_b, imp_b, tid_b, w_b, max_b, buf_b, od_b, os_b;
    int n_rare, k;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*iw*w*w*i", &ptr_b, &doc_b, &imp_b, &tid_b, &w_b, &max_b, &n_rare, &buf_b, &od_b,
                          &os_b, &k))
        return NULL;
    const float *term_max = max_b.buf;
    const int64_t *ptr = ptr_b.buf;
    const int32_t *doc = doc_b.buf;
    const float *imp = imp_b.buf;
    const int64_t *tid = tid_b.buf;
    const float *w = w_b.buf;
    float *buf = buf_b.buf;
    int64_t *out_docs = od_b.buf;
    float *out_scores = os_b.buf;
    int64_t n_terms = tid_b.len / (Py_ssize_t)sizeof(int64_t);
    int64_t total = 0;
    for (int64_t t = 0; t < n_terms; t++) total += ptr[tid[t] + 1] - ptr[tid[t]];
    int32_t *cand = malloc(sizeof(int32_t) * (size_t)(total > 0 ? total : 1));
    Entry *heap = malloc(sizeof(Entry) * (size_t)(k > 0 ? k : 1));
    if (!cand || !heap) {
        free(cand); free(heap);
        PyBuffer_Release(&ptr_b); PyBuffer_Release(&doc_b); PyBuffer_Release(&imp_b); PyBuffer_Release(&tid_b);
        PyBuffer_Release(&w_b); PyBuffer_Release(&max_b); PyBuffer_Release(&buf_b); PyBuffer_Release(&od_b); PyBuffer_Release(&os_b);
        return PyErr_NoMemory();
    }
    float *score = malloc(sizeof(float) * (size_t)(total > 0 ? total : 1));
    if (!score) {
        free(cand); free(heap);
        PyBuffer_Release(&ptr_b); PyBuffer_Release(&doc_b); PyBuffer_Release(&imp_b); PyBuffer_Release(&tid_b);
        PyBuffer_Release(&w_b); PyBuffer_Release(&max_b); PyBuffer_Release(&buf_b); PyBuffer_Release(&od_b); PyBuffer_Release(&os_b);
        return PyErr_NoMemory();
    }
    int n_out = 0;
    Py_BEGIN_ALLOW_THREADS
    int64_t n_cand = 0;
    int64_t s = n_rare < 1 ? 1 : (n_rare > n_terms ? n_terms : n_rare);
    /* the essential terms [0, s) are scored over all their postings, in term order */
    for (int64_t t = 0; t < s; t++) {
        for (int64_t j = ptr[tid[t]]; j < ptr[tid[t] + 1]; j++) {
            int32_t d = doc[j];
            if (buf[d] == 0.0f) cand[n_cand++] = d;
            buf[d] += imp[j] * w[t];
        }
    }
    /* More terms become essential while a document outside the candidates could still reach the top k:
     * the k-th best *partial* score (a lower bound of the final k-th score, impacts being positive) must
     * exceed what the remaining terms can add at most. */
    for (;;) {
        if (s == n_terms) break;
        float bound = 0.0f;
        for (int64_t t = s; t < n_terms; t++) bound += term_max[t] * w[t];
        for (int64_t i = 0; i < n_cand; i++) score[i] = buf[cand[i]];
        int n_heap = select_topk(cand, score, n_cand, heap, k);
        if (n_heap == k && heap[0].score > bound * (1.0f + 1e-6f)) break;
        for (int64_t j = ptr[tid[s]]; j < ptr[tid[s] + 1]; j++) {
            int32_t d = doc[j];
            if (buf[d] == 0.0f) cand[n_cand++] = d;
            buf[d] += imp[j] * w[s];
        }
        s++;
    }
    /* full scores of the candidates: the other terms added in order, to the candidates only. A term whose
     * postings are short next to the candidates is looked up (binary search); a long one is scanned once,
     * adding only where a candidate is (buf > 0 marks the candidates: their partial scores are positive). */
    for (int64_t t = s; t < n_terms; t++) {
        const int32_t *docs = doc + ptr[tid[t]];
        const float *imps = imp + ptr[tid[t]];
        int64_t n = ptr[tid[t] + 1] - ptr[tid[t]];
        int64_t log_n = 1;
        while ((1LL << log_n) < n) log_n++;
        if (n_cand * log_n < n) {
            for (int64_t i = 0; i < n_cand; i++) {
                int64_t pos = lookup(docs, n, cand[i]);
                if (pos >= 0) buf[cand[i]] += imps[pos] * w[t];
            }
        } else {
            for (int64_t j = 0; j < n; j++) if (buf[docs[j]] != 0.0f) buf[docs[j]] += imps[j] * w[t];
        }
    }
    for (int64_t i = 0; i < n_cand; i++) score[i] = buf[cand[i]];
    n_out = select_topk(cand, score, n_cand, heap, k);
    for (int64_t i = 0; i < n_cand; i++) buf[cand[i]] = 0.0f;
    qsort(heap, (size_t)n_out, sizeof(Entry), cmp_better);
    for (int i = 0; i < n_out; i++) { out_docs[i] = heap[i].doc; out_scores[i] = heap[i].score; }
    Py_END_ALLOW_THREADS
    free(cand); free(heap); free(score);
    PyBuffer_Release(&ptr_b); PyBuffer_Release(&doc_b); PyBuffer_Release(&imp_b); PyBuffer_Release(&tid_b);
    PyBuffer_Release(&w_b); PyBuffer_Release(&max_b); PyBuffer_Release(&buf_b); PyBuffer_Release(&od_b); PyBuffer_Release(&os_b);
    return PyLong_FromLong(n_out);
}

static PyMethodDef methods[] = {
    {"topk", topk, METH_VARARGS, "Exact BM25 top-k over impact postings (see the file comment)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_bm25_kernel", "BM25 scoring kernel.", -1, methods};

PyMODINIT_FUNC PyInit__bm25_kernel(void) { return PyModule_Create(&module); }
