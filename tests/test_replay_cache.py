"""The SQLite replay cache validates its rows: a damaged row is recomputed or refused, never a silent wrong hit."""

from __future__ import annotations

import copy
import pickle
import sqlite3
from pathlib import Path

import pytest

from jade_env.data.synthetic import synthetic_corpus
from jade_env.errors import RetrievalError
from jade_env.retrieval.bm25 import BM25Retriever
from jade_env.retrieval.cache import CachedRetriever

QUERIES = ["capital city river", "founded by the inventor", "zzz unknown words", "caf\u00e9 \ud800 lone surrogate"]


@pytest.fixture(scope="module")
def bm25() -> BM25Retriever:
    return BM25Retriever(synthetic_corpus(n=300, seed=0), cache_dir=False)


def recorded(bm25: BM25Retriever, path: Path) -> list:
    with CachedRetriever(bm25, path) as cache:
        return cache.search(QUERIES, 5)


def test_replay_equals_fresh_and_survives_pickling(bm25: BM25Retriever, tmp_path: Path) -> None:
    path = tmp_path / "replay.sqlite"
    fresh = recorded(bm25, path)
    replay = CachedRetriever(None, path, replay_only=True, retriever_id=bm25.retriever_id, corpus_hash=bm25.corpus_hash)
    assert replay.search(QUERIES, 5) == fresh and replay.stats() == {"hits": 4, "misses": 0}
    for clone in (pickle.loads(pickle.dumps(replay)), copy.deepcopy(replay)):
        assert clone.search(QUERIES, 5) == fresh and clone._db is not replay._db


def test_replay_without_a_retriever_or_keys_uses_the_one_pair_recorded(bm25: BM25Retriever, tmp_path: Path) -> None:
    """Rows were looked up under empty keys: every query a miss though recorded. With one (retriever, corpus) in the file
    it is the one replayed; with none or several, one error asks for the keys."""
    path = tmp_path / "replay.sqlite"
    empty = tmp_path / "empty.sqlite"
    with pytest.raises(RetrievalError, match="the file holds no recorded retrieval; pass retriever_id= and corpus_hash="):
        CachedRetriever(None, empty, replay_only=True)
    fresh = recorded(bm25, path)
    replay = CachedRetriever(None, path, replay_only=True)
    assert (replay.retriever_id, replay.corpus_hash) == (bm25.retriever_id, bm25.corpus_hash)
    assert replay.search(QUERIES, 5) == fresh
    replay.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO retrievals SELECT 'other', corpus_hash, query, k, hits, checksum FROM retrievals")
    with pytest.raises(RetrievalError, match="several retrievers or corpora: retriever_id="):
        CachedRetriever(None, path, replay_only=True)
    assert CachedRetriever(None, path, replay_only=True, retriever_id=bm25.retriever_id).search(QUERIES, 5) == fresh


@pytest.mark.parametrize("damage", [
    "UPDATE retrievals SET hits = replace(hits, '\"syn', '\"xyz')",             # edited text: checksum
    "UPDATE retrievals SET hits = '[[\"a\", \"b\", \"c\", 1.0, 3]]', checksum = NULL",  # wrong rank, no checksum
    "UPDATE retrievals SET hits = '[[\"a\", \"b\", \"c\", NaN, 0]]', checksum = NULL",  # NaN score
    "UPDATE retrievals SET hits = 'not json', checksum = NULL",
    "UPDATE retrievals SET hits = x'00ff'",                                      # a blob where text belongs
])
def test_a_damaged_row_is_recomputed_or_refused(bm25: BM25Retriever, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "replay.sqlite"
    fresh = recorded(bm25, path)
    with sqlite3.connect(path) as db:
        db.execute(damage + " WHERE query = ?", (QUERIES[0],))
    with pytest.raises(RetrievalError, match=r"replay.sqlite: the recorded retrieval for query 'capital city river' .* is damaged"):
        CachedRetriever(None, path, replay_only=True, retriever_id=bm25.retriever_id, corpus_hash=bm25.corpus_hash).search(QUERIES, 5)
    cache = CachedRetriever(bm25, path)
    with pytest.warns(RuntimeWarning, match="recomputed and rewritten"):
        assert cache.search(QUERIES, 5) == fresh
    assert cache.repaired == 1
    assert CachedRetriever(bm25, path).search(QUERIES, 5) == fresh  # rewritten: a clean hit now


def test_a_corrupt_database_is_one_clear_error(bm25: BM25Retriever, tmp_path: Path) -> None:
    path = tmp_path / "replay.sqlite"
    recorded(bm25, path)
    data = bytearray(path.read_bytes())
    data[:16] = b"garbage garbage!"
    path.write_bytes(bytes(data))
    with pytest.raises(RetrievalError, match="replay.sqlite: not a usable replay-cache database"):
        CachedRetriever(bm25, path).search(QUERIES, 5)


def test_a_cache_written_before_checksums_is_upgraded_not_trusted(bm25: BM25Retriever, tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    fresh = recorded(bm25, path)
    with sqlite3.connect(path) as db:  # the schema of the previous version: no checksum column
        db.execute("CREATE TABLE old (retriever_id TEXT NOT NULL, corpus_hash TEXT NOT NULL, query TEXT NOT NULL, k INTEGER NOT NULL, "
                   "hits TEXT NOT NULL, PRIMARY KEY (retriever_id, corpus_hash, query, k))")
        db.execute("INSERT INTO old SELECT retriever_id, corpus_hash, query, k, hits FROM retrievals")
        db.execute("DROP TABLE retrievals")
        db.execute("ALTER TABLE old RENAME TO retrievals")
        db.execute("UPDATE retrievals SET hits = '[]' WHERE query = ?", (QUERIES[0],))  # undetectable without a checksum
    def replay() -> CachedRetriever:
        return CachedRetriever(None, path, replay_only=True, retriever_id=bm25.retriever_id, corpus_hash=bm25.corpus_hash)

    with pytest.raises(RetrievalError, match="written before rows had checksums"):
        replay().search(QUERIES, 5)
    with pytest.warns(RuntimeWarning):
        assert CachedRetriever(bm25, path).search(QUERIES, 5) == fresh  # recomputed and rewritten with checksums
    assert replay().search(QUERIES, 5) == fresh


def _open_at_once(path: str, barrier, results) -> None:
    barrier.wait()
    try:
        CachedRetriever(None, path, replay_only=True, retriever_id="r", corpus_hash="c").close()
        results.put("ok")
    except Exception as err:  # what the test reports
        results.put(f"{type(err).__name__}: {err}")


def test_processes_opening_a_cache_written_before_checksums_at_once_all_open_it(tmp_path: Path) -> None:
    """The vector env's workers start together: each may find the old schema, and exactly one upgrades it."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for attempt in range(5):
        path = tmp_path / f"old-{attempt}.sqlite"
        with sqlite3.connect(path) as db:  # the schema of the previous version: no checksum column
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE retrievals (retriever_id TEXT NOT NULL, corpus_hash TEXT NOT NULL, query TEXT NOT NULL, "
                       "k INTEGER NOT NULL, hits TEXT NOT NULL, PRIMARY KEY (retriever_id, corpus_hash, query, k))")
        barrier, results = ctx.Barrier(6), ctx.Queue()
        workers = [ctx.Process(target=_open_at_once, args=(str(path), barrier, results)) for _ in range(6)]
        for w in workers:
            w.start()
        outcomes = [results.get(timeout=60) for _ in workers]
        for w in workers:
            w.join(timeout=60)
        assert outcomes == ["ok"] * 6, outcomes
        with sqlite3.connect(path) as db:
            assert "checksum" in {row[1] for row in db.execute("PRAGMA table_info(retrievals)")}
