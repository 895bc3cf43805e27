"""Where an environment's questions and passages come from: the dataset split and the retriever.

``load_split`` resolves a dataset name or a local file into a list of examples (memoised per process,
so the sub-environments of a vector env share one copy). ``RetrieverProvider`` gives the retriever of
each question: one retriever over the whole corpus for the ``pooled`` and external corpora, or one
small retriever per question for ``per_question`` (the distractor setting), built on first use.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from jade_env.data.types import Example
from jade_env.errors import JadeError
from jade_env.retrieval.base import Retriever

#: datasets whose files carry context paragraphs, so that ``pooled`` and ``per_question`` work
CONTEXT_DATASETS = frozenset({"hotpotqa", "2wikimultihopqa", "musique", "synthetic"})
CORPUS_MODES = ("pooled", "per_question")
RETRIEVER_BACKENDS = ("bm25", "lucene", "dense")


@lru_cache(maxsize=16)
def _load_split_cached(dataset: str, data_path: str | None, split: str | None, n: int | None, sample_seed: int | None,
                       data_format: str | None, synthetic_json: str) -> tuple[Example, ...]:
    from jade_env.data import load_examples

    if dataset == "synthetic" and data_path is None:
        from jade_env.data.synthetic import load_synthetic

        kwargs = json.loads(synthetic_json)
        return tuple(load_synthetic(n=n or kwargs.pop("n_questions", 1000), **kwargs))
    source = data_path if data_path is not None else dataset
    examples = load_examples(source, format=data_format, split=split, n=n, seed=sample_seed,
                             dataset=dataset if data_path is not None else None)
    return tuple(examples)


def load_split(dataset: str, data_path: str | os.PathLike | None = None, split: str | None = None, n: int | None = None,
               sample_seed: int | None = None, data_format: str | None = None,
               synthetic: dict[str, Any] | None = None) -> tuple[Example, ...]:
    """The examples of ``dataset`` (or of the file ``data_path``), memoised per process."""
    examples = _load_split_cached(dataset, None if data_path is None else str(Path(data_path)), split, n, sample_seed,
                                  data_format, json.dumps(synthetic or {}, sort_keys=True))
    if not examples:
        raise JadeError(f"dataset {dataset!r} ({data_path or 'registry'}) has no questions")
    return examples


RetrieverFactory = Callable[[Any], Retriever]


def backend_factory(retriever: str, cache_dir: str | None = None, **kwargs: Any) -> RetrieverFactory:
    """A function corpus -> retriever for a backend name (``bm25``, ``lucene``, ``dense``)."""
    if retriever == "bm25":
        from jade_env.retrieval.bm25 import BM25Retriever

        return lambda corpus: BM25Retriever(corpus, cache_dir=cache_dir, **kwargs)
    if retriever == "lucene":
        from jade_env.retrieval.lucene import LuceneRetriever

        return lambda corpus: LuceneRetriever(corpus, cache_dir=cache_dir, **kwargs)
    if retriever == "dense":
        from jade_env.retrieval.dense import DenseRetriever

        return lambda corpus: DenseRetriever(corpus, cache_dir=cache_dir, **kwargs)
    raise JadeError(f"retriever={retriever!r} is unknown; expected one of {', '.join(RETRIEVER_BACKENDS)}, "
                    "'remote:URL[,URL...]', or a Retriever instance")


class RetrieverProvider:
    """The retriever of each question, for one corpus mode.

    ``corpus`` is ``"pooled"`` (the union of the split's context paragraphs), ``"per_question"``
    (each question's own paragraphs), a path to an external JSONL corpus ``{"id", "contents"}``, or a
    :class:`~jade_env.data.corpus.Corpus`. ``retriever`` is a backend name, ``"remote:URL[,URL]"``,
    or a ready :class:`~jade_env.retrieval.base.Retriever` (then ``corpus`` is ignored).
    ``replay_cache`` is a SQLite path: every retrieval is then recorded and replayed from it.
    """

    def __init__(self, examples: Sequence[Example], dataset: str, corpus: Any = "pooled", retriever: Any = "bm25",
                 retriever_kwargs: dict[str, Any] | None = None, cache_dir: str | None = None,
                 replay_cache: str | os.PathLike | None = None, per_question_cache_size: int = 256) -> None:
        self.dataset = dataset
        self.corpus_mode = corpus if isinstance(corpus, str) and corpus in CORPUS_MODES else "external"
        self._per_question: OrderedDict[str, Retriever] = OrderedDict()
        self._cache_size = per_question_cache_size
        self._replay_cache = replay_cache
        self._shared: Retriever | None = None
        self._factory: RetrieverFactory | None = None
        if isinstance(retriever, Retriever):
            self._shared = self._wrap(retriever)
            self.corpus_mode = "given"
            return
        if isinstance(retriever, str) and retriever.startswith("remote:"):
            from jade_env.retrieval.remote import RemoteRetriever

            urls = [u for u in retriever[len("remote:"):].split(",") if u]
            self._shared = self._wrap(RemoteRetriever(urls, **(retriever_kwargs or {})))
            self.corpus_mode = "remote"
            return
        if not isinstance(retriever, str):
            raise JadeError(f"retriever must be a backend name or a Retriever, got {type(retriever).__name__}")
        # a per-question corpus is ten passages: its index lives in memory, never in the on-disk cache
        per_question = self.corpus_mode == "per_question"
        self._factory = backend_factory(retriever, cache_dir=False if per_question else cache_dir, **(retriever_kwargs or {}))
        if per_question:
            missing = [e.id for e in examples[:50] if not e.context]
            if missing:
                raise JadeError(f"corpus='per_question' needs context paragraphs, but question {missing[0]!r} of {dataset} "
                                "has none; use corpus='pooled' or an external corpus file")
            return
        self._shared = self._wrap(self._factory(self._build_shared_corpus(examples, corpus)))

    def _build_shared_corpus(self, examples: Sequence[Example], corpus: Any) -> Any:
        from jade_env.data.corpus import Corpus

        if isinstance(corpus, Corpus):
            return corpus
        if corpus == "pooled":
            if not any(e.context for e in examples):
                raise JadeError(
                    f"{self.dataset} has no context paragraphs, so it needs an external corpus or a remote retriever: "
                    "pass corpus='PATH/to/wiki18_100w.jsonl' (JSONL {\"id\", \"contents\"}) or retriever='remote:http://HOST:PORT'"
                )
            if self.dataset == "synthetic":
                from jade_env.data.synthetic import synthetic_corpus_of

                return synthetic_corpus_of(examples)
            from jade_env.data.corpora import pooled_corpus

            return pooled_corpus(examples)
        from jade_env.data.corpora import external_corpus

        return external_corpus(corpus)

    def _wrap(self, retriever: Retriever) -> Retriever:
        if self._replay_cache is None:
            return retriever
        from jade_env.retrieval.cache import CachedRetriever

        return CachedRetriever(retriever, self._replay_cache)

    def for_example(self, example: Example) -> Retriever:
        """The retriever that serves ``example``."""
        if self._shared is not None:
            return self._shared
        found = self._per_question.get(example.id)
        if found is None:
            from jade_env.data.corpora import per_question_corpus

            assert self._factory is not None
            found = self._wrap(self._factory(per_question_corpus(example)))
            self._per_question[example.id] = found
            if len(self._per_question) > self._cache_size:
                self._per_question.popitem(last=False)[1].close()
        else:
            self._per_question.move_to_end(example.id)
        return found

    @property
    def retriever_id(self) -> str:
        if self._shared is not None:
            return self._shared.retriever_id
        return f"per_question:{self._factory}"

    @property
    def corpus_hash(self) -> str:
        return self._shared.corpus_hash if self._shared is not None else "per_question"

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
        for r in self._per_question.values():
            r.close()
        self._per_question.clear()


def question_index(options: dict | None, n_questions: int, rng) -> int:
    """``options["index"]`` when given (validated), else a draw from the env's seeded generator."""
    import numpy as np

    options = options or {}
    if "index" in options:
        index = options["index"]
        if not isinstance(index, int | np.integer) or not 0 <= index < n_questions:
            raise ValueError(f"options['index']={index!r} is out of range; expected 0 <= index < {n_questions}")
        return int(index)
    return int(rng.integers(n_questions))
