"""``jade-rag compare DIR1 DIR2 ...``: evaluation runs side by side, and an F1-versus-cost figure.

Each DIR is a run folder of ``jade-rag evaluate`` (its ``metrics.json``). ``--plot FILE.png`` draws F1
against a cost (``--cost retrieval_calls``, ``rounds`` or ``tokens``), one labelled point per run, as
the efficiency figure of the JADE paper does.

Runs on different questions (their ``questions_hash`` differ: another dataset, file, Synthetic world or ``--limit``)
are not comparable: ``compare`` refuses them and names each run's questions, unless ``--mixed`` is given, in which
case the table gains a ``split`` column and a warning is printed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jade_env.errors import JadeError

COSTS = ("retrieval_calls", "rounds", "tokens")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compare", help="compare evaluation runs (table, F1-versus-cost plot)", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="DIR", help="run folders written by jade-rag evaluate")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="write an F1-versus-cost figure")
    p.add_argument("--cost", default="retrieval_calls", choices=COSTS, help="the x axis of the plot")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--mixed", action="store_true", help="compare runs made on different questions anyway (with a warning)")
    p.set_defaults(func=run)


def load_run(folder: str) -> dict:
    path = Path(folder) / "metrics.json"
    try:
        metrics = json.loads(path.read_text())
    except FileNotFoundError:
        raise JadeError(f"{folder}: no metrics.json; expected a run folder written by jade-rag evaluate") from None
    except ValueError as err:
        raise JadeError(f"{path}: not valid JSON ({err})") from None
    metrics["run"] = Path(folder).name
    return metrics


def run(args: argparse.Namespace) -> int:
    if args.plot:
        check_plot_path(Path(args.plot))
    rows = [load_run(f) for f in args.runs]
    splits = {r.get("questions_hash", (r.get("split_hash"), r["n"])) for r in rows}
    if len(splits) > 1:
        which = "; ".join(f"{r['run']}: {r['env_id']}, {r['n']} questions, {str(r.get('questions_hash'))[:12]}" for r in rows)
        if not args.mixed:
            raise JadeError(f"these runs were made on different questions, so their scores are not comparable ({which}); "
                            "evaluate them on one split, or pass --mixed to compare anyway")
        import sys

        print(f"warning: the runs were made on different questions ({which})", file=sys.stderr)
    header = ["run", "env", "agent", "n", "EM", "F1", "sub_em", "rounds", "calls", "tokens"] + (["questions"] if len(splits) > 1 else [])
    table = [[r["run"], r["env_id"], r["agent"], str(r["n"]), f"{r['em']:.3f}", f"{r['f1']:.3f}", f"{r['sub_em']:.3f}",
              f"{r.get('rounds_mean', 0):.2f}", f"{r.get('retrieval_calls_mean', 0):.2f}", f"{r.get('tokens_mean', 0):.0f}"]
             + ([str(r.get("questions_hash"))[:12]] if len(splits) > 1 else []) for r in rows]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for line in table:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(h), *(len(line[i]) for line in table)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for line in table:
            print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
    if args.plot:
        plot(rows, args.cost, Path(args.plot))
        print(f"figure: {args.plot}")
    return 0


def check_plot_path(out: Path) -> None:
    """JadeError, before anything is computed, when ``--plot`` names a format matplotlib cannot write or a place where no
    file can be made."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise JadeError("--plot needs matplotlib: pip install 'jade-env[plot]'") from None

    from jade_env.errors import output_folder

    formats = FigureCanvasBase.get_supported_filetypes()
    if out.suffix.lower().lstrip(".") not in formats:
        raise JadeError(f"--plot {out}: the file name must end in the figure's format, one of {', '.join('.' + f for f in formats)}")
    output_folder(out.parent, "--plot")
    if out.is_dir():
        raise JadeError(f"--plot {out}: is a folder; expected a file name such as {out / 'f1.png'}")


def plot(rows: list[dict], cost: str, out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise JadeError("--plot needs matplotlib: pip install 'jade-env[plot]'") from None
    fig, ax = plt.subplots(figsize=(7.2, 4.4), dpi=120)
    markers = "osD^vP*Xhp"
    for i, r in enumerate(rows):
        x, y = r.get(f"{cost}_mean", 0.0), r["f1"] * 100
        label = f"{r['agent']} ({r['env_id'].removeprefix('JadeRAG-').removesuffix('-v0')})"
        ax.scatter([x], [y], s=70, marker=markers[i % len(markers)], label=label, alpha=0.85, zorder=3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_xlabel({"retrieval_calls": "retrieval calls per question", "rounds": "rounds per question",
                   "tokens": "tokens per question"}[cost])
    ax.set_ylabel("F1 (%)")
    ax.set_title("F1 versus cost")
    ax.grid(alpha=0.3)
    ax.set_ylim(0, 100)  # the whole F1 range, so that small differences look small
    ax.set_xlim(left=0, right=max([r.get(f"{cost}_mean", 0.0) for r in rows] + [1.0]) * 1.15)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
