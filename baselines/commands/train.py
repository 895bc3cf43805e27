"""``jade-rag train``: train a compact team policy in one paradigm (see :mod:`baselines.train`).

Every option is a field of :class:`baselines.train.Args`, the same as ``python -m baselines.train``. Language-model
teams train with ``python -m baselines.ppo_lm`` (token-level PPO).
"""

from __future__ import annotations

import argparse
from dataclasses import fields


def register(subparsers: argparse._SubParsersAction) -> None:
    from baselines.train import add_arguments

    p = subparsers.add_parser("train", help="train a compact team policy (joint, decoupled, adaptive, static, rrr, bgm, monolithic)",
                              description=__doc__)
    add_arguments(p, required=("paradigm", "out"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from baselines.train import Args, train

    metrics = train(Args(**{f.name: getattr(args, f.name) for f in fields(Args)}))
    print(f"{args.paradigm}: held-out F1 {metrics['f1']:.3f}, EM {metrics['em']:.3f} -> {args.out}")
    return 0
