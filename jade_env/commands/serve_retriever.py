"""``jade-rag serve-retriever``: serve one of our retrievers over HTTP, in both protocols.

``POST /retrieve`` (Search-R1: ``{"queries", "topk", "return_scores"}``) and ``POST /search``
(``{"questions", "N"}``), plus ``GET /health`` and ``GET /info``. Binds 127.0.0.1 by default.
"""

from __future__ import annotations

import argparse

from jade_env.retrieval.factory import BACKENDS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve-retriever", help="serve a retriever over HTTP (Search-R1 /retrieve and /search)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True, help="JSONL {id, contents}, a JSON corpus file, or synthetic:N[:SEED]")
    p.add_argument("--retriever", default="bm25", choices=BACKENDS)
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--cache-dir", default=None, help="index cache folder (default $JADE_CACHE_DIR or ~/.cache/jade_env)")
    p.add_argument("--max-k", type=int, default=100, help="largest k a request may ask for")
    p.add_argument("--max-queries", type=int, default=1024, help="most queries in one request")
    p.add_argument("--max-body-bytes", type=int, default=4 << 20)
    p.add_argument("--batch-window-ms", type=float, default=5.0, help="gather concurrent requests for this long")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jade_env.retrieval.factory import make_retriever, open_corpus
    from jade_env.retrieval.server import serve

    corpus = open_corpus(args.corpus)
    retriever = make_retriever(args.retriever, corpus, cache_dir=args.cache_dir)
    print(f"serving {retriever.retriever_id} over {len(corpus)} passages (corpus {retriever.corpus_hash[:16]}) "
          f"on http://{args.host}:{args.port}", flush=True)
    serve(retriever, host=args.host, port=args.port, n_passages=len(corpus), max_queries=args.max_queries, max_k=args.max_k,
          max_body_bytes=args.max_body_bytes, batch_window=args.batch_window_ms / 1000)
    return 0
