"""``jade-rag index build|info|verify``: build a retrieval index for a corpus, describe one, or check one.

``build`` indexes a JSONL corpus ``{"id", "contents"}`` (or a JSON corpus file, or ``synthetic:N``) with
BM25 (default), Lucene or a dense encoder, with a progress bar, and reports the time and size.
``info`` prints an index folder's parameters, passage count, corpus hash and size.
``verify`` opens one of our BM25 index folders as every search does, which checks every file against its
size and CRC-32 and every structural invariant and decodes every block (:mod:`jade_env.retrieval.bm25`),
and says so, or exits 2 naming what is wrong: a check of a copied or shared index before a long run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from jade_env.errors import JadeError
from jade_env.retrieval.factory import BACKENDS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("index", help="build or describe a retrieval index", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="index_command", metavar="SUBCOMMAND", required=True)
    build = sub.add_parser("build", help="index a corpus")
    build.add_argument("corpus", help="JSONL {id, contents}, a JSON corpus file, or synthetic:N[:SEED]")
    build.add_argument("--retriever", default="bm25", choices=BACKENDS)
    build.add_argument("--out", default=None, help="cache folder for the index (default $JADE_CACHE_DIR/indexes)")
    build.set_defaults(func=run_build)
    info = sub.add_parser("info", help="describe an index folder")
    info.add_argument("index_dir")
    info.set_defaults(func=run_info)
    verify = sub.add_parser("verify", help="check every file of a BM25 index folder")
    verify.add_argument("index_dir")
    verify.set_defaults(func=run_verify)


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_build(args: argparse.Namespace) -> int:
    from jade_env.errors import output_folder
    from jade_env.retrieval.factory import make_retriever, open_corpus

    output_folder(args.out)
    corpus = open_corpus(args.corpus)
    started = time.perf_counter()
    kwargs = {"show_progress": True} if args.retriever == "bm25" else {}
    retriever = make_retriever(args.retriever, corpus, cache_dir=args.out, **kwargs)
    seconds = time.perf_counter() - started
    index_dir = Path(getattr(retriever, "index_dir", "") or ".")
    print(f"{retriever.retriever_id}: {len(corpus)} passages, corpus {retriever.corpus_hash[:16]}")
    print(f"index: {index_dir} ({folder_size(index_dir) / 1e6:.1f} MB), {seconds:.1f} s")
    return 0


def run_info(args: argparse.Namespace) -> int:
    folder = Path(args.index_dir)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise JadeError(f"{folder}: not an index folder of ours (no manifest.json)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as err:
        raise JadeError(f"{manifest_path}: unreadable ({err})") from None
    for key, value in manifest.items():
        print(f"{key:<16} {value}")
    print(f"{'size':<16} {folder_size(folder) / 1e6:.1f} MB")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from jade_env.retrieval.bm25 import BM25Retriever

    folder = Path(args.index_dir)
    if any(folder.glob("segments_*")):  # Lucene's commit point: a Lucene index, which Lucene itself checks
        raise JadeError(f"{folder}: a Lucene index, not one of our BM25 indexes; verify checks BM25 index folders only "
                        "(Lucene's own check: java -cp lucene-core.jar org.apache.lucene.index.CheckIndex FOLDER)")
    started = time.perf_counter()
    retriever = BM25Retriever(index_dir=folder)  # a RetrievalError (a JadeError: one line, exit 2) names the problem
    print(f"{retriever.index_dir}: every file matches its size and checksum and every block decodes "
          f"({len(retriever)} passages, {folder_size(retriever.index_dir) / 1e6:.1f} MB, {time.perf_counter() - started:.1f} s)")
    retriever.close()
    return 0
