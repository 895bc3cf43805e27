"""The one ``info`` schema of every JadeRAG env, at every step (docs/environment.md, "Info").

Every ``reset`` and ``step`` of every env (team, decoupled, static, monolithic; Gymnasium, vector and
PettingZoo) returns an info dict with exactly the keys of :data:`INFO_KEYS`, each always of the same type.
Values are fixed-shape: strings, numbers, booleans, and dicts whose keys never change. Sequences whose
length varies from step to step (retrieved ids, per-transition rewards, ...) are JSON text, as the
observation's ``fields`` is, so that Gymnasium's vector info merge, ``RecordEpisodeStatistics`` and
tianshou's replay buffers take the info as it is; :func:`decode` turns them back into lists. Values that
exist only at the end of an episode (reward components, transition rewards, ...) hold zero-like defaults
before it, and ``episode_end`` says which is which. ``prediction`` and ``metrics`` always describe the best
answer so far, so an episode cut by a step limit outside the env (Gymnasium's ``TimeLimit``) ends with the
score of what it had found.

==========================  =======  ===========================================================================
key                         type     meaning
==========================  =======  ===========================================================================
``question_id``             str      the dataset's id of the question
``question_index``          int      its index in the env's split (``reset(options={"index": i})`` pins it)
``role``                    str      the role whose output this step took (``""`` after ``reset``)
``action_raw``              str      that output, cut to 4,000 characters
``action_chars``            int      its full length
``action_parsed``           JSON     the value used: the parse, or the fallback when invalid (a list)
``valid``                   bool     whether the output was valid (True after ``reset``)
``message``                 str      why it was invalid (``""`` when valid)
``penalty``                 float    its format penalty (0 or negative)
``executor_steps``          JSON     the turns the frozen executors played since: ``[{role, valid, message, penalty}]``
``retrieved_ids``           JSON     ids of the passages retrieved since the last step, in order
``retrieved_titles``        JSON     their titles
``counters``                dict     rounds, retrieval_calls, and per role: steps, invalid, chars/tokens read/written
``workflow``                str      the top-level workflow (``"QR,R,DS,AG"``, ``"QDS"``; ``"monolithic"``), ``""`` before it
``episode_end``             bool     True on the step that ended the episode (terminated or truncated)
``truncated``               bool     the episode hit its step cap
``prediction``              str      the final answer; before the end, the best answer so far (what a truncation scores)
``gold_answers``            JSON     the gold answer and its aliases (``[]`` before the end)
``metrics``                 dict     em, f1, precision, recall, sub_em of ``prediction``
``reward_components``       dict     every reward component (:func:`jade_env.workflow.rewards.reward_components`)
``global_reward``           float    the episode's global reward (0 before the end)
``supporting_title_recall`` float    share of the gold supporting titles retrieved (0 when unknown, see below)
``n_supporting_titles``     int      how many gold supporting titles the question has (0: recall is unknown)
``transition_rewards``      JSON     at the end, per agent step (the frozen executors' turns too): its penalty plus its
                                     share of the global reward
``transition_roles``        JSON     at the end, the role of each agent step (select the caller's turns by role)
==========================  =======  ===========================================================================
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from jade_env.json_text import floats_json, strings_json, to_json
from jade_env.workflow.episode import MAX_RECORDED_ACTION_CHARS, EpisodeBase, StepRecord
from jade_env.workflow.rewards import REWARD_COMPONENTS

INFO_KEYS: tuple[str, ...] = (
    "question_id", "question_index", "role", "action_raw", "action_chars", "action_parsed", "valid", "message", "penalty",
    "executor_steps", "retrieved_ids", "retrieved_titles", "counters", "workflow", "episode_end", "truncated", "prediction",
    "gold_answers", "metrics", "reward_components", "global_reward", "supporting_title_recall", "n_supporting_titles",
    "transition_rewards", "transition_roles",
)
#: the keys whose values are JSON text (lists); :func:`decode` parses them
JSON_KEYS: frozenset[str] = frozenset({"action_parsed", "executor_steps", "retrieved_ids", "retrieved_titles", "gold_answers",
                                       "transition_rewards", "transition_roles"})
_NO_COMPONENTS = dict.fromkeys(REWARD_COMPONENTS, 0.0)


def parsed_list(role: str, value: Any) -> list:
    """A record's parsed value (or fallback) as a list: codes, sub-questions, ``[query]``, document ids, ``[answer]``."""
    if value is None:
        return []
    if role == "ds":
        return [f"Document{i}" for i in value]
    if isinstance(value, str):
        return [value]
    return list(value)


@lru_cache(maxsize=4096)
def _parsed_text(role: str, value: Any) -> str:
    """``action_parsed``: the JSON text of :func:`parsed_list`, kept for the values seen again (a workflow, a fallback)."""
    return strings_json(parsed_list(role, value))


def _start(example: Any) -> tuple[dict[str, Any], str]:
    """The info of an episode's ``reset`` on ``example`` (every key, in :data:`INFO_KEYS` order, with the values a step
    starts from; ``question_index`` is set by each step), and the JSON text of its gold answers (for the last step)."""
    start = {
        "question_id": example.id, "question_index": 0, "role": "", "action_raw": "", "action_chars": 0,
        "action_parsed": "[]", "valid": True, "message": "", "penalty": 0.0, "executor_steps": "[]", "retrieved_ids": "[]",
        "retrieved_titles": "[]", "counters": None, "workflow": "", "episode_end": False, "truncated": False, "prediction": "",
        "gold_answers": "[]", "metrics": None, "reward_components": None, "global_reward": 0.0, "supporting_title_recall": 0.0,
        "n_supporting_titles": len(set(example.supporting_titles)), "transition_rewards": "[]", "transition_roles": "[]",
    }
    return start, strings_json(list(example.answers))


#: the :func:`_start` of each example seen lately, by ``id`` (the example held too, so that its id is not reused while
#: kept; examples are never changed): a step copies the dict and sets what changed. Emptied when full.
_starts: dict[int, tuple[Any, dict[str, Any], str]] = {}
_STARTS_SIZE = 4096


def step_info(episode: EpisodeBase, question_index: int, record: StepRecord | None,
              executor_records: Sequence[StepRecord]) -> dict[str, Any]:
    """The info of the step that gave ``record`` (None after ``reset``), the executors having played ``executor_records``."""
    example = episode.example
    kept = _starts.get(id(example))
    if kept is None or kept[0] is not example:
        if len(_starts) >= _STARTS_SIZE:
            _starts.clear()
        kept = _starts[id(example)] = (example, *_start(example))
    info = kept[1].copy()
    info["question_index"] = question_index
    if record is not None:
        role, raw = record.role, record.raw
        info["role"] = role
        info["action_raw"] = raw if len(raw) <= MAX_RECORDED_ACTION_CHARS else raw[:MAX_RECORDED_ACTION_CHARS]
        info["action_chars"] = len(raw)
        try:
            info["action_parsed"] = _parsed_text(role, record.parsed)
        except TypeError:  # an unhashable value (a list)
            info["action_parsed"] = strings_json(parsed_list(role, record.parsed))
        info["valid"], info["message"], info["penalty"] = record.valid, record.message, float(record.penalty)
        retrieved_ids, retrieved_titles = record.retrieved_ids, record.retrieved_titles
    else:
        retrieved_ids = retrieved_titles = []
    if executor_records:
        retrieved_ids = [*retrieved_ids, *(i for r in executor_records for i in r.retrieved_ids)]
        retrieved_titles = [*retrieved_titles, *(t for r in executor_records for t in r.retrieved_titles)]
        info["executor_steps"] = to_json([{"role": r.role, "valid": r.valid, "message": r.message, "penalty": float(r.penalty)}
                                          for r in executor_records])
    if retrieved_ids:
        info["retrieved_ids"], info["retrieved_titles"] = strings_json(retrieved_ids), strings_json(retrieved_titles)
    info["counters"] = episode.counters.as_dict()
    info["workflow"] = episode.top_workflow
    info["metrics"] = episode.current_metrics()
    if episode.pending is not None:
        info["prediction"] = episode.current_answer
        info["reward_components"] = _NO_COMPONENTS.copy()
    else:  # the end: what only the end knows
        info["episode_end"], info["truncated"], info["prediction"] = True, episode.truncated, episode.prediction or ""
        info["gold_answers"] = kept[2]
        info["reward_components"] = dict(episode.reward_components or _NO_COMPONENTS)
        info["global_reward"] = float(episode.reward or 0.0)
        info["supporting_title_recall"] = float(episode.supporting_title_recall or 0.0)
        info["transition_rewards"] = floats_json(episode.transition_rewards())
        info["transition_roles"] = strings_json([r.role for r in episode.records])
    return info


def decode(info: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``info`` with its JSON values (:data:`JSON_KEYS`) parsed into lists."""
    return {k: (json.loads(v) if k in JSON_KEYS and isinstance(v, str) else v) for k, v in info.items()}
