"""A Search-R1-layout dense index served and used by a JadeRAG env, and what such a server costs per million passages.

    python benchmarks/dense_index_memory.py            # both parts
    python benchmarks/dense_index_memory.py --sizes 50000,200000 --skip-env

Part 1 (real): the shared corpora (HotpotQA, 2Wiki, MuSiQue paragraphs) written as Search-R1's
``wiki-18.jsonl`` (``{"id", "contents": "\\"Title\\"\\ntext"}``), encoded with the shipped MiniLM into
``minilm_Flat.index`` by ``build_index`` (Search-R1's layout), served by ``jade-rag serve-retriever
--retriever dense --index``, and queried through ``gym.make("JadeRAG-NQ-v0", data_path=NQ-open.dev.jsonl,
retriever="remote:URL")`` by the reference ``fixed-graph`` agent.

Part 2 (scale): the memory a serving process takes, by index type and corpus size. Encoding a
million passages on two CPU cores would take 8 hours (36 passages/s), and a vector's bytes do not
depend on its values, so the indexes here hold random unit vectors of MiniLM's dimension (384) over
a JSONL of synthetic ~600-byte passages; the server is the real one, with the real encoder for its
queries. Reported: VmRSS, split into private memory (RssAnon) and mapped file pages (RssFile,
page cache the kernel can drop and replicas on one machine share), after start-up and after 200
queries; a least-squares line over the sizes gives bytes per million passages and the 21M figure.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"

from jade_env.retrieval.server_process import ServerProcess  # noqa: E402


def memory(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(line.split()[1]) * 1024
    return out


def shared_wiki_jsonl(out: Path, limit: int) -> int:
    """The shared corpora's paragraphs, de-duplicated by title, in Search-R1's JSONL layout."""
    seen: dict[str, str] = {}
    for name in ("hotpotqa/hotpotqa_train_corpus.json", "2wikimultihopqa/2wikimultihopqa_corpus.json", "musique/musique_train_corpus.json"):
        data = json.loads((SHARED / name).read_text())
        items = data.items() if isinstance(data, dict) else ((r["title"], r["text"]) for r in data)
        for title, sentences in items:
            seen.setdefault(title, " ".join(s.strip() for s in sentences) if isinstance(sentences, list) else str(sentences))
    with out.open("w") as f:
        for i, (title, text) in enumerate(list(seen.items())[:limit]):
            f.write(json.dumps({"id": str(i), "contents": f'"{title}"\n{text}'}) + "\n")
    return min(limit, len(seen))


def part_env(work: Path, limit: int) -> None:
    import gymnasium as gym

    import jade_env  # noqa: F401
    from baselines.agents import make_agent
    from jade_env.retrieval.faiss_index import build_index

    corpus = work / "wiki-18.jsonl"
    n = shared_wiki_jsonl(corpus, limit)
    started = time.monotonic()
    index = build_index(corpus, work / "index", method="minilm", faiss_type="Flat", batch_size=64)
    print(f"built {index.name} over {n} passages of the shared corpora in {time.monotonic() - started:.0f} s "
          f"({index.stat().st_size / 1e6:.1f} MB)", flush=True)
    with ServerProcess(["--retriever", "dense", "--index", index, "--corpus", corpus, "--cache-dir", work / "cache"],
                       log_path=work / "server.log") as server:
        env = gym.make("JadeRAG-NQ-v0", data_path=str(SHARED / "nq" / "NQ-open.dev.jsonl"), retriever=f"remote:{server.url}")
        agent = make_agent("fixed-graph")
        calls, f1, shown = 0, [], None
        started = time.monotonic()
        for i in range(20):
            obs, info = env.reset(seed=0, options={"index": i})
            while True:
                obs, reward, terminated, truncated, info = env.step(agent.act(obs["role"], obs))
                if info["retrieved_titles"] and shown is None:
                    shown = (env.unwrapped.examples[i].question, info["retrieved_titles"][:3])
                if terminated or truncated:
                    break
            calls += info["counters"]["retrieval_calls"]
            f1.append(info["metrics"]["f1"])
        mem = memory(server.proc.pid)
        print(f"JadeRAG-NQ-v0 over remote:{server.url}: 20 episodes, {calls} retrieval calls in {time.monotonic() - started:.1f} s; "
              f"server VmRSS {mem['VmRSS'] / 1e6:.0f} MB (anon {mem['RssAnon'] / 1e6:.0f}, file {mem['RssFile'] / 1e6:.0f}); "
              f"corpus hash seen by the env {env.unwrapped.retrievers.corpus_hash[:16]}")
        print(f"e.g. {shown[0]!r} -> {shown[1]}")
        env.close()


def synthetic_jsonl(path: Path, n: int) -> None:
    rng = random.Random(0)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(20000)]
    with path.open("w") as f:
        for i in range(n):
            title, text = " ".join(rng.choices(words, k=2)), " ".join(rng.choices(words, k=95))
            f.write(json.dumps({"id": str(i), "contents": f'"{title}"\n{text}'}) + "\n")


def part_scale(work: Path, sizes: list[int], kinds: list[str]) -> None:
    import faiss

    d = 384
    rows = []
    rng = np.random.default_rng(0)
    for n in sizes:
        corpus = work / f"synthetic-{n}.jsonl"
        synthetic_jsonl(corpus, n)
        vectors = rng.standard_normal((n, d), dtype=np.float32)
        faiss.normalize_L2(vectors)
        for kind in kinds:
            path = work / f"minilm_{kind.replace(',', '_')}-{n}.index"
            started = time.monotonic()
            index = faiss.index_factory(d, kind, faiss.METRIC_INNER_PRODUCT)
            if not index.is_trained:
                index.train(vectors[: min(n, 50_000)])
            index.add(vectors)
            faiss.write_index(index, str(path))
            del index
            built = time.monotonic() - started
            extra = ["--nprobe", "32"] if kind.startswith("IVF") else (["--ef-search", "64"] if kind.startswith("HNSW") else [])
            with ServerProcess(["--retriever", "dense", "--index", path, "--corpus", corpus, "--cache-dir", work / "cache", *extra],
                               log_path=work / "server.log", startup_timeout=600) as server:
                start_mem = memory(server.proc.pid)
                queries = [" ".join(random.Random(q).choices(string.ascii_lowercase, k=30)) for q in range(200)]
                started = time.monotonic()
                for q in range(0, 200, 8):
                    body = json.dumps({"queries": queries[q: q + 8], "topk": 10}).encode()
                    request = urllib.request.Request(server.url + "/retrieve", data=body, headers={"Content-Type": "application/json"})
                    urllib.request.urlopen(request, timeout=120).read()
                per_query = (time.monotonic() - started) / 200
                mem = memory(server.proc.pid)
            rows.append((kind, n, path.stat().st_size, start_mem, mem, built, per_query))
            print(f"{kind:<14} {n:>8,} passages: index {path.stat().st_size / 1e6:7.1f} MB (built {built:.0f} s); server VmRSS "
                  f"{start_mem['VmRSS'] / 1e6:6.0f} MB at start, {mem['VmRSS'] / 1e6:6.0f} MB after 200 queries "
                  f"(anon {mem['RssAnon'] / 1e6:.0f}, file {mem['RssFile'] / 1e6:.0f}); {per_query * 1000:.1f} ms/query", flush=True)
            path.unlink()
        corpus.unlink()
    print("\nper million passages (least squares over the sizes; d=384 MiniLM; E5-base vectors are d=768, twice the vector bytes):")
    for kind in kinds:
        points = [(n, mem["VmRSS"], mem["RssAnon"], size) for k, n, size, _, mem, _, _ in rows if k == kind]
        if len(points) < 2:
            continue
        ns = np.array([p[0] for p in points], float)
        for label, col in (("VmRSS", 1), ("private (anon)", 2), ("index file", 3)):
            slope, intercept = np.polyfit(ns, np.array([p[col] for p in points], float), 1)
            print(f"  {kind:<14} {label:<15} {slope * 1e6 / 1e6:8.0f} MB per million + {intercept / 1e6:5.0f} MB fixed; "
                  f"21M: {intercept / 1e9:.2f} + 21 x {slope * 1e6 / 1e9:.3f} = {(intercept + slope * 21e6) / 1e9:.1f} GB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50000,200000")
    parser.add_argument("--kinds", default="Flat,IVF1024,Flat,HNSW32")
    parser.add_argument("--skip-env", action="store_true")
    parser.add_argument("--env-passages", type=int, default=3000, help="passages of the shared corpora to encode (36/s)")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    kinds = [k for k in args.kinds.replace("IVF1024,Flat", "IVF1024|Flat").split(",") if k]
    kinds = [k.replace("|", ",") for k in kinds]
    with tempfile.TemporaryDirectory(prefix="jade-dense-") as tmp:
        work = Path(tmp)
        if not args.skip_env:
            part_env(work, args.env_passages)
        if not args.skip_scale:
            part_scale(work, [int(s) for s in args.sizes.split(",")], kinds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
