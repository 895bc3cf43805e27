"""``jade-rag envs``: the registered environment ids with their dataset, paradigm and defaults."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("envs", help="list the registered environment ids", description=__doc__)
    p.add_argument("--json", action="store_true", help="print one JSON object per id")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jade_env.registration import registered_ids

    rows = registered_ids()
    if args.json:
        for eid, entry, desc, kwargs in rows:
            print(json.dumps({"id": eid, "dataset": entry.dataset, "kind": entry.kind, "paradigm": desc,
                              "default_corpus": entry.corpus, "kwargs": kwargs}))
        return 0
    width = max(len(r[0]) for r in rows)
    print(f"{'id':<{width}}  {'dataset':<16} {'kind':<10} paradigm")
    for eid, entry, desc, _ in rows:
        print(f"{eid:<{width}}  {entry.dataset:<16} {entry.kind:<10} {desc}")
    print("\nDefaults: top_k=5, max_subquestions=4, decomposition_depth=1, strict_format=True, max_steps=40, preset='paper' (reward='jade'; "
          "preset='authors_code' does as the released JADE code, see docs/environment.md); "
          "corpus='pooled' (HotpotQA, 2Wiki, MuSiQue), the generated world (Synthetic), an external corpus or remote "
          "retriever (the others).")
    return 0
