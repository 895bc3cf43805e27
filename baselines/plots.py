"""Figures of a training run folder (from its ``metrics.csv``, written by :mod:`baselines.train`).

    python -m baselines.plots RUN_DIR [RUN_DIR ...]

``learning_curve.png``: F1 and reward over steps; ``workflows.png``: the share of each of the 8 top-level
workflows over training (as the JADE paper's training-dynamics figure); ``costs.png``: rounds and
retrieval calls per episode over training. All three go into the run folder.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from baselines.train import WORKFLOWS


def read_metrics(run: Path) -> dict[str, list[float]]:
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{run}/metrics.csv has no rows yet")
    return {key: [float(r[key]) for r in rows] for key in rows[0]}


def plot_run(run: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run)
    m = read_metrics(run)
    steps = m["step"]
    out = []
    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=120)
    ax.plot(steps, m["f1"], label="F1 (last 200 episodes)")
    ax.plot(steps, m["reward"], label="return (last 200 episodes)", alpha=0.7)
    ax.set_xlabel("environment steps")
    ax.set_title(f"learning curve: {run.name}")
    ax.grid(alpha=0.3)
    ax.legend()
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


if __name__ == "__main__":
    for folder in sys.argv[1:]:
        for path in plot_run(folder):
            print(path)
