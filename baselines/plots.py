"""Figures of a training run folder (from its ``metrics.csv``, written by :mod:`baselines.train`).

    python -m baselines.plots RUN_DIR [RUN_DIR ...]

``learning_curve.png``: F1 (%) over environment steps: the training episodes' F1 (mean of the last 200, with
the exploration of training), the greedy held-out F1 of ``curve.csv`` and the reference agents' held-out F1 on
the same questions (``curve_reference.json``) as flat lines; ``workflows.png``: the share of each of the 8 top-level
workflows over training (as the JADE paper's training-dynamics figure); ``costs.png``: rounds and
retrieval calls per episode over training. All three go into the run folder.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

from baselines.train import WORKFLOWS
from jade_env.errors import JadeError


def read_metrics(run: Path, name: str = "metrics.csv") -> dict[str, list[float]]:
    """The columns of a run folder's CSV (an empty cell, e.g. a question kind absent from a window, is NaN)."""
    path = run / name
    if not path.is_file():
        raise JadeError(f"{path} is missing; expected a run folder of baselines.train")
    with path.open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise JadeError(f"{path} has no rows yet")
    return {key: [float(r[key]) if r[key] != "" else math.nan for r in rows] for key in rows[0]}


def plot_run(run: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run)
    m = read_metrics(run)
    steps = m["step"]
    out = []
    fig, ax = plt.subplots(figsize=(7.2, 4.4), dpi=120)
    ax.plot(steps, [100 * v for v in m["f1"]], label="training episodes (mean of last 200, exploring)", alpha=0.8)
    if (run / "curve.csv").is_file():
        curve = read_metrics(run, "curve.csv")
        ax.plot(curve["step"], [100 * v for v in curve["heldout_f1"]], "o-", color="black",
                label=f"held-out, greedy ({int(curve['questions'][-1])} questions)")
    if (run / "curve_reference.json").is_file():
        reference = json.loads((run / "curve_reference.json").read_text())
        for (name, f1), style in zip(((k, v) for k, v in reference.items() if k != "questions"), ("--", ":", "-."), strict=False):
            ax.axhline(100 * f1, linestyle=style, color="grey", linewidth=1, label=f"reference: {name}, held-out {100 * f1:.1f}")
    ax.set_ylim(0, 100)
    ax.set_xlabel("environment steps (agent turns, every role)")
    ax.set_ylabel("answer F1 (%)")
    ax.set_title(f"learning curve: {run.name}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center right", framealpha=0.9)
    fig.tight_layout()
    out.append(run / "learning_curve.png")
    fig.savefig(out[-1])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7.2, 4), dpi=120)
    shares = [m[w] for w in WORKFLOWS]
    ax.stackplot(steps, shares, labels=WORKFLOWS, alpha=0.85)
    ax.set_ylim(0, 1)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("share of episodes")
    ax.set_title(f"top-level workflows over training: {run.name}")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    out.append(run / "workflows.png")
    fig.savefig(out[-1])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=120)
    ax.plot(steps, m["rounds"], label="rounds per episode")
    ax.plot(steps, m["retrieval_calls"], label="retrieval calls per episode")
    ax.set_xlabel("environment steps")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.append(run / "costs.png")
    fig.savefig(out[-1])
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders of baselines.train (with metrics.csv)")
    args = parser.parse_args(argv)
    try:
        for folder in args.runs:
            for path in plot_run(folder):
                print(path)
    except JadeError as err:
        print(f"baselines.plots: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
