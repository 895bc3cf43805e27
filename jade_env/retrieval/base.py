"""The one batched retrieval interface that every backend implements.

A retriever belongs to the environment: the workflow engine calls ``search`` with the queries of
all sub-environments at once and receives, per query, up to ``k`` :class:`Hit` objects ranked best
first. ``retriever_id`` names the backend and every parameter that changes a ranking, and
``corpus_hash`` names the corpus (:func:`jade_env.data.hashing.corpus_hash`); together they key the
replay cache and appear in every result file.

Defined behaviour on edge cases, the same for every backend:

* ``k <= 0`` returns an empty list per query; ``k`` larger than the corpus returns every match.
* an empty query, or one with no indexable term, returns an empty list (never an error).
* queries may be any Unicode (control characters included) and any length; very long queries
  are cut to :data:`MAX_QUERY_CHARS` characters before analysis; a query that is not a string counts as empty.
* one string given as the batch (``search("river", 3)``, which would search each character) and a ``k`` that is not
  an integer are ``TypeError`` (:func:`check_search`): a caller's mistake, not an input to rank.
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

MAX_QUERY_CHARS = 10_000


def check_search(queries: object, k: object) -> int:
    """``k`` as an int; TypeError unless ``queries`` is a batch (not one string) and ``k`` an integer (numpy's too). Every
    backend's ``search`` starts with it."""
    if isinstance(queries, str | bytes):
        raise TypeError(f"search() takes a sequence of queries, got one {type(queries).__name__} {queries[:40]!r}; "
                        "use search([query], k)")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"search() takes k, the number of hits per query, as an integer, got {k!r}")
    return int(k)


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved passage: its id, title and text, the backend's score, and its 0-based rank."""

    id: str
    title: str
    text: str
    score: float
    rank: int


class Retriever(ABC):
    """A batched retriever over one corpus."""

    #: names the backend and every parameter that changes a ranking, e.g. ``bm25s:k1=0.9,b=0.4,...``
    retriever_id: str
    #: the content hash of the corpus searched (see :mod:`jade_env.data.hashing`)
    corpus_hash: str

    @abstractmethod
    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """Return, for each query in order, up to ``k`` hits ranked best first."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (threads, connections, memory maps). Safe to call twice."""

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
