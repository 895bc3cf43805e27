"""``jade-rag score``: score a predictions file against a gold file with the one scorer.

GOLD is any question file :func:`jade_env.data.load_examples` reads (the official HotpotQA JSON, a
FlashRAG-style JSONL, the NQ-open JSONL, ...). PRED is any form :func:`jade_env.predictions.read_predictions`
reads (our JSONL, the official HotpotQA or SQuAD prediction JSON). A gold question without a
prediction scores 0; predicted ids that are not in GOLD are reported on stderr and ignored.
"""

from __future__ import annotations

import argparse
import json
import sys

from jade_env.scoring import METRICS, VARIANTS, score_corpus


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "score",
        help="score predictions against gold answers (EM, F1, precision, recall, sub_em)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--gold", required=True, metavar="GOLD", help="gold questions file (HotpotQA JSON, FlashRAG JSONL, NQ-open JSONL, ...)")
    p.add_argument("--pred", required=True, metavar="PRED", help="predictions: JSONL {id, prediction} or official HotpotQA/SQuAD JSON")
    p.add_argument("--gold-format", default=None, metavar="FORMAT", help="force the gold file format instead of detecting it")
    p.add_argument("--variant", default="hotpotqa", choices=VARIANTS, help="metric variant (default: hotpotqa, the official rules)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jade_env.data import load_examples
    from jade_env.predictions import read_predictions

    examples = load_examples(args.gold, format=args.gold_format)
    predictions = read_predictions(args.pred)
    golds = {e.id: e.answers for e in examples}
    result = score_corpus(
        golds,
        {qid: p.prediction for qid, p in predictions.items()},
        variant=args.variant,
        costs={qid: p.costs for qid, p in predictions.items() if p.costs},
    )
    extra = [qid for qid in predictions if qid not in golds]
    if extra:
        shown = ", ".join(repr(q) for q in extra[:5]) + (", ..." if len(extra) > 5 else "")
        print(f"jade-rag score: warning: {len(extra)} predicted id(s) not in {args.gold} were ignored: {shown}", file=sys.stderr)
    if result["n_missing"]:
        print(f"jade-rag score: warning: {result['n_missing']} gold question(s) have no prediction and score 0", file=sys.stderr)
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return 0
    for name in METRICS:
        print(f"{name:<10} {result[name]:.4f}")
    for name in ("n", "n_missing", "n_extra") + (("n_f1",) if "n_f1" in result else ()):
        print(f"{name:<10} {result[name]}")
    for name in sorted(k for k in result if k.endswith("_mean")):
        print(f"{name:<10} {result[name]:.4f}")
    return 0
