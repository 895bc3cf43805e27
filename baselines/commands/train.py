"""``jade-rag train``: train a compact team policy in one paradigm (see :mod:`baselines.train`).

Language-model teams train with ``python -m baselines.ppo_lm`` (token-level PPO).
"""

from __future__ import annotations

import argparse
import json

from jade_env.errors import JadeError


def register(subparsers: argparse._SubParsersAction) -> None:
    from baselines.train import PARADIGMS, Args

    defaults = Args()
    p = subparsers.add_parser("train", help="train a compact team policy (joint, decoupled, static, monolithic)", description=__doc__)
    p.add_argument("--paradigm", required=True, choices=list(PARADIGMS))
    p.add_argument("--env", default=defaults.env, help="a registered id (the paradigm picks its variant)")
    p.add_argument("--policy", default="compact", choices=["compact", "hf"])
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--out", required=True, metavar="DIR", help="run folder (config, metrics.csv, model.zip, eval/); reruns resume")
    p.add_argument("--env-kwargs", default=defaults.env_kwargs, metavar="JSON", help="gym.make keywords for training")
    p.add_argument("--eval-kwargs", default=defaults.eval_kwargs, metavar="JSON", help="gym.make keywords of the held-out evaluation")
    p.add_argument("--no-ds", action="store_true", help="the planner may not choose workflows with DS")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from baselines.train import Args, train

    if args.policy != "compact":
        raise JadeError("--policy hf: train language-model teams with `python -m baselines.ppo_lm` (token-level PPO); "
                        "`jade-rag train` drives the compact policy")
    for name in ("env_kwargs", "eval_kwargs"):
        try:
            json.loads(getattr(args, name))
        except json.JSONDecodeError as err:
            raise JadeError(f"--{name.replace('_', '-')} is not valid JSON ({err.msg})") from None
    metrics = train(Args(paradigm=args.paradigm, env=args.env, steps=args.steps, seed=args.seed, out=args.out,
                         allow_ds=not args.no_ds, env_kwargs=args.env_kwargs, eval_kwargs=args.eval_kwargs))
    print(f"{args.paradigm}: held-out F1 {metrics['f1']:.3f}, EM {metrics['em']:.3f} -> {args.out}")
    return 0
