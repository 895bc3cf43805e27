"""``jade-rag score``: score a predictions file against a gold file with the one scorer.

GOLD is any question file :func:`jade_env.data.load_examples` reads (the official HotpotQA JSON, a
FlashRAG-style JSONL, the NQ-open JSONL, ...). PRED is any form :func:`jade_env.predictions.read_predictions`
reads (our JSONL, the official HotpotQA or SQuAD prediction JSON). A gold question without a
prediction scores 0; predicted ids that are not in GOLD are reported on stderr and ignored.
"""

from __future__ import annotations

import json
import os
import sys
from types import SimpleNamespace

from jade_env.scoring import METRICS, VARIANTS, score_corpus

TYPE_CHECKING = False  # argparse is imported only to build the parser (see quick_args)
if TYPE_CHECKING:
    import argparse

#: the options of the subcommand: flag -> (attribute, takes a value, default)
OPTIONS: dict[str, tuple[str, bool, object]] = {"--gold": ("gold", True, None), "--pred": ("pred", True, None),
                                                "--gold-format": ("gold_format", True, None), "--variant": ("variant", True, "hotpotqa"),
                                                "--json": ("json", False, False)}


def register(subparsers: argparse._SubParsersAction) -> None:
    import argparse

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


def quick_args(argv: list[str]) -> SimpleNamespace | None:
    """The parsed arguments of the plain form ``score --gold G --pred P [--gold-format F] [--variant V] [--json]``, each
    option once and spelled out, no value starting with ``-``; None for anything else (help, ``--gold=G``, a
    shortened option, an error), which the argparse parser then handles. The same values as that parser gives
    (tested): the common call starts without importing argparse, gettext, locale and shutil, which would be a
    third of what ``jade-rag score`` adds to Python's own start-up."""
    if not argv or argv[0] != "score":
        return None
    values = {name: default for name, _, default in OPTIONS.values()}
    seen: set[str] = set()
    i = 1
    while i < len(argv):
        spec = OPTIONS.get(argv[i])
        if spec is None or argv[i] in seen:
            return None
        seen.add(argv[i])
        name, takes_value, _ = spec
        if takes_value:
            if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                return None
            values[name] = argv[i + 1]
            i += 2
        else:
            values[name] = True
            i += 1
    if values["gold"] is None or values["pred"] is None or values["variant"] not in VARIANTS:
        return None
    return SimpleNamespace(command="score", func=run, **values)


def run(args: argparse.Namespace | SimpleNamespace) -> int:
    from jade_env.predictions import read_predictions

    if os.path.isfile(args.gold):  # the loader alone, reading ids, questions and answers only
        from jade_env.data.loaders import load_file

        examples = load_file(args.gold, format=args.gold_format, answers_only=True)
    else:  # not a file: the registry says what it is or is not
        from jade_env.data import load_examples

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
