"""Existing FAISS indexes in Search-R1's layout over a JSONL read by byte offsets, in process and served on loopback."""

from __future__ import annotations

import copy
import json
import pickle
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import jade_env  # noqa: F401
from jade_env.data.corpora import ExternalCorpus
from jade_env.errors import DataFormatError, RetrievalError
from jade_env.retrieval.jsonl_passages import JsonlPassages, titles_quoted

faiss = pytest.importorskip("faiss", reason="the dense extra is not installed")
pytest.importorskip("transformers", reason="the dense extra is not installed")
N_PASSAGES = 160


@pytest.fixture(scope="module")
def wiki_jsonl(shared_data: Path, tmp_path_factory) -> Path:
    """Real Wikipedia paragraphs written as Search-R1's wiki-18.jsonl: {"id": "i", "contents": "\\"Title\\"\\ntext"}, blank lines too."""
    corpus = json.loads((shared_data / "hotpotqa" / "hotpotqa_train_corpus.json").read_text())
    path = tmp_path_factory.mktemp("wiki") / "wiki-18.jsonl"
    with path.open("w") as f:
        for i, (title, sentences) in enumerate(list(corpus.items())[:N_PASSAGES]):
            f.write(json.dumps({"id": str(i), "contents": f'"{title}"\n{"".join(sentences)}'}) + "\n")
            if i == 10:
                f.write("\n   \n")  # blank lines are not records (datasets skips them too)
    return path


@pytest.fixture(scope="module")
def encoder():
    from jade_env.retrieval.text_encoder import TextEncoder

    return TextEncoder()


@pytest.fixture(scope="module")
def flat_index(wiki_jsonl: Path, encoder, tmp_path_factory) -> Path:
    from jade_env.retrieval.faiss_index import build_index

    return build_index(wiki_jsonl, tmp_path_factory.mktemp("index"), encoder=encoder, faiss_type="Flat", method="e5")


def test_jsonl_passages_by_offset(wiki_jsonl: Path, tmp_path: Path) -> None:
    passages = JsonlPassages(wiki_jsonl, cache_dir=tmp_path)
    assert len(passages) == N_PASSAGES and passages.hash == ExternalCorpus(wiki_jsonl).hash
    assert passages[11].id == "11" and not passages[0].title.startswith('"') and titles_quoted(wiki_jsonl)
    assert [p.id for p in passages] == [str(i) for i in range(N_PASSAGES)]
    again = JsonlPassages(wiki_jsonl, cache_dir=tmp_path)  # the offsets are reused, memory-mapped
    assert isinstance(again.offsets, np.memmap) and again.hash == passages.hash
    np.save(again.offsets_path, np.arange(N_PASSAGES, dtype=np.int64)[::-1].copy())  # damaged offsets: found again
    with pytest.warns(RuntimeWarning, match="not increasing"):
        rebuilt = JsonlPassages(wiki_jsonl, cache_dir=tmp_path)
    assert rebuilt[5].id == "5" and rebuilt.hash == ExternalCorpus(wiki_jsonl).hash
    with pytest.raises(IndexError):
        rebuilt.raw(N_PASSAGES)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "0", "contents": "ok\\ntext"}\n{"id": 1, "contents": 5}\n')
    with pytest.raises(DataFormatError, match=r"bad.jsonl: record 1 \(byte 36\)"):
        JsonlPassages(bad, cache_dir=tmp_path)


def test_encoder_matches_sentence_transformers(encoder) -> None:
    from sentence_transformers import SentenceTransformer

    from jade_env.retrieval.text_encoder import default_prefixes, shipped_model_path

    texts = ["A man is eating food.", "who directed the film demon dice", '"Demon Dice"\nDemon Dice is a collectible dice game.']
    ours = encoder.encode(texts)
    theirs = SentenceTransformer(str(shipped_model_path()), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.allclose(ours, theirs, atol=1e-5)
    assert default_prefixes("intfloat/e5-base-v2") == ("query: ", "passage: ") and default_prefixes("all-MiniLM-L6-v2") == ("", "")


@pytest.mark.parametrize("faiss_type", ["Flat", "IVF4,Flat", "HNSW16", "PQ16x4"])
def test_existing_indexes_of_every_kind(flat_index: Path, wiki_jsonl: Path, encoder, tmp_path: Path, faiss_type: str) -> None:
    from jade_env.retrieval.faiss_index import FaissIndexRetriever

    flat = faiss.read_index(str(flat_index))
    vectors = flat.reconstruct_n(0, flat.ntotal)
    path = flat_index if faiss_type == "Flat" else tmp_path / f"e5_{faiss_type.replace(',', '_')}.index"
    if faiss_type != "Flat":  # built by faiss as Search-R1's builder does, from the same vectors
        index = faiss.index_factory(vectors.shape[1], faiss_type, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.add(vectors)
        faiss.write_index(index, str(path))
    retriever = FaissIndexRetriever(path, wiki_jsonl, encoder=encoder, nprobe=4 if faiss_type.startswith("IVF") else None,
                                    ef_search=64 if faiss_type.startswith("HNSW") else None, cache_dir=tmp_path)
    passages = JsonlPassages(wiki_jsonl, cache_dir=tmp_path)
    # a passage's own contents find it first (PQ is lossy: among the first 5)
    queries = [f'"{passages[i].title}"\n{passages[i].text}' for i in (0, 42, 99)]
    hits = retriever.search(queries + ["", "   "], 5)
    for want, got in zip(("0", "42", "99"), hits, strict=False):
        assert want in [h.id for h in got] if faiss_type.startswith("PQ") else got[0].id == want
        assert [h.rank for h in got] == list(range(5)) and got[0].score >= got[-1].score
    assert hits[3] == [] and hits[4] == []
    assert retriever.corpus_hash == ExternalCorpus(wiki_jsonl).hash and retriever.retriever_id.startswith("faiss:")


def test_index_and_corpus_must_match(flat_index: Path, wiki_jsonl: Path, encoder, tmp_path: Path) -> None:
    from jade_env.retrieval.faiss_index import FaissIndexRetriever

    short = tmp_path / "short.jsonl"
    short.write_text("".join(wiki_jsonl.read_text().splitlines(keepends=True)[:50]))
    with pytest.raises(RetrievalError, match="holds 160 vectors but .*short.jsonl has 48 records"):
        FaissIndexRetriever(flat_index, short, encoder=encoder, cache_dir=tmp_path)
    other = tmp_path / "d8.index"
    faiss.write_index(faiss.IndexFlatIP(8), str(other))
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"id": "0", "contents": "x"}\n')
    idx = faiss.IndexFlatIP(8)
    idx.add(np.ones((1, 8), np.float32))
    faiss.write_index(idx, str(other))
    with pytest.raises(RetrievalError, match="8-dimensional vectors but the encoder"):
        FaissIndexRetriever(other, empty, encoder=encoder, cache_dir=tmp_path)
    broken = tmp_path / "broken.index"
    broken.write_bytes(flat_index.read_bytes()[:1000])
    with pytest.raises(RetrievalError, match="broken.index: not a readable FAISS index"):
        FaissIndexRetriever(broken, wiki_jsonl, encoder=encoder, cache_dir=tmp_path)


def test_retrievers_pickle_as_their_arguments(flat_index: Path, wiki_jsonl: Path, encoder, tmp_path: Path, shared_data: Path) -> None:
    from jade_env.data import load_corpus
    from jade_env.retrieval.cache import CachedRetriever
    from jade_env.retrieval.dense import DenseRetriever
    from jade_env.retrieval.faiss_index import FaissIndexRetriever

    retriever = FaissIndexRetriever(flat_index, wiki_jsonl, encoder=encoder, cache_dir=tmp_path)
    data = pickle.dumps(retriever)
    assert len(data) < 5000  # arguments, not vectors
    query = ["collectible dice game"]
    want = retriever.search(query, 3)[0]
    for clone in (pickle.loads(data), copy.deepcopy(retriever)):
        got = clone.search(query, 3)[0]
        assert [h.id for h in got] == [h.id for h in want] and [h.score for h in got] == pytest.approx([h.score for h in want])
    cached = CachedRetriever(retriever, tmp_path / "replay.sqlite")
    clone = pickle.loads(pickle.dumps(cached))
    assert clone.path == cached.path and clone.search(query, 3) == cached.search(query, 3)
    small = load_corpus(shared_data / "hotpotqa" / "hotpotqa_train_corpus.json")
    dense = DenseRetriever(type(small)(list(small)[:20], name="twenty"), cache_dir=False)
    clone = copy.deepcopy(dense)  # an index kept in memory only travels serialised: no encoding again
    assert [h.id for h in clone.search(["dice"], 3)[0]] == [h.id for h in dense.search(["dice"], 3)[0]]


def test_served_search_r1_index_behind_a_jadeRAG_env(flat_index: Path, wiki_jsonl: Path, shared_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the server extra is not installed")
    from jade_env.retrieval.server_process import ServerProcess

    with ServerProcess(["--retriever", "dense", "--index", flat_index, "--corpus", wiki_jsonl, "--cache-dir", tmp_path]) as server:
        import urllib.request

        body = json.dumps({"queries": ["collectible dice game"], "topk": 2}).encode()
        request = urllib.request.Request(server.url + "/retrieve", data=body, headers={"Content-Type": "application/json"})
        doc = json.loads(urllib.request.urlopen(request, timeout=30).read())["result"][0][0]
        assert doc["contents"].startswith('"') and not doc["title"].startswith('"')  # quoted as wiki-18.jsonl quotes it, once
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            env = gym.make("JadeRAG-NQ-v0", data_path=str(shared_data / "nq" / "NQ-open.dev.jsonl"), retriever=f"remote:{server.url}")
        obs, info = env.reset(seed=0, options={"index": 0})
        assert env.unwrapped.retrievers.corpus_hash == ExternalCorpus(wiki_jsonl).hash
        obs, reward, terminated, truncated, info = env.step("<workflow>R,AG</workflow>")
        retrieved = json.loads(info["retrieved_ids"])  # R ran right after the planner's step
        assert len(retrieved) == env.unwrapped.config.top_k and all(i.isdigit() and int(i) < N_PASSAGES for i in retrieved)
        for _ in range(5):
            if terminated or truncated:
                break
            obs, reward, terminated, truncated, info = env.step("<answer>1972</answer>")
        assert terminated or truncated
        assert info["counters"]["retrieval_calls"] == 1
        env.close()
