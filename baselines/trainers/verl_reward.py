"""The JadeRAG reward in verl's form, and the dataset rows verl's agent loops read (no verl import needed).

``compute_score(data_source, solution_str, ground_truth, extra_info)`` is what verl's reward manager calls
(``reward.custom_reward_function.path`` / ``.name``): the last ``<answer>`` of the decoded response, scored with
the project's scorer (:func:`jade_env.scoring.score_answer`) against every gold alias: EM for Search-R1-style
runs (``extra_info["outcome"] == "em"``, the default), F1 or sub-EM otherwise. A response without an answer
scores 0. The agent loops (:mod:`baselines.trainers.verl_agent_loop`) set the env's own reward instead
(``reward_score``), which adds format penalties and the JADE cost terms; this function is for runs and
evaluations that score text.

:func:`rows` makes the dataset (one row per question of an env's split, with the agent loop's name and the env's
id and keywords); :func:`write_parquet` writes it where ``data.train_files`` points.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from jade_env.scoring import score_answer

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
OUTCOMES = ("em", "f1", "sub_em")


def golds_of(ground_truth: Any) -> list[str]:
    """Gold aliases from a string, a list, or Search-R1's ``{"target": [...]}``."""
    if isinstance(ground_truth, Mapping):
        ground_truth = ground_truth.get("target", ground_truth.get("answers", []))
    if isinstance(ground_truth, str):
        return [ground_truth]
    return [str(g) for g in list(ground_truth)]


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None = None,
                  **kwargs: Any) -> float:
    """verl's reward function: the last ``<answer>`` in ``solution_str`` scored against ``ground_truth``."""
    outcome = str((extra_info or {}).get("outcome", "em"))
    if outcome not in OUTCOMES:
        raise ValueError(f"extra_info['outcome']={outcome!r} is unknown; expected one of {', '.join(OUTCOMES)}")
    answers = _ANSWER.findall(solution_str or "")
    golds = golds_of(ground_truth)
    if not answers or not golds:
        return 0.0
    return float(getattr(score_answer(answers[-1].strip(), golds), outcome))


def rows(env: Any, env_id: str, env_kwargs: Mapping[str, Any], agent_name: str, train_roles: Sequence[str] | None = None,
         outcome: str = "em") -> list[dict[str, Any]]:
    """One verl dataset row per question of ``env``'s split (verl's RLHFDataset columns; the loop reads ``extra_info``)."""
    out = []
    for i, example in enumerate(env.unwrapped.examples):
        out.append({
            "data_source": f"jade_env/{env_id}",
            "prompt": [{"role": "user", "content": example.question}],
            "agent_name": agent_name,
            "ability": "rag",
            "reward_model": {"style": "rule", "ground_truth": {"target": list(example.answers)}},
            "extra_info": {"index": i, "env_id": env_id, "env_kwargs": dict(env_kwargs), "outcome": outcome,
                           "train_roles": list(train_roles) if train_roles else None, "question_id": example.id},
        })
    return out


def write_parquet(records: Sequence[Mapping[str, Any]], path: str) -> None:
    """Write ``records`` as the Parquet file verl's ``data.train_files`` reads (env keywords kept as JSON text)."""
    import json

    import pandas as pd

    frame = pd.DataFrame([{**r, "extra_info": {**r["extra_info"], "env_kwargs": json.dumps(r["extra_info"]["env_kwargs"])}}
                          for r in records])
    frame.to_parquet(path)
