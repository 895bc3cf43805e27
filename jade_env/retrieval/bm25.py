"""``BM25Retriever``: in-process BM25 that ranks as Lucene does (pyserini/Anserini), with no Java.

Scoring is Lucene 9's ``BM25Similarity``, bit for bit: ``idf = (float) ln(1 + (N - df + 0.5) / (df + 0.5))``
with N the number of passages that have a term, ``w = boost * idf`` (boost = how often the term is in the
query, as Anserini's bag-of-words queries weigh it), ``norm_inverse[n] = 1 / (k1 * (1 - b + b * L(n) / avgdl))``
in float for each one-byte length norm n (``SmallFloat.intToByte4``: lengths below 24 exact, longer ones
rounded down to 4 significant bits), a term scoring ``w - w / (1 + tf * norm_inverse)`` in float, and a
passage the double sum of its terms cast to float; ``k1=0.9, b=0.4`` (Anserini's defaults). Ties are broken
as Anserini's searcher does, by the passage id string (UTF-8 order). With the analyzer of
:mod:`jade_env.retrieval.analysis` (Anserini's DefaultEnglishAnalyzer) the scores and rankings equal
Lucene's. A passage is indexed as ``"title\\ntext"`` (the ``contents`` of a JsonCollection document).

Index (a folder, format ``jade-bm25-v3``): postings in blocks of 128, document gaps and term frequencies as
variable-byte integers, with each block's last document and maximum impact (see ``_bm25_kernel.c``); a
norm byte and an id rank per passage; the passages compressed one by one with zlib and a preset dictionary
(so one can be read alone) and memory-mapped, never loaded; every file's size and CRC-32 in
``manifest.json``. The build streams the corpus in chunks of 20,000 passages: two worker processes analyse
and compress them (both cores) while this one writes sorted runs of postings to disk; the runs are then
merged term range by term range. Memory stays bounded by the chunk and merge sizes, not the corpus.

Search: the C kernel's block-max MaxScore (exact: the same top k as scoring every posting, which the
numpy fallback does where the kernel is not compiled). A query's passages are decoded together, in C where
``_passage_records.c`` is compiled (Python's zlib and json otherwise; the same tuples). A batch of queries is
split over threads (the kernel and the decoder release the GIL).

Loading validates the index in O(size): the manifest's keys and types, every file's size, array shapes,
monotone pointers, ids in range and finite impacts before the kernel sees it; then every file's CRC-32 (in
two threads) while the kernel decodes every block once and recomputes its maximum (a failed checksum is the
error reported, whatever else failed). Any failure is one
:class:`~jade_env.errors.RetrievalError` naming the file and saying how to rebuild; a cached index (found
through ``cache_dir``) is rebuilt instead, with a warning. The kernel checks every block it decodes, so even
an index that passes these checks but lies cannot make it read out of bounds.

Edge cases: ``k <= 0`` gives empty lists; ``k`` above the number of matching passages gives all of them; a
query with no indexed term gives an empty list; queries are cut to 10,000 characters; an empty corpus
raises a RetrievalError. ``pickle`` and ``copy.deepcopy`` reopen the index from its folder (or, for an
in-memory index, re-index its corpus).
"""

from __future__ import annotations

import glob
import json
import math
import multiprocessing
import numbers
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import warnings
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from jade_env.errors import RetrievalError
from jade_env.retrieval.analysis import MAX_QUERY_CHARS, Analyzer
from jade_env.retrieval.base import Hit, Retriever, check_search

try:  # the C kernel, compiled at install when a compiler is there (setup.py); numpy otherwise
    from jade_env.retrieval import _bm25_kernel as _kernel
except ImportError:  # pragma: no cover - depends on the install
    _kernel = None
try:  # the passages' decoder in C (zlib's C API, without the GIL; setup.py); Python's zlib and json otherwise
    from jade_env.retrieval import _passage_records
except ImportError:  # pragma: no cover - depends on the install
    _passage_records = None

INDEX_FORMAT = "jade-bm25-v3"
BLOCK = 128
CHUNK = 20_000  # passages per build chunk
PARALLEL_FROM = 50_000  # corpora at least this large are analysed by worker processes
MERGE_POSTINGS = 8_000_000  # postings per merge batch
ZDICT_BYTES = 32 * 1024
#: zlib level of the stored passages: 4 deflates real passages 1.5x and Zipf text 2.2x as fast as 6, for 2-4% more bytes
#: (measured on the shared corpora and 3,000 Zipf passages, 2026-12-03); any level inflates alike
COMPRESSION_LEVEL = 4
#: the largest record a stored passage may inflate to (both decoders): more is a damaged stream
MAX_RECORD_BYTES = 64 << 20
#: name -> dtype of the arrays of an index folder (``NAME.npy``)
ARRAYS = {"term_blocks": np.int64, "term_df": np.int64, "term_max": np.float32, "block_last": np.int32, "block_off": np.int64,
          "block_max": np.float32, "norms": np.uint8, "doc_rank": np.int32, "doc_offsets": np.int64}
#: queries per task of a batched search (see :meth:`BM25Retriever.search`)
BATCH_CHUNK = 16
#: decoded passages and analysed queries a retriever keeps by default (``passage_cache``, ``query_cache``)
PASSAGE_CACHE = 8192
QUERY_CACHE = 4096
BLOBS = ("postings.bin", "docs.bin", "docs.zdict", "terms.txt")
MANIFEST_KEYS = {"format": str, "k1": float, "b": float, "n_docs": int, "doc_count": int, "avgdl": float, "n_terms": int,
                 "n_blocks": int, "compressed": bool, "corpus_hash": str, "retriever_id": str, "files": dict}


# ----------------------------------------------------------------------------- Lucene's SmallFloat and BM25
def _long_to_int4(i: int) -> int:
    num_bits = i.bit_length()
    if num_bits < 4:
        return i
    shift = num_bits - 4
    return ((i >> shift) & 0x07) | ((shift + 1) << 3)


def _int4_to_long(i: int) -> int:
    bits, shift = i & 0x07, (i >> 3) - 1
    return bits if shift == -1 else (bits | 0x08) << shift


_NUM_FREE_VALUES = 255 - _long_to_int4(2**31 - 1)  # 24


def length_to_norm(length: int) -> int:
    """``SmallFloat.intToByte4``: the one-byte norm Lucene stores for a field of ``length`` terms."""
    return length if length < _NUM_FREE_VALUES else _NUM_FREE_VALUES + _long_to_int4(length - _NUM_FREE_VALUES)


def norm_to_length(norm: int) -> int:
    """``SmallFloat.byte4ToInt``."""
    return norm if norm < _NUM_FREE_VALUES else _NUM_FREE_VALUES + _int4_to_long(norm - _NUM_FREE_VALUES)


def lucene_quantised_length(length: int) -> int:
    """``byte4ToInt(intToByte4(length))``: the document length Lucene's BM25 actually uses."""
    return norm_to_length(length_to_norm(length))


_NORM_OF = np.array([length_to_norm(n) for n in range(4096)], dtype=np.uint8)
_LENGTH_TABLE = np.array([norm_to_length(i) for i in range(256)], dtype=np.int64)


def norms_of(lengths: np.ndarray) -> np.ndarray:
    lengths = np.asarray(lengths, dtype=np.int64)
    out = _NORM_OF[np.minimum(lengths, len(_NORM_OF) - 1)]
    for i in np.flatnonzero(lengths >= len(_NORM_OF)):
        out[i] = length_to_norm(int(lengths[i]))
    return out


def norm_inverse(k1: float, b: float, avgdl: np.float32) -> np.ndarray:
    """Lucene's ``cache[i] = 1f / (k1 * ((1 - b) + b * LENGTH_TABLE[i] / avgdl))``, every operation in float."""
    f32 = np.float32
    k1, b, avgdl = f32(k1), f32(b), f32(avgdl)
    lengths = _LENGTH_TABLE.astype(np.float32)
    with np.errstate(divide="ignore", over="ignore"):
        return (f32(1) / (k1 * ((f32(1) - b) + b * lengths / avgdl))).astype(np.float32)


def idf(df: np.ndarray, doc_count: int) -> np.ndarray:
    """``(float) Math.log(1 + (docCount - docFreq + 0.5D) / (docFreq + 0.5D))``."""
    df = np.asarray(df, dtype=np.float64)
    return np.log(1.0 + (doc_count - df + 0.5) / (df + 0.5)).astype(np.float32)


def decode_varbytes(raw: np.ndarray) -> np.ndarray:
    """Every variable-byte integer in ``raw`` (uint8), as int64."""
    if raw.size == 0:
        return np.zeros(0, dtype=np.int64)
    last = (raw & 0x80) == 0
    group = np.concatenate(([0], np.cumsum(last)[:-1]))
    starts = np.flatnonzero(np.concatenate(([True], last[:-1])))
    shift = 7 * (np.arange(raw.size) - starts[group])
    return np.bincount(group, weights=(raw & 0x7F).astype(np.float64) * np.exp2(shift)).astype(np.int64)


def default_cache_dir() -> Path:
    return Path(os.environ.get("JADE_CACHE_DIR") or Path.home() / ".cache" / "jade_env") / "indexes"


# ----------------------------------------------------------------------------- build workers
_WORKER_ANALYZER: Analyzer | None = None


def _die_with_parent(parent: int) -> None:
    """A build worker's initializer: on Linux the worker is killed when the building process dies, even by SIGKILL (which
    leaves no chance to shut the pool down: its workers would wait for work forever, holding their memory)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def _host_prefix(name: str) -> str:
    """The start of the name of every work folder of builds of ``name`` on this host."""
    return f"{name}.tmp-{socket.gethostname()}-"


def _work_prefix(name: str) -> str:
    """The prefix of a build's work folders: the host and process that own them (:func:`_remove_stale_work`)."""
    return f"{_host_prefix(name)}{os.getpid()}-"


def _remove_stale_work(folder: Path, name: str) -> None:
    """Remove the work folders that builds of ``name`` killed on this host left in ``folder`` (their process is gone);
    those of other hosts (a shared cache) and of running builds are left alone."""
    host_prefix = _host_prefix(name)
    for path in folder.glob(glob.escape(host_prefix) + "*-*"):
        pid = path.name[len(host_prefix):].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass


def analyse_chunk(texts: list[str], records: list[bytes], zdict: bytes | None) -> tuple:
    """(unique terms, their local ids per token, terms per passage, compressed records, their lengths): the
    part of the build that is pure Python or zlib, run in worker processes."""
    global _WORKER_ANALYZER
    if _WORKER_ANALYZER is None:
        _WORKER_ANALYZER = Analyzer()
    terms = _WORKER_ANALYZER.terms
    local: dict[str, int] = {}
    ids: list[int] = []
    lengths = np.empty(len(texts), dtype=np.int32)
    for i, text in enumerate(texts):
        doc = [local.setdefault(t, len(local)) for t in terms(text)]
        ids.extend(doc)
        lengths[i] = len(doc)
    if zdict is None:
        blobs = records
    else:
        # one stream primed with the dictionary, copied for each record: the bytes of a new stream per record, without
        # hashing the 32 KiB dictionary again each time (a quarter of the time it costs)
        primed, blobs = zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, -15, zdict=zdict), []
        for rec in records:
            c = primed.copy()
            blobs.append(c.compress(rec) + c.flush())
    return list(local), np.array(ids, dtype=np.int32), lengths, b"".join(blobs), np.array([len(x) for x in blobs], dtype=np.int64)


def _record(p) -> bytes:
    record = json.dumps([p.id, p.title, p.text], ensure_ascii=False).encode("utf-8")
    if len(record) > MAX_RECORD_BYTES:  # the decoders take a longer record for a damaged stream: refuse it here, not on search
        raise RetrievalError(f"passage {p.id!r} ({p.title[:60]!r}) is {len(record) / 2**20:,.0f} MiB of text; a stored passage is "
                             f"at most {MAX_RECORD_BYTES >> 20} MiB: split it into passages (retrieval returns whole passages)")
    return record


def _crc32(path: Path) -> int:
    """The CRC-32 of a file, read in 16 MB pieces (zlib releases the GIL on each; a mapping would turn a file cut
    short while it is read into SIGBUS, a read into a short file and a mismatch)."""
    crc = 0
    with path.open("rb") as f:
        while chunk := f.read(16 * 1024 * 1024):
            crc = zlib.crc32(chunk, crc)
    return crc


class _Builder:
    """Streams a corpus into an index folder (or into memory when ``out`` is None); see the module docstring."""

    def __init__(self, corpus, k1: float, b: float, out: Path | None, show_progress: bool) -> None:
        self.corpus, self.k1, self.b, self.out, self.show_progress = corpus, k1, b, out, show_progress
        self.vocab: dict[str, int] = {}

    def chunks(self) -> Iterable[tuple[list[str], list[bytes], list[str]]]:
        passages: Iterable = self.corpus
        if self.show_progress:
            from tqdm import tqdm

            passages = tqdm(self.corpus, total=len(self.corpus), desc="indexing", unit="doc")
        texts, records, ids = [], [], []
        for p in passages:
            texts.append(f"{p.title}\n{p.text}")
            records.append(_record(p))
            ids.append(p.id)
            if len(texts) == CHUNK:
                yield texts, records, ids
                texts, records, ids = [], [], []
        if texts:
            yield texts, records, ids

    def run(self) -> dict:
        n_docs = len(self.corpus)
        if n_docs == 0:
            raise RetrievalError(f"cannot index the empty corpus {getattr(self.corpus, 'name', self.corpus)!r}")
        if self.out is None:
            return self._run(n_docs, Path())
        work = Path(tempfile.mkdtemp(prefix="runs-", dir=self.out))  # inside the work folder: removed with it if the build dies
        try:
            return self._run(n_docs, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _run(self, n_docs: int, work: Path) -> dict:
        compress = self.out is not None
        lengths = np.zeros(n_docs, dtype=np.int64)
        doc_offsets = np.zeros(n_docs + 1, dtype=np.int64)
        ids: list[bytes] = []
        runs: list[dict] = []
        store = (self.out / "docs.bin").open("wb") if self.out else None
        memory_store: list[bytes] = []
        zdict = b""
        pool = None
        if n_docs >= PARALLEL_FROM:
            pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"), initializer=_die_with_parent,
                                       initargs=(os.getpid(),))
        try:
            pending: list = []
            base = 0
            chunks = iter(self.chunks())

            def submit() -> bool:
                nonlocal zdict
                got = next(chunks, None)
                if got is None:
                    return False
                texts, records, chunk_ids = got
                if compress and not zdict:  # a preset dictionary from the first passages: short records compress well alone
                    zdict = b"".join(records)[-ZDICT_BYTES:]
                ids.extend(i.encode("utf-8", "surrogatepass") for i in chunk_ids)
                args = (texts, records, zdict if compress else None)
                pending.append(pool.submit(analyse_chunk, *args) if pool else args)
                return True

            for _ in range(3 if pool else 1):
                submit()
            while pending:
                job = pending.pop(0)
                terms, local_ids, chunk_lengths, blob, blob_lengths = job.result() if pool else analyse_chunk(*job)
                submit()
                m = len(chunk_lengths)
                if base + m > n_docs:
                    raise RetrievalError(f"the corpus {getattr(self.corpus, 'name', '')!r} yielded more passages than len() says ({n_docs})")
                lengths[base: base + m] = chunk_lengths
                doc_offsets[base + 1: base + m + 1] = doc_offsets[base] + np.cumsum(blob_lengths)
                if store:
                    store.write(blob)
                else:
                    memory_store.append(blob)
                glob = np.array([self.vocab.setdefault(t, len(self.vocab)) for t in terms], dtype=np.int64)
                keys = glob[local_ids] * m + np.repeat(np.arange(m, dtype=np.int64), chunk_lengths)
                keys, tf = np.unique(keys, return_counts=True)
                runs.append(self._save_run(work, len(runs), (keys // m).astype(np.int32), (keys % m + base).astype(np.int32), tf))
                base += m
        finally:
            if pool:
                pool.shutdown(cancel_futures=True)
            if store:
                store.close()
        if base != n_docs:
            raise RetrievalError(f"the corpus {getattr(self.corpus, 'name', '')!r} yielded {base} passages but len() says {n_docs}")
        doc_count = int(np.count_nonzero(lengths))
        avgdl = np.float32(float(lengths.sum()) / max(doc_count, 1))  # Lucene: (float) (sumTotalTermFreq / (double) docCount)
        norms = norms_of(lengths)
        inverse = norm_inverse(self.k1, self.b, avgdl)
        order = sorted(range(n_docs), key=ids.__getitem__)  # ties go to the smaller id string (UTF-8 bytes), then corpus order
        doc_rank = np.empty(n_docs, dtype=np.int32)
        doc_rank[np.array(order, dtype=np.int64)] = np.arange(n_docs, dtype=np.int32)
        ids.clear()
        del order
        arrays = self._merge(runs, norms, inverse)
        arrays.update(norms=norms, doc_rank=doc_rank, doc_offsets=doc_offsets)
        info = {"doc_count": doc_count, "avgdl": float(avgdl), "zdict": zdict if compress else b"", "compressed": compress,
                "store": None if store else b"".join(memory_store)}
        return {"arrays": arrays, **info}

    def _save_run(self, work: Path, i: int, term: np.ndarray, doc: np.ndarray, tf: np.ndarray) -> dict:
        """One chunk's postings, sorted by (term, document): documents and frequencies on disk (in memory for an
        in-memory index), the distinct terms and where each starts kept here (small)."""
        uterms, ustart, ucount = np.unique(term, return_index=True, return_counts=True)
        run = {"terms": uterms, "start": np.append(ustart, len(term)).astype(np.int64), "count": ucount.astype(np.int64)}
        if self.out is None:
            return {**run, "doc": doc, "tf": tf.astype(np.int32)}
        doc.tofile(work / f"run{i:05d}.doc")
        tf.astype(np.int32).tofile(work / f"run{i:05d}.tf")
        return {**run, "path": work / f"run{i:05d}"}

    @staticmethod
    def _read_run(run: dict, name: str, lo: int, hi: int) -> np.ndarray:
        if "path" not in run:
            return run[name][lo:hi]
        return np.fromfile(f"{run['path']}.{name}", dtype=np.int32, count=hi - lo, offset=4 * lo)  # read, not mapped: RSS stays bounded

    def _merge(self, runs: list[dict], norms: np.ndarray, inverse: np.ndarray) -> dict:
        """The runs (each sorted by term, then document) merged term range by term range and encoded."""
        n_terms = len(self.vocab)
        df = np.zeros(n_terms, dtype=np.int64)
        for r in runs:
            df[r["terms"]] += r["count"]
        n_blocks = (df + BLOCK - 1) // BLOCK
        term_blocks = np.concatenate(([0], np.cumsum(n_blocks))).astype(np.int64)
        total_blocks = int(term_blocks[-1])
        block_last = np.empty(total_blocks, dtype=np.int32)
        block_max = np.empty(total_blocks, dtype=np.float32)
        block_off = np.zeros(total_blocks + 1, dtype=np.int64)
        postings = (self.out / "postings.bin").open("wb") if self.out else None
        parts: list[bytes] = []
        cum = np.concatenate(([0], np.cumsum(df)))
        start, written = 0, 0
        while start < n_terms:
            end = int(np.searchsorted(cum, cum[start] + MERGE_POSTINGS, side="right")) - 1
            end = min(max(end, start + 1), n_terms)
            docs, tfs, terms = [], [], []
            for r in runs:
                i0, i1 = np.searchsorted(r["terms"], [start, end])
                lo, hi = int(r["start"][i0]), int(r["start"][i1])
                docs.append(self._read_run(r, "doc", lo, hi))
                tfs.append(self._read_run(r, "tf", lo, hi))
                terms.append(np.repeat(r["terms"][i0:i1], r["count"][i0:i1]))
            by_term = np.argsort(np.concatenate(terms), kind="stable")  # runs are in document order: each term's documents stay sorted
            docs_sorted = np.concatenate(docs)[by_term]
            tfs_sorted = np.concatenate(tfs)[by_term]
            del docs, tfs, terms, by_term
            ptr = (cum[start: end + 1] - cum[start]).astype(np.int64)
            b0, b1 = int(term_blocks[start]), int(term_blocks[end])
            out = np.empty(max(10 * len(docs_sorted), 1), dtype=np.uint8)
            offsets = np.empty(b1 - b0 + 1, dtype=np.int64)
            used = self._encode(ptr, docs_sorted, tfs_sorted, norms, inverse, out, block_last[b0:b1], offsets, block_max[b0:b1])
            block_off[b0 + 1: b1 + 1] = offsets[1:] + written
            chunk = out[:used].tobytes()
            del out, docs_sorted, tfs_sorted
            if postings:
                postings.write(chunk)
            else:
                parts.append(chunk)
            written += used
            start = end
        if postings:
            postings.close()
        else:
            self.postings = np.frombuffer(b"".join(parts), dtype=np.uint8)
        term_max = np.maximum.reduceat(block_max, term_blocks[:-1]) if n_terms else np.zeros(0, dtype=np.float32)
        return {"term_blocks": term_blocks, "term_df": df, "term_max": term_max.astype(np.float32), "block_last": block_last,
                "block_off": block_off, "block_max": block_max}

    @staticmethod
    def _encode(ptr, docs, tfs, norms, inverse, out, block_last, offsets, block_max) -> int:
        docs, tfs = np.ascontiguousarray(docs, dtype=np.int32), np.ascontiguousarray(tfs, dtype=np.int32)
        if _kernel is not None:
            return _kernel.encode(ptr, docs, tfs, norms, inverse, out, block_last, offsets, block_max)
        # the same encoding in numpy (no compiler at install)
        pos, b = 0, 0
        for t in range(len(ptr) - 1):
            prev = -1
            for s in range(int(ptr[t]), int(ptr[t + 1]), BLOCK):
                e = min(s + BLOCK, int(ptr[t + 1]))
                d, f = docs[s:e].astype(np.int64), tfs[s:e].astype(np.int64)
                gaps = np.diff(np.concatenate(([prev], d)))
                offsets[b] = pos
                for v in np.concatenate((gaps, f)).tolist():
                    while v >= 0x80:
                        out[pos] = (v & 0x7F) | 0x80
                        v >>= 7
                        pos += 1
                    out[pos] = v
                    pos += 1
                block_last[b] = d[-1]
                block_max[b] = (f.astype(np.float32) * inverse[norms[d]]).max()
                prev = int(d[-1])
                b += 1
        offsets[b] = pos
        return pos


def _kernel_index(folder: Path | None, arrays: dict, postings: np.ndarray, norm_inv: np.ndarray, check: bool):
    """The C kernel's index over the arrays (None without the kernel); ``check``: every block decoded once and its
    maximum recomputed, O(postings), for an index read from ``folder``."""
    if _kernel is None:
        return None
    a = arrays
    try:
        index = _kernel.open(a["term_blocks"], a["term_df"], a["term_max"], a["block_last"], a["block_off"], a["block_max"],
                             postings, a["norms"])
        if check:
            _kernel.check(index, norm_inv)
    except ValueError as err:
        raise RetrievalError(f"{folder or 'the in-memory BM25 index'}: {err}; delete the folder and build it again") from None
    return index


# ----------------------------------------------------------------------------- the retriever
def _reopen(index_dir: str, n_threads: int, passage_cache: int = PASSAGE_CACHE, query_cache: int = QUERY_CACHE) -> BM25Retriever:
    return BM25Retriever(index_dir=index_dir, n_threads=n_threads, passage_cache=passage_cache, query_cache=query_cache)


def _reindex(corpus, k1: float, b: float, n_threads: int, passage_cache: int = PASSAGE_CACHE,
             query_cache: int = QUERY_CACHE) -> BM25Retriever:
    return BM25Retriever(corpus, k1=k1, b=b, cache_dir=False, n_threads=n_threads, passage_cache=passage_cache,
                         query_cache=query_cache)


class BM25Retriever(Retriever):
    """Lucene-exact BM25 over a corpus (see the module docstring).

    ``corpus``: anything with ``iter()``, ``len()``, ``hash`` and ``name`` (``Corpus``, ``ExternalCorpus``).
    ``cache_dir``: where indexes are saved and found (default ``$JADE_CACHE_DIR/indexes`` or
    ``~/.cache/jade_env/indexes``); ``False`` keeps the index in memory only (small per-question corpora).
    ``index_dir``: open an index folder built before (strictly validated; no corpus needed).
    ``n_threads``: threads for batched search (default: the number of cores, at most 4).
    ``passage_cache``, ``query_cache``: how many decoded passages and analysed queries are kept for the searches that
    meet them again (an environment asks the same questions episode after episode, and on a small corpus decoding and
    analysis are most of a search); 0 keeps none, as Lucene keeps none (the benchmarks against it use 0). Each is
    emptied when full.
    """

    def __init__(self, corpus=None, k1: float = 0.9, b: float = 0.4, cache_dir: str | os.PathLike | bool | None = None,
                 n_threads: int | None = None, index_dir: str | os.PathLike | None = None, show_progress: bool = False,
                 passage_cache: int = PASSAGE_CACHE, query_cache: int = QUERY_CACHE) -> None:
        for name, value in (("passage_cache", passage_cache), ("query_cache", query_cache)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RetrievalError(f"{name} must be an integer >= 0 (how many are kept), got {value!r}")
        for name, value, bounds in (("k1", k1, ">= 0 and finite"), ("b", b, "in [0, 1]")):  # Lucene's BM25Similarity bounds
            if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0
                    or name == "b" and value > 1):
                raise RetrievalError(f"{name} must be a number {bounds}, got {value!r}")
        if n_threads is not None and (isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1):
            raise RetrievalError(f"n_threads must be a positive integer or None (the number of cores, at most 4), got {n_threads!r}")
        self.passage_cache, self.query_cache = passage_cache, query_cache
        self._passages: dict[int, tuple[str, str, str]] = {}
        self._queries: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.k1, self.b = float(k1), float(b)
        self.n_threads = n_threads or min(os.cpu_count() or 1, 4)
        self.analyzer = Analyzer()
        self.show_progress = show_progress
        self.use_kernel = _kernel is not None
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None
        self._corpus = None
        self.index_dir: Path | None = None
        self.retriever_id = f"bm25-lucene:k1={self.k1:g},b={self.b:g},analyzer=anserini-default-english,ties=docid"
        if index_dir is not None:
            self._load(Path(index_dir))
            return
        if corpus is None:
            raise RetrievalError("BM25Retriever needs a corpus or an index_dir")
        self.corpus_hash = corpus.hash
        if cache_dir is False:
            self._corpus = corpus
            self._build(corpus, None)
            return
        folder = Path(cache_dir) if cache_dir not in (None, True) else default_cache_dir()
        target = folder / f"bm25-{self.corpus_hash[:24]}-k1={self.k1:g}-b={self.b:g}-v3"
        if target.exists():
            try:
                self._load(target, expect=(self.k1, self.b, self.corpus_hash))
                return
            except RetrievalError as err:
                warnings.warn(f"rebuilding the BM25 index: {err}", RuntimeWarning, stacklevel=2)
                shutil.rmtree(target, ignore_errors=True)
        self._build(corpus, target)

    # ------------------------------------------------------------------ build
    def _build(self, corpus, out: Path | None) -> None:
        started = time.perf_counter()
        tmp = None
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_work(out.parent, out.name)
            tmp = Path(tempfile.mkdtemp(prefix=_work_prefix(out.name), dir=out.parent))
        try:
            builder = _Builder(corpus, self.k1, self.b, tmp, self.show_progress)
            built = builder.run()
            self.build_seconds = time.perf_counter() - started
            manifest = {"format": INDEX_FORMAT, "k1": self.k1, "b": self.b, "n_docs": len(corpus), "doc_count": built["doc_count"],
                        "avgdl": built["avgdl"], "n_terms": len(builder.vocab), "n_blocks": int(len(built["arrays"]["block_last"])),
                        "compressed": built["compressed"], "corpus_hash": self.corpus_hash, "retriever_id": self.retriever_id,
                        "build_seconds": round(self.build_seconds, 3)}
            if tmp is None:  # in memory
                self._attach(manifest, built["arrays"], builder.postings, np.frombuffer(built["store"], dtype=np.uint8), b"", builder.vocab)
                return
            for name, arr in built["arrays"].items():
                np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr, dtype=ARRAYS[name]))
            (tmp / "docs.zdict").write_bytes(built["zdict"])
            (tmp / "terms.txt").write_text("\n".join(builder.vocab), encoding="utf-8")
            names = [f"{n}.npy" for n in ARRAYS] + list(BLOBS)
            manifest["files"] = {n: {"bytes": (tmp / n).stat().st_size, "crc32": _crc32(tmp / n)} for n in names}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
            del builder, built
            try:
                tmp.rename(out)
            except OSError:  # another process finished first: use theirs
                pass
        finally:
            if tmp is not None and tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        self._load(out)
        self.build_seconds = manifest["build_seconds"]

    # ------------------------------------------------------------------ load and validate
    def _fail(self, folder: Path, what: str) -> RetrievalError:
        return RetrievalError(f"{folder}: {what}; this BM25 index is corrupt or not ours: delete the folder and build it again "
                              f"(BM25Retriever(corpus, cache_dir=...) or `jade-rag index build`)")

    def _load(self, folder: Path, expect: tuple | None = None) -> None:
        self.index_dir = folder
        path = folder / "manifest.json"
        try:
            manifest = json.loads(path.read_text())
        except FileNotFoundError:
            raise RetrievalError(f"{folder} is not a BM25 index folder (no manifest.json)") from None
        except (OSError, ValueError) as err:
            raise self._fail(folder, f"manifest.json is unreadable ({err})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != INDEX_FORMAT:
            found = manifest.get("format") if isinstance(manifest, dict) else "foreign"
            raise self._fail(folder, f"manifest.json describes a {found!r} index, not {INDEX_FORMAT!r}")
        for key, kind in MANIFEST_KEYS.items():
            value = manifest.get(key)
            if value is None or not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                if not (kind is float and isinstance(value, int) and not isinstance(value, bool)):
                    raise self._fail(folder, f"manifest.json has no valid {key!r} (expected {kind.__name__}, found {value!r})")
        if expect is not None and (manifest["k1"], manifest["b"], manifest["corpus_hash"]) != expect:
            raise self._fail(folder, f"manifest.json says k1={manifest['k1']}, b={manifest['b']}, corpus {manifest['corpus_hash'][:12]}, "
                                     f"not k1={expect[0]}, b={expect[1]}, corpus {expect[2][:12]}")
        files = manifest["files"]
        names = [f"{n}.npy" for n in ARRAYS] + list(BLOBS)
        for name in names:
            meta = files.get(name)
            if not isinstance(meta, dict) or not isinstance(meta.get("bytes"), int) or not isinstance(meta.get("crc32"), int):
                raise self._fail(folder, f"manifest.json lists no size and checksum for {name}")
            try:
                size = (folder / name).stat().st_size
            except OSError:
                raise self._fail(folder, f"{name} is missing") from None
            if size != meta["bytes"]:
                raise self._fail(folder, f"{name} has {size} bytes, the manifest says {meta['bytes']}")
        # the checksums run in threads, the largest files first, while the structural checks and the kernel's block
        # check run here (all of them release the GIL); a checksum that fails is the error, whatever else failed, and
        # nothing is attached to this retriever before every check has passed
        with ThreadPoolExecutor(max_workers=2) as pool:
            sums = {n: pool.submit(_crc32, folder / n) for n in sorted(names, key=lambda n: -files[n]["bytes"])}
            try:
                opened = self._open_checked(folder, manifest, files)
            except RetrievalError:
                self._checksums(folder, files, names, sums)
                raise
            except Exception as err:  # what damaged bytes make numpy or the manifest's numbers raise
                self._checksums(folder, files, names, sums)
                raise self._fail(folder, f"cannot be read ({type(err).__name__}: {err})") from None
            self._checksums(folder, files, names, sums)
        self._attach(manifest, *opened)

    def _checksums(self, folder: Path, files: dict, names: list[str], sums: dict) -> None:
        for name in names:
            try:
                matches = sums[name].result() == files[name]["crc32"]
            except (OSError, ValueError) as err:
                raise self._fail(folder, f"{name} is unreadable ({err})") from None
            if not matches:
                raise self._fail(folder, f"{name} does not match its checksum (the file was changed after the build)")

    def _open_checked(self, folder: Path, manifest: dict, files: dict) -> tuple:
        """The arrays, files and kernel index of an index folder, checked for structure and every block decoded."""
        arrays = {}
        for name, dtype in ARRAYS.items():
            try:
                arr = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            except Exception as err:  # a damaged header raises anything from ValueError to tokenize.TokenError
                raise self._fail(folder, f"{name}.npy is unreadable ({type(err).__name__}: {err})") from None
            if arr.dtype != dtype or arr.ndim != 1:
                raise self._fail(folder, f"{name}.npy holds {arr.dtype}[{arr.ndim}-d], expected 1-d {np.dtype(dtype)}")
            arrays[name] = np.asarray(arr)  # plain views: np.memmap slices are slow
        try:
            vocab_text = (folder / "terms.txt").read_text(encoding="utf-8")
            postings = np.memmap(folder / "postings.bin", dtype=np.uint8, mode="r") if files["postings.bin"]["bytes"] else np.zeros(0, np.uint8)
            store = np.memmap(folder / "docs.bin", dtype=np.uint8, mode="r") if files["docs.bin"]["bytes"] else np.zeros(0, np.uint8)
            zdict = (folder / "docs.zdict").read_bytes()
        except (OSError, ValueError) as err:
            raise self._fail(folder, f"unreadable ({err})") from None
        terms = vocab_text.split("\n") if vocab_text else []
        vocab = dict(zip(terms, range(len(terms)), strict=True))
        problem = self._check(manifest, arrays, len(postings), len(store), len(terms), len(vocab))
        if problem:
            raise self._fail(folder, problem)
        index = _kernel_index(folder, arrays, postings, norm_inverse(manifest["k1"], manifest["b"], np.float32(manifest["avgdl"])),
                              check=True)
        return arrays, postings, store, zdict, vocab, index

    @staticmethod
    def _check(m: dict, a: dict, n_bytes: int, n_store: int, n_terms: int, n_unique: int) -> str | None:
        """What is wrong with an index's arrays, in O(size) numpy, or None."""
        n, v, nb = m["n_docs"], m["n_terms"], m["n_blocks"]
        if n < 1 or v < 0 or nb < 0 or not 0 <= m["doc_count"] <= n or not np.isfinite(m["avgdl"]) or m["avgdl"] < 0:
            return "manifest.json has impossible counts"
        if n_terms != v or n_unique != v:
            return f"terms.txt holds {n_terms} terms ({n_unique} distinct), the manifest says {v}"
        sizes = {"term_blocks": v + 1, "term_df": v, "term_max": v, "block_last": nb, "block_off": nb + 1, "block_max": nb,
                 "norms": n, "doc_rank": n, "doc_offsets": n + 1}
        for name, size in sizes.items():
            if len(a[name]) != size:
                return f"{name}.npy has {len(a[name])} entries, expected {size}"
        tb, df, off, last = a["term_blocks"], a["term_df"], a["block_off"], a["block_last"]
        if tb[0] != 0 or tb[-1] != nb or np.any(np.diff(tb) <= 0):
            return "term_blocks.npy is not an increasing pointer array over the blocks"
        nblk = np.diff(tb)
        if np.any(df <= (nblk - 1) * BLOCK) or np.any(df > nblk * BLOCK) or np.any(df > n):
            return "term_df.npy disagrees with the block counts"
        if off[0] != 0 or off[-1] != n_bytes or np.any(np.diff(off) <= 0):
            return "block_off.npy is not an increasing pointer array over postings.bin"
        if nb and (last.min() < 0 or last.max() >= n):
            return "block_last.npy holds document numbers out of range"
        first_of_term = np.zeros(nb, dtype=bool)
        first_of_term[tb[:-1]] = True
        if nb > 1 and np.any((np.diff(last) <= 0) & ~first_of_term[1:]):
            return "block_last.npy is not increasing within a term"
        bm, tm = a["block_max"], a["term_max"]
        if not np.all(np.isfinite(bm)) or np.any(bm < 0) or not np.all(np.isfinite(tm)):
            return "block_max.npy or term_max.npy holds NaN, infinite or negative impacts"
        if v and not np.array_equal(np.maximum.reduceat(bm, tb[:-1]), tm):
            return "term_max.npy disagrees with block_max.npy"
        rank = a["doc_rank"]
        if rank.min() < 0 or rank.max() >= n or np.any(np.bincount(rank, minlength=n) != 1):
            return "doc_rank.npy is not a permutation of the documents"
        do = a["doc_offsets"]
        if do[0] != 0 or do[-1] != n_store or np.any(np.diff(do) < 0):
            return "doc_offsets.npy is not an increasing pointer array over docs.bin"
        return None

    def _attach(self, manifest: dict, arrays: dict, postings: np.ndarray, store: np.ndarray, zdict: bytes, vocab: dict,
                index=None) -> None:
        self.manifest = manifest
        for name, arr in arrays.items():
            setattr(self, name, arr)
        self.postings, self._store, self._zdict, self.vocab = postings, store, zdict, vocab
        self._store_bytes = memoryview(store).cast("B")  # slices without a numpy object per passage
        self.k1, self.b = float(manifest["k1"]), float(manifest["b"])
        self.n_docs, self.doc_count, self.avgdl = int(manifest["n_docs"]), int(manifest["doc_count"]), float(manifest["avgdl"])
        self.corpus_hash, self.retriever_id = manifest["corpus_hash"], manifest["retriever_id"]
        self.compressed = bool(manifest["compressed"])
        self.build_seconds = 0.0
        self.norm_inverse = norm_inverse(self.k1, self.b, np.float32(self.avgdl))
        self._index = index if index is not None else _kernel_index(None, arrays, postings, self.norm_inverse, check=False)

    # ------------------------------------------------------------------ pickling
    def __reduce__(self):
        if self.index_dir is not None:
            return _reopen, (str(self.index_dir), self.n_threads, self.passage_cache, self.query_cache)
        return _reindex, (self._corpus, self.k1, self.b, self.n_threads, self.passage_cache, self.query_cache)

    # ------------------------------------------------------------------ search
    def passage(self, doc: int) -> tuple[str, str, str]:
        """``(id, title, text)`` of document number ``doc`` (kept for the next time, see ``passage_cache``)."""
        return self.passages([doc])[0]

    def passages(self, docs: list[int]) -> list[tuple[str, str, str]]:
        """``(id, title, text)`` of each document number in ``docs``, decoded together (kept, see ``passage_cache``)."""
        kept, cap = self._passages, self.passage_cache
        if not cap:
            return self._decode(docs)
        found = [kept.get(d) for d in docs]
        missing = list(dict.fromkeys(d for d, p in zip(docs, found, strict=True) if p is None))  # each decoded once
        if not missing:
            return found  # type: ignore[return-value]
        decoded = dict(zip(missing, self._decode(missing), strict=True))
        if len(missing) <= cap:
            if len(kept) + len(missing) > cap:
                kept.clear()
            kept.update(decoded)
        return [p if p is not None else decoded[d] for d, p in zip(docs, found, strict=True)]

    def _decode(self, docs: list[int], use_c: bool = True) -> list[tuple[str, str, str]]:
        """The stored records of ``docs``, decoded (in C when compiled, unless ``use_c`` is False)."""
        if _passage_records is None or not use_c:
            records: list = [self._inflated(d) for d in docs]
        else:
            try:
                records = _passage_records.decode(self._store_bytes, self.doc_offsets, self._zdict, self.compressed, docs,
                                                  MAX_RECORD_BYTES)
            except ValueError as err:  # offsets outside docs.bin, or a stream that does not inflate
                raise self._corrupt(str(err)) from None
        out = []
        for doc, record in zip(docs, records, strict=True):
            if type(record) is not tuple:  # bytes: Python's json reads them (and says what is wrong)
                try:
                    record = json.loads(record.decode())  # str, not bytes: json.loads would detect the encoding first
                except ValueError:  # UnicodeDecodeError is a ValueError
                    raise self._corrupt(f"passage {doc} is not JSON") from None
                if not (isinstance(record, list) and len(record) == 3 and all(isinstance(x, str) for x in record)):
                    raise self._corrupt(f"passage {doc} is not [id, title, text]")
                record = tuple(record)
            out.append(record)
        return out

    def _inflated(self, doc: int) -> bytes:
        """The record of ``doc`` as stored, inflated (Python's zlib; what ``_passage_records.c`` checks, checked)."""
        if not 0 <= doc < self.n_docs:
            raise IndexError(f"document number {doc} is outside the index ({self.n_docs} documents)")
        start, end = int(self.doc_offsets[doc]), int(self.doc_offsets[doc + 1])
        if not 0 <= start <= end <= len(self._store_bytes):
            raise self._corrupt(f"passage {doc} has offsets outside docs.bin")
        raw = self._store_bytes[start:end]
        if not self.compressed:
            return bytes(raw)
        try:
            d = zlib.decompressobj(-15, zdict=self._zdict)
            record = d.decompress(raw, MAX_RECORD_BYTES + 1)
        except zlib.error:
            record = None
        if record is None or not d.eof or len(record) > MAX_RECORD_BYTES:
            raise self._corrupt(f"passage {doc} does not inflate")
        return record

    def _corrupt(self, what: str) -> RetrievalError:
        return RetrievalError(f"{self.index_dir or 'the in-memory BM25 index'}: docs.bin does not decode: {what}; the index is "
                              "corrupt: delete the folder and build it again")

    def query_terms(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """Term ids and weights (``boost * idf``, float32) of a query's indexed terms (kept, see ``query_cache``; never
        changed by a search)."""
        kept = self._queries.get(query)
        if kept is not None:
            return kept
        counts = Counter(t for t in self.analyzer.terms(query[:MAX_QUERY_CHARS]) if t in self.vocab)
        tids = np.array([self.vocab[t] for t in counts], dtype=np.int64)
        boosts = np.array(list(counts.values()), dtype=np.float32)
        terms = (tids, boosts * idf(self.term_df[tids], self.doc_count))
        for array in terms:
            array.flags.writeable = False
        if self.query_cache:
            if len(self._queries) >= self.query_cache:
                self._queries.clear()
            self._queries[query] = terms
        return terms

    def top_docs(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Document numbers and scores of the top ``k`` for one query, best first."""
        if k <= 0 or not isinstance(query, str):
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        tids, weights = self.query_terms(query)
        if len(tids) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        k = min(k, self.n_docs)
        if self._index is not None and self.use_kernel:
            out_docs, out_scores = np.empty(k, dtype=np.int64), np.empty(k, dtype=np.float32)
            n = _kernel.search(self._index, tids, weights, self.norm_inverse, self.doc_rank, k, out_docs, out_scores)
            if n < 0:
                raise RetrievalError(f"{self.index_dir or 'the in-memory BM25 index'}: postings.bin does not decode; the index is "
                                     "corrupt: delete the folder and build it again")
            return out_docs[:n], out_scores[:n]
        return self.exhaustive(tids, weights, k)

    def postings_of(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        """(documents, term frequencies) of a term, decoded in numpy."""
        b0, b1 = int(self.term_blocks[tid]), int(self.term_blocks[tid + 1])
        vals = decode_varbytes(np.asarray(self.postings[int(self.block_off[b0]): int(self.block_off[b1])]))
        df = int(self.term_df[tid])
        sizes = np.full(b1 - b0, BLOCK, dtype=np.int64)
        sizes[-1] = df - BLOCK * (b1 - b0 - 1)
        if len(vals) != 2 * df:
            raise RetrievalError(f"{self.index_dir}: postings.bin does not decode; delete the folder and build it again")
        starts = np.repeat(np.cumsum(2 * sizes) - 2 * sizes, 2 * sizes)
        is_gap = (np.arange(len(vals)) - starts) < np.repeat(sizes, 2 * sizes)
        docs = np.cumsum(vals[is_gap]) - 1
        if df and (docs[-1] >= self.n_docs or np.any(np.diff(docs) <= 0)):
            raise RetrievalError(f"{self.index_dir}: postings.bin does not decode; delete the folder and build it again")
        return docs, vals[~is_gap]

    def exhaustive(self, tids: np.ndarray, weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Every posting of every query term scored (numpy): the reference the kernel's pruning must equal."""
        total = np.zeros(self.n_docs, dtype=np.float64)
        seen = np.zeros(self.n_docs, dtype=bool)
        for tid, w in zip(tids.tolist(), weights.tolist(), strict=True):
            docs, tfs = self.postings_of(tid)
            w = np.float32(w)
            x = tfs.astype(np.float32) * self.norm_inverse[self.norms[docs]]
            total[docs] += (w - w / (np.float32(1) + x)).astype(np.float64)
            seen[docs] = True
        cand = np.flatnonzero(seen)
        scores = total[cand].astype(np.float32)
        order = np.lexsort((self.doc_rank[cand], -scores))[:k]
        return cand[order].astype(np.int64), scores[order]

    def _search_one(self, query: str, k: int) -> list[Hit]:
        docs, scores = self.top_docs(query, k)
        return [Hit(pid, title, text, score, rank)
                for rank, ((pid, title, text), score) in enumerate(zip(self.passages(docs.tolist()), scores.tolist(), strict=True))]

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        k = check_search(queries, k)
        queries = list(queries)
        if k <= 0:
            return [[] for _ in queries]
        if self.n_threads <= 1 or len(queries) < 8:
            return [self._search_one(q, k) for q in queries]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.n_threads, thread_name_prefix="bm25")
        # small chunks, taken by whichever thread is free: query costs are heavy-tailed (at 1M passages 5% of the queries
        # take a quarter of the time), and one contiguous chunk per thread leaves a thread idle at the end
        chunks = [queries[i: i + BATCH_CHUNK] for i in range(0, len(queries), BATCH_CHUNK)]
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
