"""Write every episode as one JSONL trajectory record, and replay a record step by step.

A record holds what is needed to re-run the episode exactly: the env id and its JSON-serialisable
``make`` keywords, the question index, and every action the caller took; plus what came out (the
prediction, reward, metrics, counters, and per step the role, validity and message), so that a
replay can be checked against it. With a deterministic retriever (or the SQLite replay cache), the
replay reproduces every observation, reward and info.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import gymnasium as gym

from jade_env.errors import DataFormatError, json_problem
from jade_env.run_folder import json_line


def _serialisable_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in kwargs.items():
        try:
            json.dumps(value)
        except TypeError:
            continue  # objects (an executor, a Retriever) cannot be written; replay() takes them again
        out[key] = value
    return out


class TrajectoryRecorder:
    """Builds the record of one episode from what ``reset`` and ``step`` returned (used by the wrapper and ``evaluate``)."""

    def __init__(self) -> None:
        self.actions: list[str | None] = []
        self.steps: list[dict[str, Any]] = []
        self.start: dict[str, Any] = {}

    def reset(self, seed: int | None, info: dict[str, Any]) -> None:
        self.actions, self.steps = [], []
        self.start = {"seed": seed, "question_index": info["question_index"], "question_id": info["question_id"]}

    def step(self, action: Any, reward: float, info: dict[str, Any], observation: dict[str, Any] | None = None) -> None:
        """One agent step; ``observation`` is the one the action answered: its prompt (``system``, ``user``) is kept,
        so that a trajectories file is a chat dataset without a replay (``python -m baselines.sft_dataset --trajectories``)."""
        self.actions.append(action if isinstance(action, str) else None)
        step = {"role": info["role"], "valid": info["valid"], "message": info["message"],
                "reward": reward, "executor_steps": json.loads(info["executor_steps"])}
        if observation is not None:
            step["system"], step["user"] = observation["system"], observation["user"]
        self.steps.append(step)

    def record(self, spec: Any, info: dict[str, Any], terminated: bool, truncated: bool) -> dict[str, Any]:
        """The episode's record; ``info`` is the final step's."""
        return {
            "env_id": spec.id if spec else None,
            "env_kwargs": _serialisable_kwargs(dict(spec.kwargs) if spec else {}),
            **self.start,
            "actions": self.actions,
            "steps": self.steps,
            "terminated": terminated,
            "truncated": truncated,
            "prediction": info["prediction"],
            "gold_answers": json.loads(info["gold_answers"]),
            "metrics": info["metrics"],
            "reward_components": info["reward_components"],
            "counters": info["counters"],
            "workflow": info["workflow"],
            "supporting_title_recall": info["supporting_title_recall"] if info["n_supporting_titles"] else None,
            "return": sum(s["reward"] for s in self.steps),
        }


class RecordTrajectories(gym.Wrapper):
    """Append one JSON line per finished episode to ``path`` (flushed at each episode end); every step keeps the prompt
    (``system``, ``user``) its action answered."""

    def __init__(self, env: gym.Env, path: str | os.PathLike) -> None:
        super().__init__(env)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.recorder = TrajectoryRecorder()
        self.observation: dict[str, Any] | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.recorder.reset(seed, info)
        self.observation = obs
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.recorder.step(action, reward, info, self.observation)
        self.observation = obs
        if terminated or truncated:
            with self.path.open("a", encoding="utf-8") as f:  # json_line: an action with a lone surrogate is written escaped
                f.write(json_line(self.recorder.record(self.env.spec, info, terminated, truncated)))
        return obs, reward, terminated, truncated, info


def read_trajectories(path: str | os.PathLike, what: str = "trajectory record") -> list[dict[str, Any]]:
    """The records of a trajectories file (or any JSONL file of objects, ``what`` naming them in errors), in order."""
    records = []
    with Path(path).open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataFormatError(f"{path}:{lineno}: invalid JSON ({json_problem(err)}); expected one {what} per line") from None
            if not isinstance(record, dict):
                raise DataFormatError(f"{path}:{lineno}: a JSON {type(record).__name__}; expected one {what} (an object) per line")
            records.append(record)
    return records


def replay(record: dict[str, Any], env: gym.Env | None = None, **make_kwargs: Any) -> dict[str, Any]:
    """Re-run a recorded episode step by step; returns the final info (compare with the record).

    ``env`` is used when given; otherwise it is made from the record's id and keywords, updated with
    ``make_kwargs`` (pass again what could not be written, such as ``executor=``).
    """
    own = env is None
    if env is None:
        env = gym.make(record["env_id"], **{**record["env_kwargs"], **make_kwargs})
    try:
        _, info = env.reset(seed=record.get("seed"), options={"index": record["question_index"]})
        total = 0.0
        for action in record["actions"]:
            _, reward, terminated, truncated, info = env.step(action)
            total += reward
        info = dict(info)
        info["return"] = total
        return info
    finally:
        if own:
            env.close()
