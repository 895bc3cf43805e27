"""Corpora: the passages a retriever searches.

A :class:`Corpus` is an ordered, immutable collection of :class:`~jade_env.data.types.Passage`
with a name and a stable content hash (:func:`jade_env.data.hashing.corpus_hash`). Retrievers
only need ``iter()``, ``len()``, ``hash`` and ``name``, so a corpus streamed from a large file
(see :func:`jade_env.data.corpora.external_corpus`) fits the same interface without being held
in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property

from jade_env.data.hashing import corpus_hash
from jade_env.data.types import Passage


class Corpus:
    """An in-memory corpus: a sequence of passages with a name and a content hash."""

    def __init__(self, passages: Sequence[Passage], name: str = "corpus") -> None:
        self._passages = tuple(passages)
        self.name = name

    def __len__(self) -> int:
        return len(self._passages)

    def __iter__(self) -> Iterator[Passage]:
        return iter(self._passages)

    def __getitem__(self, i: int) -> Passage:
        return self._passages[i]

    @cached_property
    def hash(self) -> str:
        """The version-1 content hash of the passages, in order."""
        return corpus_hash(self._passages)

    def __repr__(self) -> str:
        return f"Corpus(name={self.name!r}, passages={len(self)}, hash={self.hash[:12]})"
