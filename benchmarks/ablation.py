"""The decoupled-versus-joint ablation (the JADE paper's Table 3 design) with the compact policy on Synthetic.

    python benchmarks/ablation.py [--steps 40000] [--seeds 0 1 2] [--out runs/ablation] [--jobs 2]

{frozen executors (the planner trained, the scripted executors frozen), joint (every role trained, one
shared network, one outcome reward)} x {with DS, without DS (the planner may not choose a workflow with
DS)}, several seeds. Each cell trains ``baselines.train`` for ``--steps`` and is evaluated on held-out
Synthetic questions (another seed of the world). Writes the ``## Ablation: frozen versus joint``
section of benchmarks/RESULTS.md (mean and spread over seeds) with this command.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from results import machine, write_section  # noqa: E402

SECTION = "## Ablation: frozen versus joint"


def run_cell(paradigm: str, allow_ds: bool, seed: int, steps: int, out: str) -> dict:
    from baselines.train import Args, train

    folder = Path(out) / f"{paradigm}-{'ds' if allow_ds else 'nods'}-seed{seed}"
    args = Args(paradigm=paradigm, steps=steps, seed=seed, out=str(folder), allow_ds=allow_ds, log_every=5000,
                env_kwargs=json.dumps({"n": 3000, "synthetic": {"seed": 100 + seed}}),
                eval_kwargs=json.dumps({"n": 400, "synthetic": {"seed": 999}}))
    started = time.perf_counter()
    metrics = train(args)
    return {"paradigm": paradigm, "ds": allow_ds, "seed": seed, "f1": metrics["f1"], "em": metrics["em"],
            "calls": metrics.get("retrieval_calls_mean", 0.0), "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="runs/ablation")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    cells = [(p, ds, s) for p in ("decoupled", "joint") for ds in (True, False) for s in args.seeds]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run_cell, *zip(*cells, strict=True), [args.steps] * len(cells), [args.out] * len(cells)))
    minutes = (time.perf_counter() - started) / 60
    lines = [SECTION, "", f"Measured {datetime.date.today().isoformat()} on {machine()}; command: "
             f"`python benchmarks/ablation.py --steps {args.steps} --seeds {' '.join(map(str, args.seeds))} --out {args.out} "
             f"--jobs {args.jobs}` ({minutes:.1f} min). Compact masked-PPO policy, Synthetic (train worlds seeded 100+seed, "
             "evaluation on 400 questions of another world), F1 in %, mean ± standard deviation over seeds.", "",
             "| executors | with DS | without DS | DS effect |", "|---|---:|---:|---:|"]
    for paradigm, label in (("decoupled", "frozen (planner trained)"), ("joint", "joint (all roles trained)")):
        cell = {ds: [r["f1"] * 100 for r in results if r["paradigm"] == paradigm and r["ds"] == ds] for ds in (True, False)}
        effect = np.mean(cell[True]) - np.mean(cell[False])
        lines.append(f"| {label} | {np.mean(cell[True]):.1f} ± {np.std(cell[True]):.1f} | {np.mean(cell[False]):.1f} ± "
                     f"{np.std(cell[False]):.1f} | {effect:+.1f} |")
    lines += ["", "Per run: " + "; ".join(f"{r['paradigm']}/{'DS' if r['ds'] else 'no DS'}/seed {r['seed']}: {r['f1'] * 100:.1f}"
                                          for r in results)]
    body = "\n".join(lines) + "\n"
    write_section(SECTION, body)
    print(body)


if __name__ == "__main__":
    main()
