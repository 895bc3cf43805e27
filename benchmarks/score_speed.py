"""Whole-process time of ``jade-rag score`` against the official HotpotQA evaluation script, on the same files.

    python benchmarks/score_speed.py --hotpot-script /path/to/hotpot_evaluate_v1.py [--runs 20]

Both score the gold answers of the shared HotpotQA dev file (103 questions, as the official prediction JSON) as
whole processes, started the same way (``sys.executable`` running a file: the official script, and
``jade_env/cli.py`` as ``jade-rag`` runs it), interleaved run by run; the median and the minimum of the wall
times are reported, with the load average. The official script comes from github.com/hotpotqa/hotpot (it needs
``ujson``); it is not part of this repository. Results go to the ``## Scorer start-up`` section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from results import Steal, machine, write_section  # noqa: E402

SECTION = "## Scorer start-up"
GOLD = HERE.parent.parent / "shared" / "data" / "hotpotqa" / "hotpot_dev_distractor_v1_100.json"


# as an installed jade-rag runs: with its bytecode cache (a shell with PYTHONDONTWRITEBYTECODE=1 would have every
# module of ours compiled again at each start, while the official script, a single file, is compiled every time anyway)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=ENV)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hotpot-script", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    gold = json.loads(GOLD.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        pred = Path(tmp) / "pred.json"
        pred.write_text(json.dumps({"answer": {r["_id"]: r["answer"] for r in gold}, "sp": {r["_id"]: [] for r in gold}}))
        cli = HERE.parent / "jade_env" / "cli.py"
        commands = {"official hotpot_evaluate_v1.py": [sys.executable, str(args.hotpot_script), str(pred), str(GOLD)],
                    "jade-rag score": [sys.executable, str(cli), "score", "--gold", str(GOLD), "--pred", str(pred)]}
        for command in commands.values():  # warm the page cache and write the bytecode caches
            timed(command)
        loads = [Path("/proc/loadavg").read_text().split()[0]]
        steal = Steal()
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                times[name].append(timed(command))
        loads.append(Path("/proc/loadavg").read_text().split()[0])
        stolen = steal.share()
    lines = [SECTION, "", f"Measured {datetime.date.today().isoformat()} on {machine()}; command: "
             f"`python benchmarks/score_speed.py --hotpot-script hotpot_evaluate_v1.py --runs {args.runs}` ({args.runs} interleaved "
             f"runs each, load average {loads[0]} at the start and {loads[1]} at the end, CPU steal {stolen:.0%} of the busy time). "
             "Both score the 103 gold answers of "
             "the shared HotpotQA dev file as one whole process.", "",
             "| scorer | median s | min s |", "|---|---:|---:|"]
    for name, values in times.items():
        lines.append(f"| {name} | {statistics.median(values):.3f} | {min(values):.3f} |")
    ratio = statistics.median(times["jade-rag score"]) / statistics.median(times["official hotpot_evaluate_v1.py"])
    lines += ["", f"`jade-rag score` / official, medians: {ratio:.2f}x ({'met' if ratio <= 1.0 else 'MISSED'}: the target is <= 1)."]
    body = "\n".join(lines) + "\n"
    write_section(SECTION, body)
    print(body)


if __name__ == "__main__":
    main()
