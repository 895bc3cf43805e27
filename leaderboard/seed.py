"""Seed a leaderboard database with this project's reference agents on every track whose data is present.

    python -m leaderboard.seed --db leaderboard.sqlite [--runs runs/leaderboard] [--render site/]

Each entry is a ``jade-rag evaluate`` run of one reference agent (pooled corpus, BM25 top 5, seed 0) whose
command is stored with it. Trained baselines are submitted the same way from their run folders:
``jade-rag leaderboard submit --track synthetic --predictions RUN/eval/predictions.jsonl --metadata ...``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from baselines.agents import AGENTS
from baselines.evaluate import evaluate
from jade_env.errors import JadeError
from leaderboard.store import submit
from leaderboard.submission import load_submission
from leaderboard.tracks import TRACKS


def submit_trained(run: Path, db: str, runs: Path) -> None:
    """Evaluate a trained compact policy on the synthetic track, as its own held-out evaluation did, and submit it."""
    from sb3_contrib import MaskablePPO

    from baselines.discrete_env import TrainedTeam
    from baselines.evaluate import evaluate_agent
    from baselines.train import Args, env_id_of, frozen_executors, paradigm_of

    config = json.loads((run / "config.json").read_text())
    args = Args(**{**config, "out": str(run)})
    paradigm = paradigm_of(args)
    model = MaskablePPO.load(run / "model.zip", device="cpu")
    fallback = frozen_executors(args, epsilon=0.0, seed=0) if not paradigm.monolithic else None  # the spec, greedy
    track = TRACKS["synthetic"]
    out = runs / "synthetic" / f"trained-{run.name}"
    env_kwargs = {**track.env_kwargs(), **({"workflow": paradigm.workflow} if paradigm.workflow else {})}
    evaluate_agent(env_id_of(track.env_id, paradigm),
                   lambda examples: TrainedTeam(model, roles=paradigm.roles, allow_ds=args.allow_ds, fallback=fallback,
                                                workflows=paradigm.workflows),
                   out, agent_name=f"compact-{args.paradigm}", env_kwargs=env_kwargs, progress=False)
    command = (f"jade-rag train --paradigm {args.paradigm} --spec {args.spec} --steps {args.steps} --seed {args.seed} "
               f"--env-kwargs '{args.env_kwargs}' --out {run.name}")
    meta = {"method": f"compact {args.paradigm} PPO, {args.spec} executors ({args.steps // 1000}k steps, seed {args.seed})",
            "paradigm": args.paradigm if args.paradigm in ("joint", "decoupled", "static", "monolithic") else "other",
            "model": "MLP 128x128 over candidate features", "parameters": None,
            "training_data": f"Synthetic {args.env_kwargs}", "code_link": "", "contact": "jade_env", "seed": args.seed,
            "track": "synthetic", "command": command}
    (out / "submission.json").write_text(json.dumps(meta, indent=2))
    sid, created, scores = submit(db, track, load_submission(track, out / "predictions.jsonl", out / "submission.json"))
    print(f"synthetic      {meta['method']:<40} F1 {scores['f1']:.3f}  (submission {sid})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--runs", default="runs/leaderboard")
    parser.add_argument("--render", default=None, help="also write the page and the Markdown table here")
    parser.add_argument("--trained", action="append", default=[], metavar="RUN_DIR",
                        help="a run folder of baselines.train (config.json, model.zip), evaluated on the synthetic track")
    args = parser.parse_args()
    for run in args.trained:
        submit_trained(Path(run), args.db, Path(args.runs))
    for slug, track in TRACKS.items():
        try:
            track.examples()
        except JadeError as err:
            print(f"skipping track {slug}: {err}")
            continue
        if track.corpus != "pooled":
            print(f"skipping track {slug}: its envs need an external corpus ({track.corpus}), which is not on this machine")
            continue
        for agent in AGENTS:
            out = Path(args.runs) / slug / agent
            evaluate(track.env_id, agent, out, env_kwargs=track.env_kwargs(), progress=False)
            command = track.command(agent, str(out))
            meta = {"method": agent if agent != "oracle" else "oracle (upper bound)", "paradigm": "reference",
                    "model": "scripted rules", "parameters": 0, "training_data": "none", "code_link": "", "contact": "jade_env",
                    "seed": 0, "track": slug, "command": command}
            meta_path = out / "submission.json"
            meta_path.write_text(json.dumps(meta, indent=2))
            sid, created, scores = submit(args.db, track, load_submission(track, out / "predictions.jsonl", meta_path))
            print(f"{slug:<14} {agent:<18} F1 {scores['f1']:.3f}  (submission {sid}{'' if created else ', already there'})")
    if args.render:
        from leaderboard.render import render
        from leaderboard.store import rows

        for path in render(rows(args.db), args.render):
            print(path)


if __name__ == "__main__":
    main()
