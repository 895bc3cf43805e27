"""A leaderboard submission end to end: evaluate on a track, describe the method, validate, submit, render the page.

    python examples/leaderboard_submission.py --out runs/my-submission [--agent rule-planner] [--track synthetic]

The same steps on the command line:

    jade-rag evaluate --track synthetic --agent rule-planner --out runs/my-submission
    jade-rag leaderboard validate --track synthetic --predictions runs/my-submission/predictions.jsonl --metadata submission.json
    jade-rag leaderboard submit --db board.sqlite --track synthetic --predictions ... --metadata submission.json
    jade-rag leaderboard render --db board.sqlite --out site/
"""

import argparse
import json
from pathlib import Path

from jade_env.cli import main as jade_rag

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--out", default="runs/my-submission")
parser.add_argument("--agent", default="rule-planner", help="a reference agent, hf, openai or package.module:Class")
parser.add_argument("--track", default="synthetic")
args = parser.parse_args()
out = Path(args.out)

# 1. predictions on every question of the track, in the track's env (its corpus, retriever and limits)
assert jade_rag(["evaluate", "--track", args.track, "--agent", args.agent, "--out", str(out / "run"), "--quiet"]) == 0

# 2. what the page shows about the method (every field is checked; the code link must be http(s) or empty)
metadata = {"method": f"my {args.agent}", "paradigm": "reference", "model": "scripted rules", "parameters": 0,
            "training_data": "none", "code_link": "https://github.com/example/my-method", "contact": "me@example.org",
            "seed": 0, "track": args.track,
            "command": f"jade-rag evaluate --track {args.track} --agent {args.agent} --out {out / 'run'}"}
(out / "submission.json").write_text(json.dumps(metadata, indent=2))

# 3. validate (nothing is stored), 4. submit (idempotent: the same files twice are stored once), 5. render
files = ["--track", args.track, "--predictions", str(out / "run" / "predictions.jsonl"), "--metadata", str(out / "submission.json")]
assert jade_rag(["leaderboard", "validate", *files]) == 0
assert jade_rag(["leaderboard", "submit", "--db", str(out / "board.sqlite"), *files]) == 0
assert jade_rag(["leaderboard", "render", "--db", str(out / "board.sqlite"), "--out", str(out / "site")]) == 0
