"""``CachedRetriever``: a replay cache of retrieval results in SQLite.

Results are keyed by (retriever id, corpus hash, query, k) and stored as JSON, so a rerun reproduces
every retrieval exactly and costs nothing. A batch of queries is one lookup; the misses go to the inner
retriever as one batch. ``hits`` and ``misses`` count lookups (``stats()`` for an env's ``info``).
``replay_only=True`` never calls the inner retriever: a miss raises
:class:`~jade_env.errors.RetrievalError`, for replays that must be exact. The database runs in WAL
mode with a busy timeout, so two processes can share one file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from jade_env.errors import RetrievalError
from jade_env.retrieval.base import Hit, Retriever

SCHEMA = """
CREATE TABLE IF NOT EXISTS retrievals (
    retriever_id TEXT NOT NULL,
    corpus_hash  TEXT NOT NULL,
    query        TEXT NOT NULL,
    k            INTEGER NOT NULL,
    hits         TEXT NOT NULL,
    PRIMARY KEY (retriever_id, corpus_hash, query, k)
)
"""


class CachedRetriever(Retriever):
    """Wraps ``inner`` with a SQLite replay cache at ``path`` (see the module docstring)."""

    def __init__(self, inner: Retriever | None, path: str | os.PathLike, replay_only: bool = False,
                 retriever_id: str | None = None, corpus_hash: str | None = None) -> None:
        if inner is None and not replay_only:
            raise RetrievalError("CachedRetriever needs an inner retriever unless replay_only=True")
        self.inner = inner
        self.path = Path(path)
        self.replay_only = replay_only
        self.retriever_id = retriever_id or (inner.retriever_id if inner else "")
        self.corpus_hash = corpus_hash or (inner.corpus_hash if inner else "")
        self.hits = self.misses = 0
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.execute(SCHEMA)
        except sqlite3.DatabaseError as err:
            raise RetrievalError(f"{self.path}: not a usable replay-cache database ({err})") from None

    def _lookup(self, queries: Sequence[str], k: int) -> dict[str, list[Hit]]:
        found: dict[str, list[Hit]] = {}
        unique = list(dict.fromkeys(queries))
        for start in range(0, len(unique), 500):
            chunk = unique[start: start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT query, hits FROM retrievals WHERE retriever_id=? AND corpus_hash=? AND k=? AND query IN ({marks})",
                (self.retriever_id, self.corpus_hash, k, *chunk),
            ).fetchall()
            for query, hits in rows:
                found[query] = [Hit(*h) for h in json.loads(hits)]
        return found

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        queries = [q if isinstance(q, str) else "" for q in queries]
        if k <= 0:
            return [[] for _ in queries]
        with self._lock:
            try:
                found = self._lookup(queries, k)
            except sqlite3.DatabaseError as err:
                raise RetrievalError(f"{self.path}: the replay cache is unreadable ({err})") from None
            missing = [q for q in dict.fromkeys(queries) if q not in found]
            self.hits += sum(1 for q in queries if q in found)
            self.misses += sum(1 for q in queries if q not in found)
            if missing:
                if self.replay_only or self.inner is None:
                    raise RetrievalError(f"{self.path}: no recorded retrieval for query {missing[0][:80]!r} (k={k}); "
                                         "replay_only=True never calls the retriever")
                fresh = self.inner.search(missing, k)
                rows = [(self.retriever_id, self.corpus_hash, q, k,
                         json.dumps([[h.id, h.title, h.text, h.score, h.rank] for h in hits], ensure_ascii=False))
                        for q, hits in zip(missing, fresh, strict=True)]
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    self._db.executemany("INSERT OR IGNORE INTO retrievals VALUES (?, ?, ?, ?, ?)", rows)
                    self._db.execute("COMMIT")
                except sqlite3.DatabaseError as err:
                    self._db.execute("ROLLBACK") if self._db.in_transaction else None
                    raise RetrievalError(f"{self.path}: cannot write to the replay cache ({err})") from None
                found.update(zip(missing, fresh, strict=True))
        return [found[q] for q in queries]

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}

    def close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error:
            pass
        if self.inner is not None:
            self.inner.close()
