"""``jade-rag ablate``: the decoupled-versus-joint experiment and the Table 2 rows at compact scale (see :mod:`baselines.ablation`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    from baselines.ablation import GRIDS, Settings
    from baselines.executor_specs import SPECS

    d = Settings()
    p = subparsers.add_parser("ablate", help="run the decoupled-versus-joint grids and the Table 2 rows (compact, Synthetic)",
                              description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--grid", nargs="+", choices=GRIDS, default=["main"],
                   help="main: {matched, mismatched-qr} x {decoupled, joint}; ds: DS on/off per arm; table2: the nine rows")
    p.add_argument("--seeds", type=int, nargs="+", default=list(d.seeds), help="one run per seed and cell")
    p.add_argument("--steps", type=int, default=d.steps, help="PPO steps per run")
    p.add_argument("--epsilon", type=float, default=d.epsilon, help="exploration of the frozen executors while training")
    p.add_argument("--train-n", type=int, default=d.train_n, help="questions of each training world (seeded 100 + seed)")
    p.add_argument("--eval-n", type=int, default=d.eval_n, help="held-out questions (world seed 999)")
    p.add_argument("--bc-episodes", type=int, default=d.bc_episodes, help="episodes of the spec the one start is cloned from")
    p.add_argument("--table2-spec", default=d.table2_spec, choices=list(SPECS), help="the frozen executors of the Table 2 rows")
    p.add_argument("--jobs", type=int, default=d.jobs, help="runs at a time (one core each)")
    p.add_argument("--out", default=d.out, metavar="DIR", help="one folder per cell, ablation.json, ablation.md, the figure")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from baselines.ablation import Settings, run_grids

    settings = Settings(out=args.out, steps=args.steps, epsilon=args.epsilon, train_n=args.train_n, eval_n=args.eval_n,
                        bc_episodes=args.bc_episodes, table2_spec=args.table2_spec, jobs=args.jobs, seeds=tuple(args.seeds))
    result = run_grids(args.grid, settings)
    print(Path(args.out, "ablation.md").read_text())
    print(f"{len(result['runs'])} runs in {result['minutes']:.1f} min -> {args.out}")
    return 0
