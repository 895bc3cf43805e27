"""Trajectories as a chat SFT dataset: one example per role turn, its prompt and the completion the agent wrote.

    python -m baselines.sft_dataset --agent rule-planner --env JadeRAG-Synthetic-v0 --questions 64 --out runs/sft/rule-planner.jsonl
    python -m baselines.sft_dataset --trajectories runs/x/trajectories.jsonl --out runs/sft/x.jsonl   # no replay

Any agent ``jade-rag evaluate`` knows plays whole episodes (a scripted team, ``hf``, ``openai`` or
``package.module:Class``, built by :func:`baselines.evaluate.agent_factory`); every agent step becomes one
JSON line in the conversational prompt/completion form that ``datasets`` and TRL's SFT trainer read::

    {"prompt": [{"role": "system", ...}, {"role": "user", ...}], "completion": [{"role": "assistant", "content": ACTION}],
     "team_role": "planner", "question_id": ..., "question_index": 3, "valid": true, "f1": 1.0}

``datasets.load_dataset("json", data_files=PATH, split="train")`` loads it (offline with
``HF_DATASETS_OFFLINE=1``); :func:`read_sft_dataset` reads it without ``datasets``. By default only
valid turns are kept (``--keep-invalid`` keeps all), and, with ``--min-f1``, only turns of episodes that
scored at least that F1. The warm start of :mod:`baselines.ppo_lm` (``--sft-data``) trains on this file.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import gymnasium as gym

import jade_env  # noqa: F401
from jade_env.errors import DataFormatError
from jade_env.run_folder import json_line
from jade_env.wrappers.record_trajectories import read_trajectories

FIELDS = ("prompt", "completion", "team_role")


def sft_example(role: str, system: str, user: str, action: str, question_id: str, index: int) -> dict[str, Any]:
    """One role turn in the conversational prompt/completion form (``valid`` and ``f1`` are added by the caller)."""
    return {"prompt": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "completion": [{"role": "assistant", "content": action}], "team_role": role,
            "question_id": question_id, "question_index": index}


def turns_of_record(record: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The SFT examples of one trajectory record (RecordTrajectories, ``jade-rag evaluate``), from its stored prompts."""
    turns = []
    for step, action in zip(record.get("steps", []), record.get("actions", []), strict=False):
        if "user" not in step:
            raise DataFormatError(f"{where}: a step without its prompt; expected trajectories written by jade_env 0.2 or later "
                                  "(every step holds system and user)")
        turns.append({**sft_example(step["role"], step["system"], step["user"], action or "", record["question_id"],
                                    record["question_index"]), "valid": bool(step["valid"]), "f1": float(record["metrics"]["f1"])})
    return turns


def export_from_trajectories(path: str | Path, out: str | Path, keep_invalid: bool = False, min_f1: float = 0.0) -> dict[str, Any]:
    """Write the SFT examples of a recorded trajectories file to ``out`` (no replay); returns a summary."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    kept, dropped = 0, 0
    records = read_trajectories(path)
    with out.open("w", encoding="utf-8") as f:
        for lineno, record in enumerate(records, start=1):
            for turn in turns_of_record(record, f"{path}:{lineno}"):
                if (turn["valid"] or keep_invalid) and turn["f1"] >= min_f1:
                    f.write(json_line(turn))
                    kept += 1
                else:
                    dropped += 1
    return {"path": str(out), "examples": kept, "dropped": dropped, "episodes": len(records)}


def episode_turns(env: gym.Env, agent: Any, index: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One episode of ``agent`` on question ``index``: its turns as SFT examples, and the final info."""
    obs, info = env.reset(seed=seed, options={"index": index})
    turns = []
    while True:
        action = agent.act(obs["role"], obs)
        turns.append(sft_example(obs["role"], obs["system"], obs["user"], action, info["question_id"], index))
        obs, _, terminated, truncated, info = env.step(action)
        turns[-1]["valid"] = bool(info["valid"])
        if terminated or truncated:
            for turn in turns:
                turn["f1"] = float(info["metrics"]["f1"])
            return turns, info


def export_sft_dataset(env_id: str, agent_name: str, out: str | Path, questions: Iterable[int], env_kwargs: dict | None = None,
                       agent_kwargs: dict | None = None, keep_invalid: bool = False, min_f1: float = 0.0, seed: int = 0) -> dict[str, Any]:
    """Write the SFT examples of ``agent_name`` on the questions ``questions`` of ``env_id`` to ``out``; returns a summary."""
    from baselines.evaluate import agent_factory

    make = agent_factory(agent_name, agent_kwargs)
    env = gym.make(env_id, **(env_kwargs or {}))
    agent = make(env.unwrapped.examples)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    kept, dropped, f1s = 0, 0, []
    with out.open("w", encoding="utf-8") as f:
        for index in questions:
            turns, info = episode_turns(env, agent, index, seed + index)
            f1s.append(float(info["metrics"]["f1"]))
            for turn in turns:
                if (turn["valid"] or keep_invalid) and turn["f1"] >= min_f1:
                    f.write(json_line(turn))
                    kept += 1
                else:
                    dropped += 1
    env.close()
    return {"path": str(out), "examples": kept, "dropped": dropped, "episodes": len(f1s), "agent_f1": sum(f1s) / max(len(f1s), 1)}


def read_sft_dataset(path: str | Path) -> list[dict[str, Any]]:
    """The examples of an SFT file, each checked for the fields a trainer reads (one clear error naming the line)."""
    rows = read_trajectories(path, what="SFT example")
    for lineno, row in enumerate(rows, start=1):
        missing = [k for k in FIELDS if k not in row]
        if missing:
            raise DataFormatError(f"{path}: example {lineno}: missing {', '.join(missing)}; expected an example with "
                                  f"{', '.join(FIELDS)} (written by python -m baselines.sft_dataset)")
    if not rows:
        raise DataFormatError(f"{path}: no SFT examples; expected one JSON example per line")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", default="rule-planner", help="a scripted agent, hf, openai or package.module:Class")
    parser.add_argument("--agent-kwargs", type=json.loads, default={})
    parser.add_argument("--env", default="JadeRAG-Synthetic-v0")
    parser.add_argument("--env-kwargs", type=json.loads, default={"n": 64, "synthetic": {"seed": 0}, "max_steps": 12})
    parser.add_argument("--questions", type=int, default=64, help="the first N questions of the split")
    parser.add_argument("--keep-invalid", action="store_true")
    parser.add_argument("--min-f1", type=float, default=0.0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--trajectories", default=None, metavar="FILE",
                        help="export a recorded trajectories.jsonl (jade-rag evaluate, RecordTrajectories) instead of playing the agent")
    args = parser.parse_args()
    if args.trajectories:
        summary = export_from_trajectories(args.trajectories, args.out, args.keep_invalid, args.min_f1)
    else:
        summary = export_sft_dataset(args.env, args.agent, args.out, range(args.questions), args.env_kwargs, args.agent_kwargs,
                                     args.keep_invalid, args.min_f1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
