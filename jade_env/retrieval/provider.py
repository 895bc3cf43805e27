"""The retriever of each question of an environment, for one corpus mode.

``pooled`` and external corpora, a remote server or a given retriever: one retriever serves every question.
``per_question`` (the distractor setting): each question has its own small in-memory retriever over its own
context paragraphs, built on first use and kept in a bounded LRU. Every retriever is wrapped in the SQLite
replay cache when ``replay_cache`` is given.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from jade_env.data.types import Example
from jade_env.errors import JadeError
from jade_env.retrieval.base import Retriever
from jade_env.retrieval.factory import BACKENDS, make_retriever

#: the corpus keywords that name a mode rather than a file
CORPUS_MODES: tuple[str, ...] = ("pooled", "per_question")


class RetrieverProvider:
    """The retriever of each question (see the module docstring).

    ``corpus`` is ``"pooled"`` (the union of the split's context paragraphs), ``"per_question"`` (each
    question's own paragraphs), a path to an external JSONL or parquet corpus ``{"id", "contents"}``, a
    ``datasets.Dataset`` of such rows, or a
    :class:`~jade_env.data.corpus.Corpus`. ``retriever`` is a backend name (:data:`BACKENDS`),
    ``"remote:URL[,URL]"``, or a ready :class:`~jade_env.retrieval.base.Retriever` (then ``corpus`` is
    ignored). A deep copy of a provider is the provider itself: retrievers are read-only, so copies of an
    environment share them. Each env that shares it says so with :meth:`acquire` and gives it back with :meth:`release`;
    the retrievers are closed when the last one does (so closing a discarded copy leaves the original working).
    """

    def __init__(self, examples: Sequence[Example], dataset: str, corpus: Any = "pooled", retriever: Any = "bm25",
                 retriever_kwargs: dict[str, Any] | None = None, cache_dir: str | os.PathLike | None = None,
                 replay_cache: str | os.PathLike | None = None, per_question_cache_size: int = 256,
                 source: str | os.PathLike | None = None) -> None:
        self.dataset = dataset
        self.source = f"the questions of {source if source is not None else dataset}"  # what errors name
        self.corpus_mode = corpus if isinstance(corpus, str) and corpus in CORPUS_MODES else "external"
        self.replay_cache = replay_cache
        self.shared: Retriever | None = None  # the retriever of every question, unless per_question
        self._per_question: OrderedDict[str, Retriever] = OrderedDict()
        self._cache_size = per_question_cache_size
        self._build: Callable[[Any], Retriever] | None = None
        self._holders = 1  # the env that made it; each copy of that env adds one (acquire)
        kwargs = dict(retriever_kwargs or {})
        if isinstance(retriever, Retriever):
            self.shared, self.corpus_mode = self._wrap(retriever), "given"
            return
        if isinstance(retriever, str) and retriever.startswith("remote:"):
            from jade_env.retrieval.remote import RemoteRetriever

            urls = [u for u in retriever[len("remote:"):].split(",") if u]
            self.shared, self.corpus_mode = self._wrap(RemoteRetriever(urls, **kwargs)), "remote"
            return
        if not isinstance(retriever, str) or retriever not in BACKENDS:
            raise JadeError(f"retriever={retriever!r} is unknown; expected one of {', '.join(BACKENDS)}, "
                            "'remote:URL[,URL...]', or a Retriever instance")
        if self.corpus_mode == "per_question":
            missing = [e.id for e in examples[:50] if not e.context]
            if missing:
                raise JadeError(f"corpus='per_question' needs context paragraphs, but question {missing[0]!r} ({self.source}) "
                                "has none; pass an external corpus (corpus='PATH/to/corpus.jsonl') or retriever='remote:http://HOST:PORT'")
            # ten passages a question: the index lives in memory, never in the on-disk cache
            self._build = lambda c: make_retriever(retriever, c, cache_dir=False, **kwargs)
            self._per_question_id = f"per_question:{retriever}" + "".join(f",{k}={v}" for k, v in sorted(kwargs.items()))
            return
        self.shared = self._wrap(make_retriever(retriever, self._shared_corpus(examples, corpus), cache_dir=cache_dir, **kwargs))

    def _shared_corpus(self, examples: Sequence[Example], corpus: Any) -> Any:
        from jade_env.data.corpus import Corpus

        if isinstance(corpus, Corpus):
            return corpus
        if not (isinstance(corpus, str) and corpus == "pooled"):
            from jade_env.data.corpora import external_corpus

            return external_corpus(corpus)
        if not any(e.context for e in examples):
            raise JadeError(
                f"{self.source} have no context paragraphs, so they need an external corpus or a remote retriever: "
                "pass corpus='PATH/to/wiki18_100w.jsonl' (JSONL {\"id\", \"contents\"}) or retriever='remote:http://HOST:PORT'"
            )
        if self.dataset == "synthetic":
            from jade_env.data.synthetic import synthetic_corpus_of

            return synthetic_corpus_of(examples)
        from jade_env.data.corpora import pooled_corpus

        return pooled_corpus(examples)

    def _wrap(self, retriever: Retriever) -> Retriever:
        if self.replay_cache is None:
            return retriever
        from jade_env.retrieval.cache import CachedRetriever

        return CachedRetriever(retriever, self.replay_cache)

    def for_example(self, example: Example) -> Retriever:
        """The retriever that serves ``example``."""
        if self.shared is not None:
            return self.shared
        found = self._per_question.get(example.id)
        if found is None:
            from jade_env.data.corpora import per_question_corpus

            assert self._build is not None
            found = self._wrap(self._build(per_question_corpus(example)))
            self._per_question[example.id] = found
            if len(self._per_question) > self._cache_size:
                self._per_question.popitem(last=False)[1].close()
        else:
            self._per_question.move_to_end(example.id)
        return found

    @property
    def retriever_id(self) -> str:
        return self.shared.retriever_id if self.shared is not None else self._per_question_id

    @property
    def corpus_hash(self) -> str:
        return self.shared.corpus_hash if self.shared is not None else "per_question"

    def acquire(self) -> RetrieverProvider:
        """One more env shares these retrievers (a copy of the env that holds them)."""
        self._holders += 1
        return self

    def release(self) -> None:
        """An env that shared these retrievers is closed: close them when it was the last."""
        self._holders -= 1
        if self._holders <= 0:
            self.close()

    def close(self) -> None:
        """Close every retriever now, whoever shares them (an env closes through :meth:`release`)."""
        if self.shared is not None:
            self.shared.close()
        for r in self._per_question.values():
            r.close()
        self._per_question.clear()

    def __deepcopy__(self, memo: dict) -> RetrieverProvider:
        return self
