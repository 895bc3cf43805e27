"""Benchmark: our in-process BM25 against pyserini (Lucene) and rank_bm25, on real and synthetic corpora.

    python benchmarks/retrieval_bm25.py --sizes 100000 1000000 [--skip-pyserini] [--queries 1000]

Corpora: ``real`` (the union of the HotpotQA, MuSiQue and 2Wiki corpus and context files of
../shared/data) and synthetic Zipfian corpora of N passages of 80-120 words over a 50,000-word made-up
vocabulary (seeded). Queries: 2-6 words drawn from random passages (seeded). Each backend builds and
searches in its own subprocess, so peak memory (``ru_maxrss``) is its own. Reported per backend and
corpus: index build time, index size on disk, peak RSS, mean single-query latency (k=10, one query at a
time), batched throughput (one call with every query; pyserini's ``batch_search`` with 2 threads), and
the top-10 / top-1 agreement of each backend with pyserini. The table is written to the section
``## Retrieval: BM25 versus pyserini`` of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
SHARED = HERE.parent.parent / "shared" / "data"
SECTION = "## Retrieval: BM25 versus pyserini"
sys.path.insert(0, str(HERE))
from results import RESULTS, machine, write_section  # noqa: E402


# ----------------------------------------------------------------------------------------- corpora
def make_zipf_corpus(n: int, path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    syll = np.array(["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pe", "du", "ga", "ri", "so", "ba", "te", "ku"])
    vocab = ["".join(rng.choice(syll, size=rng.integers(2, 5))) + str(i % 7 if i % 3 == 0 else "") for i in range(50_000)]
    vocab = list(dict.fromkeys(vocab))
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 1.07
    weights /= weights.sum()
    lengths = rng.integers(80, 121, size=n)
    words = rng.choice(len(vocab), size=int(lengths.sum()), p=weights)
    vocab_arr = np.array(vocab, dtype=object)
    with path.open("w", encoding="utf-8") as f:
        start = 0
        for i, length in enumerate(lengths.tolist()):
            tokens = vocab_arr[words[start: start + length]]
            start += length
            f.write(json.dumps({"id": f"z{i}", "contents": " ".join(tokens[:3]) + "\n" + " ".join(tokens)}) + "\n")


def make_real_corpus(path: Path) -> int:
    sys.path.insert(0, str(HERE.parent))
    from jade_env.data import load_corpus, load_examples

    seen: dict[tuple[str, str], str] = {}
    for f in ("hotpotqa/hotpotqa_train_corpus.json", "musique/musique_train_corpus.json", "2wikimultihopqa/2wikimultihopqa_corpus.json"):
        for p in load_corpus(SHARED / f):
            seen.setdefault((p.title, p.text), p.id)
    for f in ("hotpotqa/hotpot_dev_distractor_v1_100.json", "2wikimultihopqa/2wikimultihopqa_dev_first100.jsonl",
              "musique/musique_dev_first100.jsonl"):
        for e in load_examples(SHARED / f):
            for p in e.context:
                seen.setdefault((p.title, p.text), p.id)
    with path.open("w", encoding="utf-8") as out:
        for (title, text), pid in seen.items():
            out.write(json.dumps({"id": pid, "contents": f"{title}\n{text}"}, ensure_ascii=False) + "\n")
    return len(seen)


def make_queries(corpus: Path, n: int, seed: int = 1) -> list[str]:
    rng = np.random.default_rng(seed)
    lines = corpus.read_text(encoding="utf-8").splitlines()
    out = []
    for i in rng.choice(len(lines), size=n, replace=len(lines) < n):
        words = json.loads(lines[i])["contents"].split()
        size = int(rng.integers(2, 7))
        start = int(rng.integers(0, max(1, len(words) - size)))
        out.append(" ".join(words[start: start + size]))
    return out


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ----------------------------------------------------------------------------------------- workers
def worker_ours(corpus: Path, queries: list[str], out: Path) -> dict:
    from jade_env.data import external_corpus
    from jade_env.retrieval.bm25 import BM25Retriever

    index_root = out.parent / "ours-index"
    shutil.rmtree(index_root, ignore_errors=True)  # measure a build, not a cache hit
    started = time.perf_counter()
    r = BM25Retriever(external_corpus(corpus), cache_dir=index_root, n_threads=2)
    build = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    r = BM25Retriever(index_dir=r.index_dir, n_threads=2)  # searched memory-mapped, as it is used
    r.search(queries[:20], 10)
    started = time.perf_counter()
    for q in queries:
        r.search([q], 10)
    single = (time.perf_counter() - started) / len(queries)
    started = time.perf_counter()
    results = r.search(queries, 10)
    batch = time.perf_counter() - started
    out.write_text(json.dumps([[h.id for h in hits] for hits in results]))
    return {"build_s": build, "size_mb": dir_size(r.index_dir) / 1e6, "rss_mb": rss, "single_ms": single * 1000,
            "batch_qps": len(queries) / batch}


def worker_pyserini(corpus: Path, queries: list[str], out: Path) -> dict:
    sys.path.insert(0, str(HERE.parent))
    from jade_env.retrieval.lucene import java_class

    index = out.parent / "lucene-index"  # corpus is <folder>/collection/docs.jsonl
    shutil.rmtree(index, ignore_errors=True)
    started = time.perf_counter()
    if True:
        java_class("io.anserini.index.IndexCollection").main([
            "-collection", "JsonCollection", "-input", str(corpus.parent), "-index", str(index),
            "-generator", "DefaultLuceneDocumentGenerator", "-threads", "2", "-quiet"])
    build = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    searcher = java_class("io.anserini.search.SimpleSearcher")(str(index))
    searcher.set_bm25(0.9, 0.4)
    for q in queries[:20]:
        searcher.search(q, 10)
    started = time.perf_counter()
    results = []
    for q in queries:
        results.append([h.docid for h in searcher.search(q, 10)])
    single = (time.perf_counter() - started) / len(queries)
    array_list = java_class("java.util.ArrayList")
    qs, ids = array_list(), array_list()
    for i, q in enumerate(queries):
        qs.add(q)
        ids.add(str(i))
    started = time.perf_counter()
    batch_map = searcher.batch_search(qs, ids, 10, 2)
    batch = time.perf_counter() - started
    assert batch_map.size() == len(queries)
    out.write_text(json.dumps(results))
    return {"build_s": build, "size_mb": dir_size(index) / 1e6, "rss_mb": rss, "single_ms": single * 1000,
            "batch_qps": len(queries) / batch}


def worker_rank_bm25(corpus: Path, queries: list[str], out: Path) -> dict:
    from rank_bm25 import BM25Okapi

    from jade_env.retrieval.analysis import Analyzer

    analyzer = Analyzer()
    ids, docs = [], []
    started = time.perf_counter()
    with corpus.open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            ids.append(rec["id"])
            docs.append(analyzer.terms(rec["contents"]))
    bm25 = BM25Okapi(docs, k1=0.9, b=0.4)
    build = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sample = queries[:100]
    started = time.perf_counter()
    results = []
    for q in sample:
        scores = bm25.get_scores(analyzer.terms(q))
        top = np.argsort(-scores, kind="stable")[:10]
        results.append([ids[i] for i in top])
    single = (time.perf_counter() - started) / len(sample)
    out.write_text(json.dumps(results))
    return {"build_s": build, "size_mb": float("nan"), "rss_mb": rss, "single_ms": single * 1000, "batch_qps": 1 / single}


THROUGHPUT_NOTE = (
    "Why the numbers are what they are. Agreement: our scorer reproduces Lucene's BM25 including its one-byte "
    "document-length norms, so the remaining disagreements are float32 near-ties and small differences between "
    "our regex tokenizer and Lucene's StandardTokenizer. Throughput: queries are scored by a C kernel "
    "(jade_env/retrieval/_bm25_kernel.c, GIL released, one thread per core) with an exact MaxScore cut: rare "
    "terms give the candidates, frequent terms are looked up or scanned for them only. At 1M passages the "
    "queries' frequent terms have posting lists of 10^5 to 10^6 entries and our kernel still touches them "
    "once per query, where Lucene's block-max WAND skips whole blocks using per-block maximum scores. What would "
    "close the gap: per-block maximum impacts in the index (blocks of 128 postings) and skipping blocks whose "
    "maximum cannot lift a candidate above the current k-th score. Index size: we store float32 impacts and "
    "the passages themselves (the hits carry their text), Lucene compresses postings and here stored no text. "
    "pyserini was run through Anserini's Java classes directly (jade_env.retrieval.lucene); its index had no "
    "positions, document vectors or raw text, which makes it faster than the 370-440 q/s at 1M noted in "
    "DEPENDENCIES.md."
)

WORKERS = {"ours": worker_ours, "pyserini": worker_pyserini, "rank_bm25": worker_rank_bm25}


def run_worker(name: str, corpus: Path, queries_file: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", name, "--corpus", str(corpus), "--queries-file", str(queries_file),
                           "--out", str(out)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def agreement(a: list[list[str]], b: list[list[str]]) -> tuple[float, float]:
    top10 = [len(set(x) & set(y)) / max(len(y), 1) for x, y in zip(a, b, strict=False) if y]
    top1 = [x[:1] == y[:1] for x, y in zip(a, b, strict=False) if y]
    return float(np.mean(top10)), float(np.mean(top1))


def write_results(rows: list[dict], command: str) -> None:
    lines = [SECTION, "", f"Measured {datetime.date.today().isoformat()} on {machine()}.", "", f"Command: `{command}`", "",
             "| corpus | passages | backend | build s | index MB | peak RSS MB | 1 query ms | batch q/s | top-10 agree | top-1 agree |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        agree10, agree1 = r.get("agree10", float("nan")), r.get("agree1", float("nan"))
        lines.append(f"| {r['corpus']} | {r['passages']:,} | {r['backend']} | {r['build_s']:.1f} | {r['size_mb']:.0f} | {r['rss_mb']:.0f} "
                     f"| {r['single_ms']:.2f} | {r['batch_qps']:,.0f} | {agree10:.4f} | {agree1:.4f} |")
    lines += ["", "Targets (issue 4): top-10 agreement with pyserini at least 0.95 (aim 0.99); batched throughput at least "
              "pyserini's at 100k and 1M passages."]
    for corpus in dict.fromkeys(r["corpus"] for r in rows):
        ours = next((r for r in rows if r["corpus"] == corpus and r["backend"] == "ours"), None)
        lucene = next((r for r in rows if r["corpus"] == corpus and r["backend"] == "pyserini"), None)
        if ours is None or lucene is None:
            continue
        ratio = ours["batch_qps"] / lucene["batch_qps"]
        lines.append(f"- {corpus}: agreement {ours['agree10']:.4f} ({'met' if ours['agree10'] >= 0.95 else 'missed'}); "
                     f"throughput {ours['batch_qps']:,.0f} vs {lucene['batch_qps']:,.0f} q/s = {ratio:.2f}x "
                     f"({'met' if ratio >= 1 else f'missed by {1 - ratio:.0%}'}).")
    lines += ["", THROUGHPUT_NOTE]
    write_section(SECTION, "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--skip-pyserini", action="store_true")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--queries-file", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.worker:
        queries = json.loads(args.queries_file.read_text())
        print(json.dumps(WORKERS[args.worker](args.corpus, queries, args.out)))
        return
    command = "python benchmarks/retrieval_bm25.py " + " ".join(sys.argv[1:])
    corpora = ([] if args.skip_real else [("real pooled", None)]) + [(f"zipf {n // 1000}k", n) for n in args.sizes]
    rows = []
    for name, n in corpora:
        folder = WORK / name.replace(" ", "-")
        (folder / "collection").mkdir(parents=True, exist_ok=True)
        corpus = folder / "collection" / "docs.jsonl"
        if not corpus.exists():
            print(f"[{name}] generating corpus", flush=True)
            if n is None:
                make_real_corpus(corpus)
            else:
                make_zipf_corpus(n, corpus)
        passages = sum(1 for _ in corpus.open(encoding="utf-8"))
        queries_file = folder / "queries.json"
        queries_file.write_text(json.dumps(make_queries(corpus, args.queries)))
        backends = ["ours"] + ([] if args.skip_pyserini else ["pyserini"]) + (["rank_bm25"] if n is not None and n <= 100_000 else [])
        outputs = {}
        for backend in backends:
            print(f"[{name}] {backend}", flush=True)
            out = folder / f"{backend}.results.json"
            stats = run_worker(backend, corpus, queries_file, out)
            outputs[backend] = json.loads(out.read_text())
            rows.append({"corpus": name, "passages": passages, "backend": backend, **stats})
            print(f"    {stats}", flush=True)
        if "pyserini" in outputs:
            for r in rows:
                if r["corpus"] == name:
                    r["agree10"], r["agree1"] = agreement(outputs[r["backend"]], outputs["pyserini"][: len(outputs[r["backend"]])])
        write_results(rows, command)
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
