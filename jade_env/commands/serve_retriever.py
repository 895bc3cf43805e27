"""``jade-rag serve-retriever``: serve one of our retrievers over HTTP, in both protocols.

``POST /retrieve`` (Search-R1: ``{"queries", "topk", "return_scores"}``) and ``POST /search``
(``{"questions", "N"}``), plus ``GET /health``, ``GET /info`` and ``GET /openapi.json``. Binds
127.0.0.1 by default.

An existing dense index (Search-R1's or FlashRAG's ``e5_Flat.index``, IVF, HNSW, PQ ...) is served
with ``--retriever dense --index FILE.index --corpus THE.jsonl`` and the encoder it was built with
(``--model FOLDER``; default: the shipped all-MiniLM-L6-v2). Several replicas behind
``retriever="remote:URL1,URL2"`` are the multi-machine path (docs/retrieval_serving.md).

Examples:
  jade-rag serve-retriever --corpus wiki18_100w.jsonl --port 8000
  jade-rag serve-retriever --retriever dense --index e5_Flat.index --corpus wiki-18.jsonl --model ./e5-base-v2
"""

from __future__ import annotations

import argparse
import dataclasses

from jade_env.retrieval.factory import BACKENDS


def register(subparsers: argparse._SubParsersAction) -> None:
    from jade_env.retrieval.server_limits import ServerLimits

    p = subparsers.add_parser("serve-retriever", help="serve a retriever over HTTP (Search-R1 /retrieve and /search)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True, help="JSONL {id, contents}, a JSON corpus file, or synthetic:N[:SEED]")
    p.add_argument("--retriever", default="bm25", choices=BACKENDS, help="backend (default bm25)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: a free one, printed)")
    p.add_argument("--cache-dir", default=None, help="index cache folder (default $JADE_CACHE_DIR or ~/.cache/jade_env)")
    p.add_argument("--batch-window-ms", type=float, default=5.0, help="gather concurrent requests for this long (default 5)")
    p.add_argument("--quote-titles", choices=("auto", "yes", "no"), default="auto",
                   help='write "Title" in quotes in each document\'s contents; auto: as the corpus file does (default)')
    dense = p.add_argument_group("an existing dense index (--retriever dense)")
    dense.add_argument("--index", default=None, help="a FAISS index file whose vector i is record i of --corpus")
    dense.add_argument("--model", default=None, help="encoder folder (default: the shipped all-MiniLM-L6-v2)")
    dense.add_argument("--encoder-name", default=None, help="name that picks the conventions (e5, bge, dpr ...; default: the folder name)")
    dense.add_argument("--query-prefix", default=None, help='override the query prefix ("" for an E5 index built without prefixes)')
    dense.add_argument("--pooling", default=None, choices=("mean", "cls", "pooler"), help="override the pooling")
    dense.add_argument("--nprobe", type=int, default=None, help="IVF lists to visit (default: as saved in the index)")
    dense.add_argument("--ef-search", type=int, default=None, help="HNSW search breadth (default: as saved)")
    limits = p.add_argument_group("limits (each refusal is a JSON error)")
    helps = {"max_body_bytes": "largest request body", "max_queries": "most queries in one request",
             "max_k": "largest k a request may ask for", "max_hits": "most queries x k in one request",
             "default_k": "k when a request gives none, null or 0 (Search-R1's --topk)",
             "max_in_flight": "requests processed at once; more wait", "queue_timeout": "seconds a request may wait for a slot",
             "max_connections": "open connections at once", "read_timeout": "seconds for a request's headers, then its body",
             "keep_alive": "seconds an idle connection stays open", "send_timeout": "seconds a client may take to read a reply",
             "max_cache_bytes": "bytes of the analyzer's word cache"}
    for f in dataclasses.fields(ServerLimits):
        limits.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default,
                            help=f"{helps[f.name]} (default {f.default})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jade_env.errors import JadeError
    from jade_env.retrieval.server import listen, refusing, serve
    from jade_env.retrieval.server_limits import ServerLimits

    if not 0 <= args.port <= 65535:
        raise JadeError(f"--port {args.port}: expected a port from 0 to 65535")
    try:
        limits = ServerLimits(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ServerLimits)})
    except ValueError as err:  # "server limit max_k=-1: expected a finite number above 0"
        raise JadeError(str(err)) from None
    if args.index is not None and args.retriever != "dense":
        raise JadeError("--index is a FAISS index: use it with --retriever dense")
    sock = listen(args.host, args.port)  # a taken port fails now, not after the index is built; --port 0 gets a free one
    try:
        with refusing(sock):  # meanwhile a client is turned away at once (and fails over), not kept waiting
            retriever, n_passages, quote = _open(args)
    except BaseException:
        sock.close()
        raise
    host = f"[{args.host}]" if ":" in args.host else args.host or "0.0.0.0"
    print(f"serving {retriever.retriever_id} over {n_passages} passages (corpus {retriever.corpus_hash[:16]}) "
          f"on http://{host}:{sock.getsockname()[1]}", flush=True)
    serve(retriever, n_passages=n_passages, limits=limits, batch_window=args.batch_window_ms / 1000, quote_titles=quote,
          sock=sock)
    return 0


def _open(args: argparse.Namespace) -> tuple:
    """The retriever to serve, its number of passages, and whether documents quote their titles."""
    if args.index is not None:
        from jade_env.retrieval.faiss_index import FaissIndexRetriever

        retriever = FaissIndexRetriever(args.index, args.corpus, model_path=args.model, encoder_name=args.encoder_name,
                                        query_prefix=args.query_prefix, pooling=args.pooling, nprobe=args.nprobe,
                                        ef_search=args.ef_search, cache_dir=args.cache_dir)
        n_passages = len(retriever)
    else:
        from jade_env.retrieval.factory import make_retriever, open_corpus

        corpus = open_corpus(args.corpus)
        kwargs = {"model_name_or_path": args.model} if args.retriever == "dense" and args.model else {}
        retriever = make_retriever(args.retriever, corpus, cache_dir=args.cache_dir, **kwargs)
        n_passages = len(corpus)
    if args.quote_titles == "auto":
        from jade_env.retrieval.jsonl_passages import titles_quoted

        quote = not args.corpus.startswith("synthetic") and titles_quoted(args.corpus)
    else:
        quote = args.quote_titles == "yes"
    return retriever, n_passages, quote
