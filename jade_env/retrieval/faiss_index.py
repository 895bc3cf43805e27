"""``FaissIndexRetriever``: search an existing FAISS index (Search-R1's or FlashRAG's layout) over a JSONL corpus.

Layout (both projects' ``index_builder.py``): one FAISS file ``{method}_{faiss_type}.index`` (for
example ``e5_Flat.index``, ``e5_HNSW64.index``) made by ``faiss.index_factory(dim, faiss_type,
METRIC_INNER_PRODUCT)``, and the corpus JSONL it was built from: vector ``i`` is record ``i``. Any
index ``faiss.read_index`` opens works: flat, IVF, HNSW, PQ and their combinations. Queries are
encoded by :class:`~jade_env.retrieval.text_encoder.TextEncoder` with the index's conventions.
:func:`build_index` writes the same layout (used by ``jade-rag index build --retriever dense
--faiss-type ...``).

Memory: the index is opened with ``IO_FLAG_MMAP_IFC``, so flat codes, IVF lists and HNSW vectors are
mapped from the file rather than copied (faiss falls back to reading it when a type cannot be
mapped); the corpus is read by byte offsets (:class:`~jade_env.retrieval.jsonl_passages.JsonlPassages`).
Mapped pages are the kernel's page cache: several server replicas on one machine share them. What
each layout costs per million passages is measured in ``benchmarks/dense_index_memory.py`` and
summarised in ``docs/retrieval_serving.md``.

Checks on open, each a :class:`~jade_env.errors.RetrievalError` naming the file: the index must read,
hold as many vectors as the corpus has records, and have the encoder's dimension. Scores are the
index's: inner products (cosine for normalised vectors); for an L2 index, the negated distance, so
that higher is better everywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from jade_env.errors import RetrievalError
from jade_env.retrieval.base import MAX_QUERY_CHARS, Hit, Retriever, check_search
from jade_env.retrieval.jsonl_passages import JsonlPassages
from jade_env.retrieval.text_encoder import TextEncoder


def _faiss():
    try:
        import faiss
    except ImportError:
        raise RetrievalError("dense indexes need faiss: pip install 'jade-env[dense]'") from None
    return faiss


def open_faiss_index(path: str | os.PathLike, mmap: bool = True):
    """``faiss.read_index``, memory-mapped where faiss can, or a RetrievalError naming the file."""
    faiss = _faiss()
    path = Path(path)
    if not path.is_file():
        raise RetrievalError(f"{path}: no such FAISS index file")
    if mmap:
        try:
            return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:
            pass  # a type faiss cannot map: read it into memory below
    try:
        return faiss.read_index(str(path))
    except RuntimeError as err:
        raise RetrievalError(f"{path}: not a readable FAISS index ({str(err).splitlines()[0][:200]}); "
                             "rebuild it with `jade-rag index build --retriever dense` or the builder that made it") from None


class FaissIndexRetriever(Retriever):
    """An existing FAISS index and its corpus JSONL (see the module docstring).

    ``encoder``: a :class:`TextEncoder`, or ``None`` for one made from ``model_path`` and the other
    encoder keywords (default: the shipped MiniLM). ``nprobe`` (IVF) and ``ef_search`` (HNSW) trade
    speed for recall; ``None`` keeps what the index file says.
    """

    def __init__(self, index_path: str | os.PathLike, corpus_path: str | os.PathLike, encoder: TextEncoder | None = None,
                 model_path: str | None = None, encoder_name: str | None = None, query_prefix: str | None = None,
                 pooling: str | None = None, normalize: bool | None = None, nprobe: int | None = None,
                 ef_search: int | None = None, mmap: bool = True, cache_dir: str | os.PathLike | None = None,
                 threads: int | None = None) -> None:
        faiss = _faiss()
        self.index_path, self.corpus_path = Path(index_path), Path(corpus_path)
        self._args = dict(model_path=model_path, encoder_name=encoder_name, query_prefix=query_prefix, pooling=pooling,
                          normalize=normalize, nprobe=nprobe, ef_search=ef_search, mmap=mmap, cache_dir=cache_dir, threads=threads)
        self.index = open_faiss_index(self.index_path, mmap=mmap)
        self.passages = JsonlPassages(self.corpus_path, cache_dir=cache_dir)
        if self.index.ntotal != len(self.passages):
            raise RetrievalError(f"{self.index_path} holds {self.index.ntotal} vectors but {self.corpus_path} has "
                                 f"{len(self.passages)} records; vector i must be record i, so build them together")
        self.encoder = encoder or TextEncoder(model_path, name=encoder_name, query_prefix=query_prefix, pooling=pooling,
                                              normalize=normalize)
        if self.encoder.dim != self.index.d:
            raise RetrievalError(f"{self.index_path} has {self.index.d}-dimensional vectors but the encoder "
                                 f"{self.encoder.name} makes {self.encoder.dim}; use the model the index was built with")
        params = faiss.ParameterSpace()
        for name, value in (("nprobe", nprobe), ("efSearch", ef_search)):
            if value is not None:
                try:
                    params.set_index_parameter(self.index, name, int(value))
                except RuntimeError as err:
                    raise RetrievalError(f"{self.index_path}: cannot set {name} on this index ({err})") from None
        if threads is not None:
            faiss.omp_set_num_threads(threads)
        self.higher_is_better = self.index.metric_type == faiss.METRIC_INNER_PRODUCT
        self.corpus_hash = self.passages.hash
        stat = self.index_path.stat()
        key = hashlib.sha1(json.dumps([self.encoder.convention, self.index_path.name, stat.st_size, int(self.index.ntotal),
                                       nprobe, ef_search], sort_keys=True).encode()).hexdigest()[:12]
        self.retriever_id = f"faiss:{self.index_path.name}:{self.encoder.name}:{key}"

    def __reduce__(self):
        return (_reopen, (str(self.index_path), str(self.corpus_path), self._args))

    def __len__(self) -> int:
        return len(self.passages)

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        k = check_search(queries, k)
        queries = [(q if isinstance(q, str) else "")[:MAX_QUERY_CHARS] for q in queries]
        out: list[list[Hit]] = [[] for _ in queries]
        live = [i for i, q in enumerate(queries) if q.strip()]
        if k <= 0 or not live:
            return out
        vectors = self.encoder.encode([queries[i] for i in live], is_query=True)
        scores, rows = self.index.search(vectors, min(k, len(self.passages)))
        for at, i in enumerate(live):
            hits = []
            for row, score in zip(rows[at].tolist(), scores[at].tolist(), strict=True):
                if row < 0:
                    continue
                p = self.passages[row]
                hits.append(Hit(p.id, p.title, p.text, float(score if self.higher_is_better else -score), len(hits)))
            out[i] = hits
        return out

    def close(self) -> None:
        self.passages.close()


def _reopen(index_path: str, corpus_path: str, args: dict) -> FaissIndexRetriever:
    return FaissIndexRetriever(index_path, corpus_path, **args)


def build_index(corpus_path: str | os.PathLike, out_dir: str | os.PathLike, encoder: TextEncoder | None = None,
                faiss_type: str = "Flat", method: str | None = None, batch_size: int = 256,
                train_size: int = 100_000, show_progress: bool = False) -> Path:
    """Encode a corpus JSONL's ``contents`` and write ``{method}_{faiss_type}.index`` as Search-R1 and FlashRAG do.

    Returns the index path. Vectors are added in batches, so memory is the index plus one batch
    (and ``train_size`` vectors for the types that train: IVF, PQ).
    """
    faiss = _faiss()
    passages = JsonlPassages(corpus_path)
    encoder = encoder or TextEncoder()
    method = method or encoder.name.lower().replace("/", "_")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{method}_{faiss_type.replace(',', '_')}.index"
    try:
        index = faiss.index_factory(encoder.dim, faiss_type, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as err:
        raise RetrievalError(f"faiss_type={faiss_type!r} is not a faiss index_factory string ({err})") from None

    def contents(rows: range) -> list[str]:
        texts = []
        for row in rows:
            record = passages.record(row)
            text = record.get("contents", record.get("text")) if isinstance(record, dict) else None
            if not isinstance(text, str):
                p = passages[row]
                text = f"{p.title}\n{p.text}"
            texts.append(text)
        return texts

    n = len(passages)
    progress = None
    if show_progress:
        from tqdm import tqdm

        progress = tqdm(total=n, unit="passage", desc=f"encoding {passages.path.name}")
    if not index.is_trained:
        sample = encoder.encode(contents(range(min(n, train_size))), is_query=False)
        index.train(sample)
    for start in range(0, n, batch_size):
        index.add(encoder.encode(contents(range(start, min(n, start + batch_size))), is_query=False))
        if progress is not None:
            progress.update(min(batch_size, n - start))
    if progress is not None:
        progress.close()
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    faiss.write_index(index, str(tmp))
    os.replace(tmp, path)
    passages.close()
    return path
