"""The one place that turns a backend name and a corpus into a retriever (environments and ``jade-rag`` commands)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jade_env.errors import JadeError
from jade_env.retrieval.base import Retriever

BACKENDS: tuple[str, ...] = ("bm25", "lucene", "dense")


def open_corpus(spec: str) -> Any:
    """``synthetic[:N[:SEED]]``, a JSONL corpus of rows ``{"id", "contents"}`` or ``{"id", "title", "text"}`` (streamed), or a
    JSON corpus file."""
    if spec == "synthetic" or spec.startswith("synthetic:"):
        from jade_env.data.synthetic import synthetic_corpus

        parts = spec.split(":")
        try:
            if len(parts) > 3:
                raise ValueError
            n = int(parts[1]) if len(parts) > 1 and parts[1] else 1000
            seed = int(parts[2]) if len(parts) > 2 else 0
            if n < 1:
                raise ValueError
        except ValueError:
            raise JadeError(f"{spec!r}: expected synthetic:N[:SEED] with N a positive number of questions and SEED an "
                            "integer, e.g. synthetic:1000:0") from None
        return synthetic_corpus(n=n, seed=seed)
    path = Path(spec)
    if path.is_dir():
        raise JadeError(f"{spec}: is a folder; expected a JSONL or parquet {{\"id\", \"contents\"}} file, a JSON corpus, or synthetic:N")
    if not path.is_file():
        raise JadeError(f"{spec}: no such corpus file; expected a JSONL or parquet {{\"id\", \"contents\"}} file, a JSON corpus, or synthetic:N")
    from jade_env.data.parquet import is_parquet

    if is_parquet(path):
        from jade_env.data.corpora import external_corpus

        return external_corpus(path)
    with path.open(encoding="utf-8", errors="replace") as f:
        first = f.readline()
    if not first.strip() and path.stat().st_size <= len(first.encode()):
        raise JadeError(f"{spec}: the file is empty; expected a JSONL or parquet {{\"id\", \"contents\"}} file or a JSON corpus")
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        record = None
    from jade_env.data.corpora import external_corpus, is_corpus_row, load_corpus

    if is_corpus_row(record):  # JSONL rows {"id", "contents"} or {"id", "title", "text"}, streamed
        return external_corpus(path)
    return load_corpus(path)


def make_retriever(backend: str, corpus: Any, cache_dir: str | os.PathLike | bool | None = None, **kwargs: Any) -> Retriever:
    """A retriever of ``backend`` over ``corpus``; indexes are cached under ``cache_dir`` (``False``: in memory only)."""
    if backend == "bm25":
        from jade_env.retrieval.bm25 import BM25Retriever

        return BM25Retriever(corpus, cache_dir=cache_dir, **kwargs)
    if backend == "lucene":
        from jade_env.retrieval.lucene import LuceneRetriever

        return LuceneRetriever(corpus, cache_dir=cache_dir, **kwargs)
    if backend == "dense":
        from jade_env.retrieval.dense import DenseRetriever

        return DenseRetriever(corpus, cache_dir=cache_dir, **kwargs)
    raise JadeError(f"retriever backend {backend!r} is unknown; expected one of {', '.join(BACKENDS)}")
