"""Training speed of the compact policy, per paradigm, on two cores.

    python benchmarks/train_speed.py [--steps 5000]

Trains each paradigm for ``--steps`` environment steps on Synthetic (masked PPO, n_steps 512, batch 128)
and reports environment steps per second over the whole ``learn`` call (rollouts, retrieval and the
PPO updates together). Written to the ``## Training speed`` section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from results import machine, write_section  # noqa: E402

SECTION = "## Training speed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5000)
    args = parser.parse_args()
    from baselines.train import PARADIGMS, Args, train

    rows = []
    for paradigm in PARADIGMS:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            train(Args(paradigm=paradigm, steps=args.steps, out=tmp, log_every=0, eval_kwargs='{"n": 1, "synthetic": {"seed": 1}}'))
            seconds = time.perf_counter() - started
        rows.append((paradigm, args.steps / seconds, seconds))
    lines = [SECTION, "", f"Measured {datetime.date.today().isoformat()} on {machine()}; command: "
             f"`python benchmarks/train_speed.py --steps {args.steps}` (compact policy, Synthetic, one process; the time "
             "includes building the env and one evaluation episode).", "", "| paradigm | env steps / s | seconds |", "|---|---:|---:|"]
    lines += [f"| {p} | {rate:,.0f} | {s:.1f} |" for p, rate, s in rows]
    body = "\n".join(lines) + "\n"
    write_section(SECTION, body)
    print(body)


if __name__ == "__main__":
    main()
