"""``BM25Retriever``: in-process BM25 that ranks like Lucene (pyserini/Anserini), with no Java.

Scoring is Lucene's ``BM25Similarity`` (Lucene 8+): for each query term t with query count q_t,

    score(d) = sum_t  q_t * idf(t) * tf / (tf + k1 * (1 - b + b * L(d) / avgdl))
    idf(t)   = ln(1 + (N - df + 0.5) / (df + 0.5))

with ``k1=0.9, b=0.4`` (Anserini's defaults), ``avgdl = total terms / N``, and ``L(d)`` the document
length *after Lucene's lossy one-byte norm encoding* (``SmallFloat.intToByte4`` then
``byte4ToInt``): lengths below 24 are exact, longer ones are rounded down to 4 significant bits. This
quantisation is what reorders near-ties between plain BM25 implementations and Lucene; reproducing
it is what lifts the top-10 agreement with pyserini (see benchmarks/RESULTS.md). Repeated query terms
weigh as many times as they occur, as in Anserini's bag-of-words queries. Analysis: see
:mod:`jade_env.retrieval.analysis`. A passage is indexed as ``"title\\ntext"`` (the ``contents`` of a
JsonCollection document).

Index: an inverted index of per-posting precomputed impacts (``idf * tf-part``, float32), stored as
numpy arrays in a cache folder keyed by the corpus hash and the parameters, and loaded memory-mapped;
passages are kept in a line store read by offset, so an index never needs its corpus in memory.
Searching adds the impacts of each query term's postings into a score buffer and takes the top k
with ``argpartition`` over the touched documents only. Frequent query terms (postings over 2% of the
corpus) are handled MaxScore-style: the rarer terms give the candidates, the frequent terms' impacts are
looked up for those candidates only, and the result is kept only when the k-th candidate score exceeds
the most any document outside the candidates could reach (otherwise every posting is scored): the
ranking is always exact, and a query with common words no longer costs a pass over most of the corpus. A batch of queries is split over threads
(numpy releases the GIL in the inner loops). Ties are broken by the lower document number, as Lucene does.

Edge cases: ``k <= 0`` gives empty lists; ``k`` above the number of matching documents gives all of
them; an empty query or one with only stop words gives an empty list; queries are cut to 10,000
characters; an empty corpus raises :class:`~jade_env.errors.RetrievalError`. A cache folder that is
corrupt or was written by something else is rebuilt (with a warning); an explicit ``index_dir`` that is
corrupt raises a RetrievalError naming it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
import warnings
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from jade_env.errors import RetrievalError
from jade_env.retrieval.analysis import MAX_QUERY_CHARS, Analyzer
from jade_env.retrieval.base import Hit, Retriever

try:  # the C kernel, compiled at install when a compiler is there (setup.py); numpy otherwise
    from jade_env.retrieval import _bm25_kernel as _kernel
except ImportError:  # pragma: no cover - depends on the install
    _kernel = None

INDEX_FORMAT = "jade-bm25-v2"
#: a query term whose postings cover more than 1/FREQUENT_SHARE of the corpus is scored only on the
#: candidates the rarer terms found (MaxScore), when that provably gives the exact top k
FREQUENT_SHARE = 50
_ARRAYS = ("post_ptr", "post_doc", "post_impact", "doc_offsets", "term_max")


# ----------------------------------------------------------------------------- Lucene's SmallFloat
def _long_to_int4(i: int) -> int:
    num_bits = i.bit_length()
    if num_bits < 4:
        return i
    shift = num_bits - 4
    encoded = (i >> shift) & 0x07
    return encoded | ((shift + 1) << 3)


def _int4_to_long(i: int) -> int:
    bits = i & 0x07
    shift = (i >> 3) - 1
    return bits if shift == -1 else (bits | 0x08) << shift


_NUM_FREE_VALUES = 255 - _long_to_int4(2**31 - 1)  # 24


def lucene_quantised_length(length: int) -> int:
    """``byte4ToInt(intToByte4(length))``: the document length Lucene's BM25 actually uses."""
    if length < _NUM_FREE_VALUES:
        return length
    byte = _NUM_FREE_VALUES + _long_to_int4(length - _NUM_FREE_VALUES)
    return min(_NUM_FREE_VALUES + _int4_to_long(byte - _NUM_FREE_VALUES), 2**31 - 1)


_QUANTISED = np.array([lucene_quantised_length(n) for n in range(4096)], dtype=np.int64)


def quantise_lengths(lengths: np.ndarray) -> np.ndarray:
    small = lengths < len(_QUANTISED)
    out = np.empty_like(lengths)
    out[small] = _QUANTISED[lengths[small]]
    for i in np.flatnonzero(~small):
        out[i] = lucene_quantised_length(int(lengths[i]))
    return out


# ----------------------------------------------------------------------------- the index
def default_cache_dir() -> Path:
    return Path(os.environ.get("JADE_CACHE_DIR") or Path.home() / ".cache" / "jade_env") / "indexes"


class BM25Retriever(Retriever):
    """Lucene-compatible BM25 over a corpus (see the module docstring).

    ``corpus``: anything with ``iter()``, ``len()``, ``hash`` and ``name`` (``Corpus``, ``ExternalCorpus``).
    ``cache_dir``: where indexes are saved and found (default ``$JADE_CACHE_DIR/indexes`` or
    ``~/.cache/jade_env/indexes``); ``False`` keeps the index in memory only (small per-question corpora).
    ``n_threads``: threads for batched search (default: the number of cores, at most 4).
    """

    def __init__(self, corpus=None, k1: float = 0.9, b: float = 0.4, cache_dir: str | os.PathLike | bool | None = None,
                 n_threads: int | None = None, index_dir: str | os.PathLike | None = None, show_progress: bool = False) -> None:
        self.k1, self.b = float(k1), float(b)
        self.n_threads = n_threads or min(os.cpu_count() or 1, 4)
        self.analyzer = Analyzer()
        self.show_progress = show_progress
        self.use_kernel = _kernel is not None
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None
        self.retriever_id = f"bm25-lucene:k1={self.k1:g},b={self.b:g},stem=porter,stop=lucene33"
        if index_dir is not None:
            self._load(Path(index_dir), strict=True)
            return
        if corpus is None:
            raise RetrievalError("BM25Retriever needs a corpus or an index_dir")
        self.corpus_hash = corpus.hash
        if cache_dir is False:
            self._build(corpus, None)
            return
        folder = Path(cache_dir) if cache_dir not in (None, True) else default_cache_dir()
        self.index_dir = folder / f"bm25-{self.corpus_hash[:24]}-k1={self.k1:g}-b={self.b:g}"
        if (self.index_dir / "manifest.json").exists():
            try:
                self._load(self.index_dir, strict=True)
                return
            except RetrievalError as err:
                warnings.warn(f"rebuilding the BM25 index: {err}", RuntimeWarning, stacklevel=2)
                shutil.rmtree(self.index_dir, ignore_errors=True)
        self._build(corpus, self.index_dir)

    # ------------------------------------------------------------------ build
    def _build(self, corpus, out: Path | None) -> None:
        started = time.perf_counter()
        n_docs = len(corpus)
        if n_docs == 0:
            raise RetrievalError(f"cannot index the empty corpus {getattr(corpus, 'name', corpus)!r}")
        vocab: dict[str, int] = {}
        tokens = array("i")
        lengths = np.zeros(n_docs, dtype=np.int64)
        store = bytearray()
        offsets = np.zeros(n_docs + 1, dtype=np.int64)
        terms = self.analyzer.terms
        passages: Iterable = corpus
        if self.show_progress:
            from tqdm import tqdm

            passages = tqdm(corpus, total=n_docs, desc="indexing", unit="doc")
        n_seen = 0
        for i, p in enumerate(passages):
            ids = [vocab.setdefault(t, len(vocab)) for t in terms(f"{p.title}\n{p.text}")]
            tokens.extend(ids)
            lengths[i] = len(ids)
            store += json.dumps([p.id, p.title, p.text], ensure_ascii=False).encode("utf-8") + b"\n"
            offsets[i + 1] = len(store)
            n_seen = i + 1
        if n_seen != n_docs:
            raise RetrievalError(f"the corpus {getattr(corpus, 'name', '')!r} yielded {n_seen} passages but len() says {n_docs}")
        term_of = np.frombuffer(tokens, dtype=np.int32).astype(np.int64)
        doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        keys, tf = np.unique(term_of * n_docs + doc_of, return_counts=True)
        post_term = keys // n_docs
        post_doc = (keys % n_docs).astype(np.int32)
        n_terms = len(vocab)
        df = np.bincount(post_term, minlength=n_terms)
        post_ptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(df, out=post_ptr[1:])
        avgdl = float(lengths.sum()) / n_docs
        idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
        norm = self.k1 * (1.0 - self.b + self.b * quantise_lengths(lengths).astype(np.float64) / max(avgdl, 1e-9))
        impact = (idf[post_term] * tf / (tf + norm[post_doc])).astype(np.float32)
        term_max = np.maximum.reduceat(impact, post_ptr[:-1]) if n_terms else np.zeros(0, dtype=np.float32)  # every term has postings
        self.vocab, self.n_docs, self.avgdl = vocab, n_docs, avgdl
        self.post_ptr, self.post_doc, self.post_impact = post_ptr, post_doc, impact
        self.doc_offsets, self._store = offsets, bytes(store)
        self.term_max = term_max
        self.build_seconds = time.perf_counter() - started
        if out is not None:
            self._save(out)

    def _save(self, out: Path) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=out.name + ".tmp-", dir=out.parent))
        try:
            for name in _ARRAYS:
                np.save(tmp / f"{name}.npy", getattr(self, name))
            (tmp / "docs.jsonl").write_bytes(self._store)
            (tmp / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")
            manifest = {"format": INDEX_FORMAT, "k1": self.k1, "b": self.b, "n_docs": self.n_docs, "avgdl": self.avgdl,
                        "corpus_hash": self.corpus_hash, "retriever_id": self.retriever_id, "n_terms": len(self.vocab),
                        "build_seconds": round(self.build_seconds, 3)}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
            try:
                tmp.rename(out)
            except OSError:  # another process finished first: use theirs
                shutil.rmtree(tmp, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        self.index_dir = out

    # ------------------------------------------------------------------ load
    def _load(self, folder: Path, strict: bool) -> None:
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except FileNotFoundError:
            raise RetrievalError(f"{folder} is not a BM25 index folder (no manifest.json)") from None
        except (OSError, ValueError) as err:
            raise RetrievalError(f"{folder}/manifest.json is unreadable ({err})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != INDEX_FORMAT:
            raise RetrievalError(f"{folder} holds a {manifest.get('format') if isinstance(manifest, dict) else 'foreign'!r} "
                                 f"index, not {INDEX_FORMAT!r}")
        if (manifest["k1"], manifest["b"]) != (self.k1, self.b) and strict and hasattr(self, "corpus_hash"):
            raise RetrievalError(f"{folder} was built with k1={manifest['k1']}, b={manifest['b']}, not k1={self.k1}, b={self.b}")
        try:
            for name in _ARRAYS:  # memory-mapped; plain ndarray views avoid np.memmap's per-slice overhead
                setattr(self, name, np.asarray(np.load(folder / f"{name}.npy", mmap_mode="r")))
            self.vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
            self._store = np.memmap(folder / "docs.jsonl", dtype=np.uint8, mode="r")
        except (OSError, ValueError) as err:
            raise RetrievalError(f"{folder} is a corrupt BM25 index ({type(err).__name__}: {err}); delete it to rebuild") from None
        n = int(manifest["n_docs"])
        if len(self.doc_offsets) != n + 1 or len(self.post_ptr) != len(self.vocab) + 1 or len(self.post_doc) != len(self.post_impact) \
                or int(self.doc_offsets[-1]) != len(self._store) or len(self.term_max) != len(self.vocab):
            raise RetrievalError(f"{folder} is a corrupt BM25 index (array sizes disagree); delete it to rebuild")
        self.k1, self.b = float(manifest["k1"]), float(manifest["b"])
        self.n_docs, self.avgdl, self.corpus_hash = n, float(manifest["avgdl"]), manifest["corpus_hash"]
        self.retriever_id = manifest["retriever_id"]
        self.index_dir = folder
        self.build_seconds = 0.0

    # ------------------------------------------------------------------ search
    def passage(self, doc: int) -> tuple[str, str, str]:
        """``(id, title, text)`` of document number ``doc``."""
        start, end = int(self.doc_offsets[doc]), int(self.doc_offsets[doc + 1])
        return tuple(json.loads(bytes(self._store[start:end])))  # type: ignore[return-value]

    def _scores(self) -> np.ndarray:
        buf = getattr(self._local, "buf", None)
        if buf is None or len(buf) != self.n_docs:
            buf = self._local.buf = np.zeros(self.n_docs, dtype=np.float32)
        return buf

    def top_docs(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Document numbers and scores of the top ``k`` for one query, best first."""
        empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
        if k <= 0 or not isinstance(query, str):
            return empty
        counts = Counter(t for t in self.analyzer.terms(query[:MAX_QUERY_CHARS]) if t in self.vocab)
        if not counts:
            return empty
        # (document frequency, term id, query count), rarest first
        terms = sorted((int(self.post_ptr[self.vocab[t] + 1] - self.post_ptr[self.vocab[t]]), self.vocab[t], q) for t, q in counts.items())
        frequent_from = len(terms)
        if len(terms) > 1:
            # MaxScore: documents that contain only frequent terms cannot beat the k-th best document found
            # through the rare ones when the frequent terms' best possible contribution is below it
            while frequent_from > 1 and terms[frequent_from - 1][0] * FREQUENT_SHARE > self.n_docs:
                frequent_from -= 1
        if _kernel is not None and self.use_kernel:
            return self._top_docs_kernel(terms, frequent_from, k)
        if frequent_from < len(terms):
            result = self._top_docs_maxscore(terms, frequent_from, k)
            if result is not None:
                return result
        return self._top_docs_exhaustive(terms, k)

    def _top_docs_kernel(self, terms: list[tuple[int, int, int]], n_rare: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The same ranking as the numpy paths, in C with the GIL released (see _bm25_kernel.c)."""
        k = min(k, self.n_docs)
        out_docs = np.empty(k, dtype=np.int64)
        out_scores = np.empty(k, dtype=np.float32)
        tids = np.array([t[1] for t in terms], dtype=np.int64)
        n = _kernel.topk(self.post_ptr, self.post_doc, self.post_impact, tids, np.array([t[2] for t in terms], dtype=np.float32),
                         self.term_max[tids], n_rare, self._scores(), out_docs, out_scores, k)
        return out_docs[:n], out_scores[:n]

    def _postings(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = int(self.post_ptr[tid]), int(self.post_ptr[tid + 1])
        return self.post_doc[start:end], self.post_impact[start:end]

    def _accumulate(self, terms: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray, int]:
        """Every posting of ``terms`` added in order; (touched documents with repeats, their sums, lists used)."""
        buf = self._scores()
        parts = []
        for _, tid, q_tf in terms:
            docs, impacts = self._postings(tid)
            buf[docs] += impacts * np.float32(q_tf)
            parts.append(docs)
        cand = parts[0] if len(parts) == 1 else np.concatenate(parts)
        vals = buf[cand]
        buf[cand] = 0.0
        return cand, vals, len(parts)

    def _top_docs_maxscore(self, terms: list[tuple[int, int, int]], frequent_from: int, k: int):
        """Exact top-k when it can be proven from the rare terms' candidates; else None (then exhaustive)."""
        cand, vals, _ = self._accumulate(terms[:frequent_from])
        cand, first = np.unique(cand, return_index=True)
        vals = vals[first]
        bound = 0.0
        for _, tid, q_tf in terms[frequent_from:]:
            docs, impacts = self._postings(tid)
            pos = np.searchsorted(docs, cand)
            pos[pos >= len(docs)] = 0
            hit = docs[pos] == cand
            vals = vals + np.where(hit, impacts[pos] * np.float32(q_tf), np.float32(0.0))
            bound += float(self.term_max[tid]) * q_tf
        if len(cand) < k:
            return None
        kth = np.partition(vals, len(vals) - k)[len(vals) - k]
        if not kth > bound * (1 + 1e-6):  # a document outside the candidates might reach the top k
            return None
        order = np.lexsort((cand, -vals))[:k]
        return cand[order].astype(np.int64), vals[order]

    def _top_docs_exhaustive(self, terms: list[tuple[int, int, int]], k: int) -> tuple[np.ndarray, np.ndarray]:
        cand, vals, n_parts = self._accumulate(terms)
        m = min(k * n_parts, len(cand))
        if m < len(cand):
            # take every candidate scoring at least the m-th best, so ties at the boundary are all seen
            threshold = np.partition(vals, len(vals) - m)[len(vals) - m]
            keep = vals >= threshold
            cand, vals = cand[keep], vals[keep]
        docs, first = np.unique(cand, return_index=True)
        scores = vals[first]
        order = np.lexsort((docs, -scores))[:k]
        return docs[order].astype(np.int64), scores[order]

    def _search_one(self, query: str, k: int) -> list[Hit]:
        docs, scores = self.top_docs(query, k)
        hits = []
        for rank, (doc, score) in enumerate(zip(docs.tolist(), scores.tolist(), strict=True)):
            pid, title, text = self.passage(doc)
            hits.append(Hit(pid, title, text, float(score), rank))
        return hits

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        queries = list(queries)
        if k <= 0:
            return [[] for _ in queries]
        if self.n_threads <= 1 or len(queries) < 8:
            return [self._search_one(q, k) for q in queries]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.n_threads, thread_name_prefix="bm25")
        chunk = (len(queries) + self.n_threads - 1) // self.n_threads
        chunks = [queries[i: i + chunk] for i in range(0, len(queries), chunk)]
        results = self._pool.map(lambda qs: [self._search_one(q, k) for q in qs], chunks)
        return [hits for part in results for hits in part]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def __len__(self) -> int:
        return self.n_docs

    def __repr__(self) -> str:
        return f"BM25Retriever({self.retriever_id}, docs={self.n_docs}, corpus={self.corpus_hash[:12]})"
