"""``jade-rag data info NAME``: what a dataset or question file holds, and the hashes that name it.

Counts, question types, answer-alias statistics, context availability, the split hash, and the size and
hash of the corpus the environments would search (``pooled`` by default; ``per_question`` gives the
context sizes; a path gives an external JSONL corpus).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("data", help="inspect datasets and corpora", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    info = sub.add_parser("info", help="counts, types, aliases, split and corpus hashes")
    info.add_argument("name", metavar="NAME", help="a dataset name (hotpotqa, nq, synthetic, ...) or a question file")
    info.add_argument("--path", action="append", default=None, metavar="P",
                      help="question file(s) for NAME; repeat to pool several files into one corpus")
    info.add_argument("--format", default=None, help="force the file format (see jade_env.data.loaders)")
    info.add_argument("--corpus", default="pooled", help="pooled (default), per_question, or a JSONL corpus path")
    info.add_argument("-n", type=int, default=None, help="only the first n questions (Synthetic: generate n)")
    info.add_argument("--seed", type=int, default=None, help="Synthetic: the world's seed")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=run_info)


def run_info(args: argparse.Namespace) -> int:
    from jade_env.data import external_corpus, load_examples, pooled_corpus, split_hash
    from jade_env.data.synthetic import synthetic_corpus

    sources = args.path or [args.name]
    examples = []
    for source in sources:  # a --path is a file even without a .json suffix: "no such file", not "unknown dataset"
        examples += load_examples(args.name, path=source if args.path else None, format=args.format, n=args.n,
                                  seed=args.seed, dataset=args.name if args.path else None)
    types = Counter(e.type or "-" for e in examples)
    aliases = [len(e.answers) for e in examples]
    result: dict = {
        "name": args.name,
        "sources": sources,
        "questions": len(examples),
        "types": dict(types.most_common()),
        "answers_per_question_mean": sum(aliases) / len(aliases),
        "answers_per_question_max": max(aliases),
        "with_context": sum(1 for e in examples if e.context),
        "with_supporting_titles": sum(1 for e in examples if e.supporting_titles),
        "with_decomposition": sum(1 for e in examples if e.decomposition),
        "split_hash": split_hash(examples),
    }
    if args.corpus == "per_question":
        sizes = [len(e.context) for e in examples]
        result["corpus"] = {"mode": "per_question", "passages_per_question_mean": sum(sizes) / len(sizes)}
    elif args.corpus == "pooled":
        if args.name.lower() in ("synthetic", "syn") and not args.path:
            corpus = synthetic_corpus(n=args.n or 1000, seed=args.seed or 0)
        elif any(e.context for e in examples):
            corpus = pooled_corpus(examples)
        else:
            corpus = None
        result["corpus"] = ({"mode": "pooled", "name": corpus.name, "passages": len(corpus), "hash": corpus.hash}
                            if corpus is not None else {"mode": "pooled", "passages": 0,
                                                        "note": "no context paragraphs: use an external corpus"})
    else:
        corpus = external_corpus(args.corpus)
        result["corpus"] = {"mode": "external", "name": corpus.name, "passages": len(corpus), "hash": corpus.hash}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"{args.name}: {result['questions']} questions from {', '.join(sources)}")
    print("types: " + ", ".join(f"{t} {n}" for t, n in result["types"].items()))
    print(f"answers per question: mean {result['answers_per_question_mean']:.2f}, max {result['answers_per_question_max']}")
    print(f"with context: {result['with_context']}, with supporting titles: {result['with_supporting_titles']}, "
          f"with decomposition: {result['with_decomposition']}")
    print(f"split hash: {result['split_hash']}")
    c = result["corpus"]
    if "hash" in c:
        print(f"corpus ({c['mode']}): {c['passages']} passages, hash {c['hash']}")
    else:
        print(f"corpus ({c['mode']}): " + ", ".join(f"{k} {v}" for k, v in c.items() if k != "mode"))
    return 0
