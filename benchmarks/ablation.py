"""The decoupled-versus-joint experiment and the paper's Table 2 rows at compact scale, into RESULTS.md.

    python benchmarks/ablation.py [--grid main ds table2] [--seeds 0 1 2] [--steps 20000] [--jobs 2] [--out runs/ablation]

Runs ``jade-rag ablate`` (:mod:`baselines.ablation`) with these arguments, then writes its tables with their
reading, the wall time and the command to the ``## Ablation: decoupled versus joint`` section of
benchmarks/RESULTS.md, and every run's F1, seed and command to ``benchmarks/results/ablation.json``. The
figure (``fig4_workflows_by_kind.png``) stays in the run folder.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from results import machine, write_section  # noqa: E402

SECTION = "## Ablation: decoupled versus joint"


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def main() -> None:
    from baselines.ablation import GRIDS, Settings, run_grids

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", nargs="+", choices=GRIDS, default=list(GRIDS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=Settings.steps)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="runs/ablation")
    parser.add_argument("--reading", default="", help="a file with the reading of the tables, written under them")
    args = parser.parse_args()
    settings = Settings(out=args.out, steps=args.steps, jobs=args.jobs, seeds=tuple(args.seeds))
    load_before = load_average()
    result = run_grids(args.grid, settings)
    command = (f"python benchmarks/ablation.py --grid {' '.join(args.grid)} --seeds {' '.join(map(str, args.seeds))} "
               f"--steps {args.steps} --jobs {args.jobs} --out {args.out}")
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "ablation.json").write_text(json.dumps({**result, "command": command, "date": datetime.date.today().isoformat(),
                                                            "machine": machine()}, indent=2) + "\n")
    if (Path(args.out) / "fig4_workflows_by_kind.png").exists():
        shutil.copy(Path(args.out) / "fig4_workflows_by_kind.png", results_dir / "fig4_workflows_by_kind.png")
    reading = Path(args.reading).read_text().strip() + "\n" if args.reading else ""
    reused = sum(bool(r["reused"]) for r in result["runs"])
    body = "\n".join([
        SECTION, "",
        f"Measured {datetime.date.today().isoformat()} on {machine()}; command: `{command}` ({len(result['runs'])} runs, "
        f"{reused} of them reused from earlier invocations into the same folder; this invocation {result['minutes']:.1f} min "
        f"with {args.jobs} jobs; load average {load_before} at the start, {load_average()} at the end: other sessions shared "
        "the machine; the measured wall times are in the reading below). Compact masked-PPO policy on Synthetic; each run trains on its own "
        f"world of {settings.train_n} questions (seed 100 + seed) for {args.steps:,} steps after the one behaviour-cloned start, "
        f"and is evaluated greedily on {settings.eval_n} questions of another world (seed 999). F1 in %, mean ± standard "
        "deviation [min, max] over seeds. Every run's F1, seed and command: `benchmarks/results/ablation.json`; the figure: "
        "`benchmarks/results/fig4_workflows_by_kind.png`.", "",
        (Path(args.out) / "ablation.md").read_text().strip(), "", reading,
    ]).rstrip() + "\n"
    write_section(SECTION, body)
    print(body)


if __name__ == "__main__":
    main()
