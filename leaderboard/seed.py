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
from leaderboard.tracks import TRACKS, shared_data


def track_env_kwargs(slug: str) -> dict:
    track = TRACKS[slug]
    if track.source == "synthetic":
        return {"n": track.synthetic["n"], "synthetic": {"seed": track.synthetic["seed"]}}
    return {"data_path": str(shared_data() / track.source)}


def submit_trained(run: Path, db: str, runs: Path) -> None:
    """Evaluate a trained compact policy on the synthetic track and submit it."""
    from sb3_contrib import MaskablePPO

    from baselines.agents import make_agent
    from baselines.discrete_env import TrainedTeam
    from baselines.evaluate import evaluate_agent
    from baselines.train import PARADIGMS

    config = json.loads((run / "config.json").read_text())
    model = MaskablePPO.load(run / "model.zip", device="cpu")
    roles = PARADIGMS[config["paradigm"]][1]
    track = TRACKS["synthetic"]
    out = runs / "synthetic" / f"trained-{run.name}"
    suffix = "" if config["paradigm"] in ("joint", "decoupled") else PARADIGMS[config["paradigm"]][0]
    env_id = track.env_id.replace("-v0", f"{suffix}-v0")
    evaluate_agent(env_id, lambda examples: TrainedTeam(model, roles=roles, allow_ds=config["allow_ds"], fallback=make_agent("rule-planner")),
                   out, agent_name=f"compact-{config['paradigm']}", env_kwargs=track_env_kwargs("synthetic"), progress=False)
    command = (f"python -m baselines.train --paradigm {config['paradigm']} --steps {config['steps']} --seed {config['seed']} "
               f"--env-kwargs '{config['env_kwargs']}' --out {run}")
    meta = {"method": f"compact {config['paradigm']} PPO ({config['steps'] // 1000}k steps, seed {config['seed']})",
            "paradigm": config["paradigm"], "model": "MLP 128x128 over candidate features", "parameters": None,
            "training_data": f"Synthetic {config['env_kwargs']}", "code_link": "", "contact": "jade_env", "seed": config["seed"],
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
            kwargs = track_env_kwargs(slug)
            evaluate(track.env_id, agent, out, env_kwargs=kwargs, progress=False)
            command = f"jade-rag evaluate --env {track.env_id} --agent {agent} --env-kwargs '{json.dumps(kwargs)}' --out {out}"
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
