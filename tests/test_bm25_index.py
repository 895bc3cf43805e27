"""The BM25 index format: block-max search equals exhaustive scoring, corrupted files give one clear error or
a rebuild (never a crash or a silent ranking change), pickling reopens the index."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from jade_env.data import Corpus, Passage, load_corpus
from jade_env.errors import JadeError, RetrievalError
from jade_env.retrieval import bm25 as module
from jade_env.retrieval.bm25 import BM25Retriever

QUERIES = ["Demon Dice collectible game", "American film director born", "river in Germany", "the first president", "football club"]


def zipf_corpus(n: int, seed: int = 0) -> Corpus:
    """Passages of 20-60 words drawn from a Zipfian vocabulary: long posting lists, many near-ties."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(3000)])
    p = 1.0 / np.arange(1, 3001) ** 1.1
    p /= p.sum()
    return Corpus([Passage(f"z{i}", f"t{i % 7}", " ".join(rng.choice(words, size=int(rng.integers(20, 60)), p=p)))
                   for i in range(n)], name=f"zipf-{n}")


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> Corpus:
    return load_corpus(shared_data / "hotpotqa" / "hotpotqa_train_corpus.json")


def test_block_max_search_equals_exhaustive_scoring() -> None:
    if module._kernel is None:
        pytest.skip("the C kernel was not compiled in this install")
    r = BM25Retriever(zipf_corpus(6000), cache_dir=False)
    rng = np.random.default_rng(1)
    queries = [" ".join(f"w{int(i)}" for i in rng.zipf(1.3, size=int(rng.integers(1, 8))) if i < 3000) for _ in range(400)]
    queries += ["w0 w1 w2 w3", "w0", "w1 w1 w1 w2", "w2999 w0", "t3 w5"]
    for q in queries:
        tids, weights = r.query_terms(q)
        for k in (1, 10, 100):
            fast, slow = r.top_docs(q, k), (r.exhaustive(tids, weights, k) if len(tids) else (np.empty(0), np.empty(0)))
            assert np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1]), (q, k)
    everything = r.top_docs("w0", 10**6)
    assert len(everything[0]) == int(r.term_df[r.vocab["w0"]]) and np.all(np.diff(everything[1]) <= 0)


def test_long_posting_lists_score_exactly_from_the_kernel_tables() -> None:
    """Terms in 16,384+ passages are scored from per-query tables (tf 1..16 at each norm) and decoded eight one-byte
    values at a time: the same top-k and the same float scores as exhaustive scoring, tf above the table included."""
    if module._kernel is None:
        pytest.skip("the C kernel was not compiled in this install")
    rng = np.random.default_rng(2)
    words = np.array([f"w{i}" for i in range(400)])
    p = 1.0 / np.arange(1, 401) ** 0.8
    p /= p.sum()
    common = np.where(rng.random((20000, 2)) < (0.9, 0.85), ("w0", "w1"), "")  # w0 and w1 in most passages
    passages = [Passage(f"z{i}", "", " ".join([*rng.choice(words, size=int(rng.integers(4, 14)), p=p), *common[i]]))
                for i in range(20000)]
    passages += [Passage(f"long{j}", "", " ".join(["w0"] * (12 + 3 * j) + ["w1"] * j)) for j in range(8)]  # tf 12 .. 33
    r = BM25Retriever(Corpus(passages, name="long-lists"), cache_dir=False)
    assert int(r.term_df[r.vocab["w0"]]) >= 16384 and int(r.term_df[r.vocab["w1"]]) >= 16384
    queries = ["w0", "w0 w1", "w0 w1 w2 w3", "w1 w1 w0", "w0 w399", "w5 w17 w0 w1 w250"]
    queries += [" ".join(f"w{int(i)}" for i in rng.integers(0, 400, size=int(rng.integers(1, 6)))) + " w0" for _ in range(60)]
    for q in queries:
        tids, weights = r.query_terms(q)
        for k in (1, 10, 100):
            fast, slow = r.top_docs(q, k), r.exhaustive(tids, weights, k)
            assert np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1]), (q, k)
    top = [h.id for h in r.search(["w0"], 3)[0]]
    assert all(pid.startswith("long") for pid in top)  # the passages with tf above the table's 16 rank first


def test_ties_are_broken_by_passage_id_string() -> None:
    same = [Passage(pid, "", "alpha beta") for pid in ("d9", "d10", "d1", "d2")]
    r = BM25Retriever(Corpus(same, name="ties"), cache_dir=False)
    assert [h.id for h in r.search(["alpha"], 4)[0]] == ["d1", "d10", "d2", "d9"]


def test_streamed_two_process_build_equals_in_process(monkeypatch, tmp_path: Path) -> None:
    c = zipf_corpus(5000, seed=3)
    single = BM25Retriever(c, cache_dir=False)
    monkeypatch.setattr(module, "CHUNK", 700)
    monkeypatch.setattr(module, "PARALLEL_FROM", 1000)  # worker processes, several chunks and merge batches
    monkeypatch.setattr(module, "MERGE_POSTINGS", 20_000)
    streamed = BM25Retriever(c, cache_dir=tmp_path)
    qs = [f"w{i} w{i + 7} w{3 * i}" for i in range(60)]
    assert streamed.search(qs, 10) == single.search(qs, 10)
    assert streamed.compressed and not single.compressed


def test_pickle_and_deepcopy_reopen_the_index(corpus: Corpus, tmp_path: Path) -> None:
    r = BM25Retriever(corpus, cache_dir=tmp_path)
    blob = pickle.dumps(r)
    assert len(blob) < 2000  # the folder, not the arrays
    for other in (pickle.loads(blob), copy.deepcopy(r)):
        assert other.index_dir == r.index_dir and other.search(QUERIES, 5) == r.search(QUERIES, 5)
    small = BM25Retriever(Corpus(list(corpus)[:40], name="small"), cache_dir=False)
    again = pickle.loads(pickle.dumps(small))
    assert again.index_dir is None and again.search(QUERIES, 5) == small.search(QUERIES, 5)


def test_kept_passages_and_queries_change_no_result_stay_bounded_and_survive_a_pickle(corpus: Corpus, tmp_path: Path) -> None:
    """Decoded passages and analysed queries are kept for the searches that meet them again (``passage_cache``,
    ``query_cache``): the hits are equal to those of a retriever that keeps none, the first time and from what was kept,
    one at a time and batched over threads, and no more is kept than asked."""
    plain = BM25Retriever(corpus, cache_dir=tmp_path, passage_cache=0, query_cache=0)
    kept = BM25Retriever(index_dir=plain.index_dir, passage_cache=7, query_cache=3, n_threads=2)
    queries = [*QUERIES, "Scott Derrickson", "Ed Wood director", "science fantasy", *QUERIES]
    expected = plain.search(queries, 5)
    for _ in range(2):
        assert [kept.search([q], 5)[0] for q in queries] == expected
        assert kept.search(queries * 2, 5) == expected * 2  # batched: several threads share what is kept
        assert 0 < len(kept._passages) <= 7 and 0 < len(kept._queries) <= 3 and not plain._passages and not plain._queries
    again = pickle.loads(pickle.dumps(kept))
    assert (again.passage_cache, again.query_cache) == (7, 3)
    for name in ("passage_cache", "query_cache"):
        for bad in (-1, 1.5, True, "8"):
            with pytest.raises(RetrievalError, match=f"{name} must be an integer >= 0"):
                BM25Retriever(index_dir=plain.index_dir, **{name: bad})


# ----------------------------------------------------------------------------- corrupted indexes (issue 15)
def corrupt_npy(folder: Path, name: str, edit) -> None:
    arr = np.load(folder / f"{name}.npy", mmap_mode="r+")
    edit(arr)
    arr.flush()
    del arr


def flip_bytes(path: Path, n: int, start: int = 128) -> None:
    data = bytearray(path.read_bytes())
    for i in range(n):
        data[start + i * 7] ^= 0xFF
    path.write_bytes(bytes(data))


def xor_byte(path: Path, at: int, mask: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= mask
    path.write_bytes(bytes(data))


def refresh_checksums(folder: Path) -> None:
    """What an attacker (or a buggy tool) that rewrites the manifest would do: only the structural checks remain."""
    m = json.loads((folder / "manifest.json").read_text())
    for name, meta in m["files"].items():
        data = (folder / name).read_bytes()
        meta.update(bytes=len(data), crc32=zlib.crc32(data))
    (folder / "manifest.json").write_text(json.dumps(m))


CASES = {
    "block_last entries set to 2**31-1": lambda f: corrupt_npy(f, "block_last", lambda a: a.__setitem__(slice(None, None, 50), 2**31 - 1)),
    "5 bytes flipped in block_off": lambda f: flip_bytes(f / "block_off.npy", 5),
    "NaN block maxima": lambda f: corrupt_npy(f, "block_max", lambda a: a.__setitem__(slice(None, None, 10), np.nan)),
    "bytes flipped in postings": lambda f: flip_bytes(f / "postings.bin", 40, start=10),
    "docs.bin edited": lambda f: flip_bytes(f / "docs.bin", 4, start=300),  # one flip may inflate to other text: only checksums see it
    "doc_rank entries out of range": lambda f: corrupt_npy(f, "doc_rank", lambda a: a.__setitem__(slice(None, None, 7), -5)),
    "term_blocks truncated": lambda f: np.save(f / "term_blocks.npy", np.load(f / "term_blocks.npy")[:-3]),
    # numpy's header parser raises tokenize.TokenError on this one, not a ValueError
    "a byte of a .npy header changed": lambda f: xor_byte(f / "term_blocks.npy", 10, 0x01),  # the "{" of its dict
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("checksums", ["kept", "rewritten"])
def test_corrupt_index_gives_a_clear_error_or_a_rebuild(corpus: Corpus, tmp_path: Path, case: str, checksums: str) -> None:
    small = Corpus(list(corpus)[:300], name="small")
    good = BM25Retriever(small, cache_dir=tmp_path)
    expected = good.search(QUERIES, 10)
    folder = good.index_dir
    del good
    CASES[case](folder)
    if checksums == "rewritten":
        refresh_checksums(folder)
    try:
        opened = BM25Retriever(index_dir=folder)
    except RetrievalError as err:  # one JadeError naming the folder and how to rebuild
        assert isinstance(err, JadeError) and str(folder) in str(err) and "build it again" in str(err)
        if checksums == "kept":  # the checksums run beside the structural checks, and a failed one is what is reported
            assert "does not match its checksum" in str(err) or "the manifest says" in str(err), str(err)
    else:  # only a lie that keeps every structural invariant and the rewritten checksums passes the load
        assert (checksums, case) == ("rewritten", "docs.bin edited")
        with pytest.raises(RetrievalError, match="docs.bin does not decode.*build it again"):  # the passage read says so
            for q in QUERIES:
                opened.search([q], 300)
        return
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        rebuilt = BM25Retriever(small, cache_dir=tmp_path)  # the cache rebuilds itself
    assert rebuilt.search(QUERIES, 10) == expected


def test_index_verify_names_a_damaged_file_and_passes_a_sound_one(tmp_path: Path) -> None:
    built = BM25Retriever(zipf_corpus(400), cache_dir=tmp_path)
    folder = built.index_dir
    built.close()
    command = [sys.executable, "-m", "jade_env.cli", "index", "verify", str(folder)]
    flip_bytes(folder / "docs.bin", 4, start=300)
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "docs.bin does not match its checksum" in out.stderr and "Traceback" not in out.stderr, out.stderr
    flip_bytes(folder / "docs.bin", 4, start=300)  # the same bytes again
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "every file matches its size and checksum" in out.stdout and "400 passages" in out.stdout, out


def test_a_rebuilt_cache_keeps_nothing_of_the_damaged_index(corpus: Corpus, tmp_path: Path) -> None:
    small = Corpus(list(corpus)[:300], name="small")
    good = BM25Retriever(small, cache_dir=tmp_path)
    folder, right_id = good.index_dir, good.retriever_id
    good.close()
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "retriever_id": "bm25-lucene:analyzer=OLD"}))
    flip_bytes(folder / "docs.bin", 4, start=300)
    with pytest.warns(RuntimeWarning, match="docs.bin does not match its checksum"):
        rebuilt = BM25Retriever(small, cache_dir=tmp_path)
    assert rebuilt.retriever_id == right_id  # not the damaged manifest's, in memory or on disk
    assert json.loads((rebuilt.index_dir / "manifest.json").read_text())["retriever_id"] == right_id


def test_manifest_problems_are_named(corpus: Corpus, tmp_path: Path) -> None:
    r = BM25Retriever(Corpus(list(corpus)[:50], name="tiny"), cache_dir=tmp_path)
    path = r.index_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    for key in ("n_docs", "avgdl", "files"):
        broken = {k: v for k, v in manifest.items() if k != key}
        path.write_text(json.dumps(broken))
        with pytest.raises(RetrievalError, match=f"manifest.json has no valid '{key}'"):
            BM25Retriever(index_dir=r.index_dir)
    path.write_text(json.dumps({**manifest, "n_docs": "many"}))
    with pytest.raises(RetrievalError, match="no valid 'n_docs'"):
        BM25Retriever(index_dir=r.index_dir)
    path.write_text("{not json")
    with pytest.raises(RetrievalError, match="unreadable"):
        BM25Retriever(index_dir=r.index_dir)


def test_kernel_rejects_inconsistent_arrays() -> None:
    if module._kernel is None:
        pytest.skip("the C kernel was not compiled in this install")
    r = BM25Retriever(zipf_corpus(500), cache_dir=False)
    args = [r.term_blocks, r.term_df, r.term_max, r.block_last, r.block_off, r.block_max, r.postings, r.norms]
    bad_last = r.block_last.copy()
    bad_last[3] = 2**31 - 1
    bad_off = r.block_off.copy()
    bad_off[5] = bad_off[6] + 1000
    for i, bad in ((3, bad_last), (4, bad_off), (1, r.term_df * 3)):
        with pytest.raises(ValueError):
            module._kernel.open(*[bad if j == i else a for j, a in enumerate(args)])
    with pytest.raises(ValueError, match="term id out of range"):
        module._kernel.search(r._index, np.array([10**9]), np.ones(1, np.float32), r.norm_inverse, r.doc_rank, 5,
                              np.empty(5, np.int64), np.empty(5, np.float32))


def test_a_passage_longer_than_a_stored_record_may_be_is_refused_at_build(tmp_path: Path) -> None:
    """Over MAX_RECORD_BYTES the decoders take a record for a damaged stream: such a passage is refused when the index is
    built, naming it (it used to build, pass ``index verify``, and be reported corrupt on the first search)."""
    huge = Passage("big", "Huge", "zebra " + "lorem ipsum dolor sit amet " * 2_600_000)  # about 70 MiB
    corpus = Corpus([huge, Passage("small", "Small", "zebra crossing")])
    with pytest.raises(RetrievalError, match="passage 'big' \\('Huge'\\) is 67 MiB of text; a stored passage is at most 64 MiB"):
        BM25Retriever(corpus, cache_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []  # nothing left half-built


KILLED_BUILD = """
import sys, time
sys.path.insert(0, {tests!r})
from jade_env.retrieval import bm25
from test_bm25_index import zipf_corpus

class Slow(type(zipf_corpus(10))):
    def __iter__(self):  # the build's pass (the hash reads the list itself), slow enough to be killed while its workers run
        for i, p in enumerate(super().__iter__()):
            if i and i % 700 == 0:
                time.sleep(0.5)
            yield p

if __name__ == "__main__":  # the workers are spawned: they import this file too
    bm25.CHUNK, bm25.PARALLEL_FROM = 700, 1000
    corpus = zipf_corpus(20_000, seed=5)
    bm25.BM25Retriever(Slow(list(corpus), name=corpus.name), cache_dir=sys.argv[1])
"""


def test_a_build_killed_outright_leaves_no_worker_running_and_its_work_folder_is_removed_by_the_next(tmp_path: Path) -> None:
    """SIGKILL gives the building process no chance to stop its worker processes: they die with it (Linux), and the next
    build of the same index in the same folder removes the dead build's work folder."""
    import os
    import signal
    import time

    script = tmp_path / "build.py"
    script.write_text(KILLED_BUILD.format(tests=str(Path(__file__).parent)))
    cache = tmp_path / "cache"
    build = subprocess.Popen([sys.executable, str(script), str(cache)])
    def proc(path: str) -> str:
        try:
            return Path(path).read_text(errors="replace")
        except OSError:  # the process ended
            return ""

    children: list[int] = []
    deadline = time.monotonic() + 180  # slow when the machine is loaded
    while len(children) < 2 and time.monotonic() < deadline:  # the pool's two workers
        time.sleep(0.2)
        tasks = Path(f"/proc/{build.pid}/task")
        children = [int(c) for t in (tasks.iterdir() if tasks.exists() else ()) for c in proc(f"{t}/children").split()]
        children = [c for c in children if "spawn_main" in proc(f"/proc/{c}/cmdline")]
    assert len(children) >= 2, "the build's workers did not start"
    time.sleep(1.0)
    build.send_signal(signal.SIGKILL)
    build.wait()
    deadline = time.monotonic() + 30  # a loaded machine takes a while to deliver and reap
    while True:
        alive = [c for c in children if proc(f"/proc/{c}/stat").split()[2:3] not in ([], ["Z"])]  # gone, or a zombie
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert alive == [], f"workers {alive} outlived the killed build"
    [left] = [p.name for p in cache.iterdir()]
    assert ".tmp-" in left and str(os.getpid()) not in left
    c = zipf_corpus(20_000, seed=5)
    BM25Retriever(c, cache_dir=cache)
    assert [p.name for p in cache.iterdir()] == [f"bm25-{c.hash[:24]}-k1=0.9-b=0.4-v3"]
