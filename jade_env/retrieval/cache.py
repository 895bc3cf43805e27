"""``CachedRetriever``: a replay cache of retrieval results in SQLite.

Results are keyed by (retriever id, corpus hash, query, k) and stored as JSON, so a rerun reproduces
every retrieval exactly and costs nothing. A batch of queries is one lookup; the misses go to the inner
retriever as one batch. ``hits`` and ``misses`` count lookups (``stats()`` for an env's ``info``).
``replay_only=True`` never calls the inner retriever: a miss raises
:class:`~jade_env.errors.RetrievalError`, for replays that must be exact. The database runs in WAL
mode with a busy timeout, so two processes can share one file.

Rows are validated on read, so a damaged file never gives a silently wrong hit: each row carries a
checksum (SHA-256 of its key and its hits), and its hits must be a list of at most ``k`` entries
``[id, title, text, finite score, rank]`` ranked 0, 1, 2 ... A row that fails is recomputed and
rewritten when there is an inner retriever (``repaired`` counts them, and a ``RuntimeWarning`` says
so once), and raises a RetrievalError naming the file and the query under ``replay_only``. A file
that is not an SQLite database, or whose pages are damaged, raises one RetrievalError naming it.
Rows written before checksums existed (a NULL checksum) cannot be verified: they are treated as
damaged, so one run with the retriever rewrites them with checksums.

A ``CachedRetriever`` pickles as its construction arguments (the inner retriever pickles as its own),
and the copy opens its own connection to the same file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from jade_env.errors import RetrievalError
from jade_env.retrieval.base import Hit, Retriever, check_search

#: how long opening a cache waits for other processes opening or writing it
OPEN_TIMEOUT_S = 30.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS retrievals (
    retriever_id TEXT NOT NULL,
    corpus_hash  TEXT NOT NULL,
    query        TEXT NOT NULL,
    k            INTEGER NOT NULL,
    hits         TEXT NOT NULL,
    checksum     TEXT,
    PRIMARY KEY (retriever_id, corpus_hash, query, k)
)
"""


class CorruptRow(ValueError):
    """A replay-cache row that does not hold what was written."""


def row_checksum(retriever_id: str, corpus_hash: str, query: str, k: int, hits: str) -> str:
    """The checksum stored with a row: 32 hex digits of SHA-256 over its key and its hits JSON."""
    key = json.dumps([retriever_id, corpus_hash, query, k, hits], ensure_ascii=False)
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def storable(text: str) -> str:
    """``text`` as SQLite can store it: unchanged, or, when it holds a lone surrogate (not UTF-8), JSON-escaped
    behind U+FFFE, a noncharacter no real query starts with, so that two such queries never share a key."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "\ufffe" + json.dumps(text)


def decode_hits(hits: str, k: int) -> list[Hit]:
    """The hits of a row, or CorruptRow saying what is wrong with them."""
    try:
        rows = json.loads(hits)
    except (ValueError, RecursionError) as err:
        raise CorruptRow(f"hits are not JSON ({err})") from None
    if not isinstance(rows, list) or len(rows) > k:
        raise CorruptRow(f"expected a list of at most {k} hits")
    out = []
    for rank, h in enumerate(rows):
        if not (isinstance(h, list) and len(h) == 5 and all(isinstance(x, str) for x in h[:3])
                and isinstance(h[3], int | float) and not isinstance(h[3], bool) and math.isfinite(h[3])
                and h[4] == rank and isinstance(h[4], int) and not isinstance(h[4], bool)):
            raise CorruptRow(f"hit {rank} is not [id, title, text, finite score, rank {rank}]")
        out.append(Hit(h[0], h[1], h[2], float(h[3]), rank))
    return out


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
        self.hits = self.misses = self.repaired = 0
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + OPEN_TIMEOUT_S
        while True:
            try:
                self._db = self._open()
                break
            except sqlite3.OperationalError as err:
                # processes creating the same new file race for the switch to WAL, for which SQLite returns
                # "database is locked" at once instead of waiting on its busy timeout: try again until the deadline
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise self._unusable(err) from None
                time.sleep(0.05)
            except sqlite3.DatabaseError as err:
                raise self._unusable(err) from None
        if inner is None and not (retriever_id and corpus_hash):
            self._recorded_keys()

    def _recorded_keys(self) -> None:
        """Replay with no retriever and no keys given: the one (retriever_id, corpus_hash) the file holds (rows looked up under
        empty keys would all be misses); RetrievalError when it holds none or several."""
        pairs = self._db.execute("SELECT DISTINCT retriever_id, corpus_hash FROM retrievals").fetchall()
        pairs = [p for p in pairs if (not self.retriever_id or p[0] == self.retriever_id) and (not self.corpus_hash or p[1] == self.corpus_hash)]
        if len(pairs) != 1:
            self._db.close()
            found = "no recorded retrieval" if not pairs else "retrievals of several retrievers or corpora: " + "; ".join(
                f"retriever_id={r!r}, corpus_hash={c!r}" for r, c in pairs[:5])
            raise RetrievalError(f"{self.path}: replay_only without a retriever needs the keys the rows were recorded under, and "
                                 f"the file holds {found}; pass retriever_id= and corpus_hash=")
        self.retriever_id, self.corpus_hash = pairs[0]

    def _open(self) -> sqlite3.Connection:
        # the connection's timeout is SQLite's busy timeout, for every statement on it
        db = sqlite3.connect(self.path, timeout=OPEN_TIMEOUT_S, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # one process at a time creates or upgrades the table (the workers of a vector env open it together: two
            # that both saw the old schema would both add the column, and the second would fail)
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(SCHEMA)
                columns = {row[1] for row in db.execute("PRAGMA table_info(retrievals)")}
                if "checksum" not in columns:  # a cache written before rows had checksums
                    db.execute("ALTER TABLE retrievals ADD COLUMN checksum TEXT")
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _unusable(self, err: Exception) -> RetrievalError:
        return RetrievalError(f"{self.path}: not a usable replay-cache database ({err}); delete it to start a new cache")

    def __reduce__(self):
        return (CachedRetriever, (self.inner, self.path, self.replay_only, self.retriever_id, self.corpus_hash))

    def _lookup(self, queries: Sequence[str], k: int) -> dict[str, list[Hit]]:
        found: dict[str, list[Hit]] = {}
        keys = {storable(q): q for q in dict.fromkeys(queries)}
        unique = list(keys)
        for start in range(0, len(unique), 500):
            chunk = unique[start: start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT query, hits, checksum FROM retrievals WHERE retriever_id=? AND corpus_hash=? AND k=? AND query IN ({marks})",
                (self.retriever_id, self.corpus_hash, k, *chunk),
            ).fetchall()
            for query, hits, checksum in rows:
                try:
                    if not isinstance(query, str) or not isinstance(hits, str):
                        raise CorruptRow("a column has the wrong type")
                    if checksum is None:
                        raise CorruptRow("it was written before rows had checksums, so it cannot be verified")
                    if checksum != row_checksum(self.retriever_id, self.corpus_hash, query, k, hits):
                        raise CorruptRow("its checksum does not match its contents")
                    if query in keys:
                        found[keys[query]] = decode_hits(hits, k)
                except CorruptRow as err:
                    if self.replay_only or self.inner is None:
                        raise RetrievalError(f"{self.path}: the recorded retrieval for query {str(query)[:80]!r} (k={k}) is "
                                             f"damaged: {err}; run once with the retriever (not replay_only) to recompute "
                                             "and rewrite it, or delete the file") from None
                    if not self.repaired:
                        warnings.warn(f"{self.path}: a damaged row ({err}) is recomputed and rewritten", RuntimeWarning, stacklevel=4)
                    self.repaired += 1
        return found

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        k = check_search(queries, k)
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
                rows = []
                for q, hits in zip(missing, fresh, strict=True):
                    data = json.dumps([[h.id, h.title, h.text, h.score, h.rank] for h in hits], ensure_ascii=False)
                    if storable(data) is not data:
                        data = json.dumps([[h.id, h.title, h.text, h.score, h.rank] for h in hits])  # \\u escapes
                    q = storable(q)
                    rows.append((self.retriever_id, self.corpus_hash, q, k, data,
                                 row_checksum(self.retriever_id, self.corpus_hash, q, k, data)))
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    # REPLACE: a damaged row found above is overwritten; a row another process wrote meanwhile is the same
                    self._db.executemany("INSERT OR REPLACE INTO retrievals (retriever_id, corpus_hash, query, k, hits, checksum) "
                                         "VALUES (?, ?, ?, ?, ?, ?)", rows)
                    self._db.execute("COMMIT")
                except sqlite3.DatabaseError as err:
                    self._db.execute("ROLLBACK") if self._db.in_transaction else None
                    raise RetrievalError(f"{self.path}: cannot write to the replay cache ({err})") from None
                found.update(zip(missing, fresh, strict=True))
        return [found[q] for q in queries]

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}  # the schema of info["cache"]; `repaired` is an attribute

    def close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error:
            pass
        if self.inner is not None:
            self.inner.close()
