"""Evaluate an agent on an environment's questions, writing a resumable run folder.

``evaluate(env_id, agent, out_dir, ...)`` plays one episode per question (every question of the
split, the first ``limit``, or a seeded sample of ``limit``) and writes:

* ``predictions.jsonl``: ``id``, ``prediction``, ``rounds``, ``retrieval_calls``, ``tokens`` (the
  leaderboard's submission format), one line per question, appended and flushed as it finishes;
* ``trajectories.jsonl``: one replayable record per episode (:mod:`jade_env.wrappers.record_trajectories`);
* ``metrics.json``: every scorer metric (from ``predictions.jsonl``, by :func:`jade_env.scoring.score_corpus`),
  cost means, supporting-title recall, workflow distribution, invalid-output rates per role, env id
  and version, corpus and split hashes, agent config.

One process writes a run folder at a time (:class:`jade_env.run_folder.RunLock`): a second ``evaluate``
on the same folder stops at once with one error naming the first one's pid. A run that is interrupted
(Ctrl-C, a killed process, a full disk) leaves complete lines behind; a rerun with the same ``out_dir``
keeps every valid line of both files, moves the bad ones (torn, not JSON, not an object, wrong fields, a
repeated id, a trajectory whose ``checksum`` does not match its content, a prediction that disagrees with
its trajectory) to ``<file>.rejected`` with one warning saying how many, rebuilds a missing prediction
line from its episode's trajectory, runs again only the episodes without a valid trajectory, and writes
both files in question order: the same files as an uninterrupted run. ``metrics.json`` and ``config.json`` are
replaced atomically. ``tokens`` counts whitespace-separated words read and written unless a
``token_counter`` is given.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import jade_env  # noqa: F401  (registers the ids)
from jade_env.data.hashing import split_hash
from jade_env.errors import JadeError
from jade_env.predictions import parse_prediction
from jade_env.registration import make_checked
from jade_env.run_folder import RunLock, atomic_write, config_differences, json_line, reject_lines, resume_jsonl
from jade_env.scoring import score_corpus
from jade_env.wrappers import TrajectoryRecorder

RUN_FILES = ("predictions.jsonl", "trajectories.jsonl", "metrics.json")


def whitespace_tokens(text: str) -> int:
    return len(text.split())


def question_indices(n_questions: int, limit: int | None, seed: int | None) -> list[int]:
    """Which questions to run: all, the first ``limit``, or (with ``seed``) a seeded sample of ``limit``."""
    if limit is None or limit >= n_questions:
        return list(range(n_questions))
    if seed is None:
        return list(range(limit))
    return sorted(np.random.default_rng(seed).choice(n_questions, size=limit, replace=False).tolist())


def prediction_line(record: dict[str, Any]) -> dict[str, Any]:
    """The ``predictions.jsonl`` line of an episode, from its trajectory record."""
    c = record["counters"]
    return {"id": record["question_id"], "prediction": record["prediction"], "rounds": c["rounds"],
            "retrieval_calls": c["retrieval_calls"], "tokens": sum(c["tokens_read"].values()) + sum(c["tokens_written"].values())}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def _digest(record: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps({k: v for k, v in record.items() if k != "checksum"}, sort_keys=True).encode()).hexdigest()[:16]


def sealed(record: dict[str, Any]) -> dict[str, Any]:
    """The trajectory record with a ``checksum`` of its content, so that a resume can tell a line changed after it was written."""
    return {**record, "checksum": _digest(record)}


def trajectory_id(record: dict[str, Any]) -> str:
    """The question id of a trajectory record whose fields the metrics read are sound; ``ValueError`` otherwise."""
    if "checksum" in record and record["checksum"] != _digest(record):
        raise ValueError("its checksum does not match its content (the line was changed after it was written)")
    qid, c = record.get("question_id"), record.get("counters")
    if not isinstance(qid, str) or not qid:
        raise ValueError(f'"question_id" is {qid!r:.40}; expected a non-empty string')
    if not isinstance(record.get("prediction"), str) or not isinstance(record.get("workflow"), str):
        raise ValueError(f'{qid!r}: "prediction" and "workflow" must be strings')
    if not isinstance(record.get("metrics"), dict) or not all(_number(v) for v in record["metrics"].values()):
        raise ValueError(f'{qid!r}: "metrics" must map names to finite numbers')
    if record.get("supporting_title_recall") is not None and not _number(record["supporting_title_recall"]):
        raise ValueError(f'{qid!r}: "supporting_title_recall" must be a number or null')
    if not (isinstance(c, dict) and _number(c.get("rounds")) and _number(c.get("retrieval_calls"))
            and all(isinstance(c.get(k), dict) and all(_number(v) for v in c[k].values())
                    for k in ("tokens_read", "tokens_written", "steps", "invalid"))):
        raise ValueError(f'{qid!r}: "counters" must hold numbers rounds, retrieval_calls and per-role tokens_read, '
                         "tokens_written, steps, invalid")
    return qid


def _resume(out: Path, order: dict[str, int]) -> set[str]:
    """Check a run folder's two files (see the module docstring); returns the ids of the episodes already complete.

    ``order`` ranks the run's question ids; both files are rewritten in that order when they are not in it.
    """
    pred_path, traj_path = out / "predictions.jsonl", out / "trajectories.jsonl"
    predictions = resume_jsonl(pred_path, lambda rec: parse_prediction(rec).id)
    trajectories = resume_jsonl(traj_path, trajectory_id)
    orphans = [qid for qid in predictions if qid not in trajectories]
    if orphans:  # its trajectory was bad or never written: the episode runs again, and the old line is kept aside
        reject_lines(pred_path, [predictions[qid][0] for qid in orphans])
        warnings.warn(f"{pred_path}: {len(orphans)} line(s) without a valid trajectory moved to {pred_path.name}.rejected; "
                      "their episodes run again", UserWarning, stacklevel=3)
    rebuilt = {qid: prediction_line(rec) for qid, (_, rec) in trajectories.items()}
    differ = [qid for qid, (_, rec) in predictions.items() if qid in rebuilt and rec != rebuilt[qid]]
    if differ:  # a prediction line is its trajectory's projection: one that disagrees was changed, and is rebuilt
        reject_lines(pred_path, [predictions[qid][0] for qid in differ])
        warnings.warn(f"{pred_path}: {len(differ)} line(s) that disagree with their trajectory moved to {pred_path.name}.rejected "
                      "and written again from the trajectory", UserWarning, stacklevel=3)
    lines = {qid: predictions[qid][0] if qid in predictions and qid not in differ else json_line(rebuilt[qid]).encode("utf-8")
             for qid in trajectories}
    ranked = sorted(trajectories, key=lambda qid: order.get(qid, len(order)))  # stable: unknown ids keep their file order
    for path, by_id, before in ((pred_path, lines, list(predictions)), (traj_path, {q: r[0] for q, r in trajectories.items()},
                                                                         list(trajectories))):
        if before != ranked or (path == pred_path and differ):
            atomic_write(path, b"".join(by_id[qid] for qid in ranked))
    return set(trajectories)


def run_episode(env: gym.Env, agent: Any, index: int, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """One episode of ``agent`` on question ``index``; returns (final info, trajectory record)."""
    recorder = TrajectoryRecorder()
    obs, info = env.reset(seed=seed, options={"index": index})
    recorder.reset(seed, info)
    while True:
        action = agent.act(obs["role"], obs)
        answered = obs
        obs, reward, terminated, truncated, info = env.step(action)
        recorder.step(action, reward, info, answered)
        if terminated or truncated:
            return info, recorder.record(env.spec, info, terminated, truncated)


#: agents that are not scripted: a language model, and any class
MODEL_AGENTS: dict[str, str] = {
    "hf": "a HuggingFace chat model: --agent-kwargs '{\"model\": DIR}' (constrained decoding by default)",
    "openai": "an OpenAI-compatible endpoint: --agent-kwargs '{\"base_url\": URL, \"model\": NAME}' (vLLM by default)",
    "MODULE:CLASS": "any class with act(role, observation) -> str, built with --agent-kwargs",
}


def _check_keywords(what: str, given: dict[str, Any], accepted: Iterable[str], required: Iterable[str] = ()) -> None:
    """One-line errors for unknown or missing keywords, with the closest valid name."""
    from difflib import get_close_matches

    accepted = sorted(set(accepted))
    for key in given:
        if key not in accepted:
            close = get_close_matches(key, accepted, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise JadeError(f"{what} takes no keyword {key!r}{hint}; its keywords: {', '.join(accepted)}")
    missing = [k for k in required if k not in given]
    if missing:
        raise JadeError(f"{what} needs the keyword(s) {', '.join(missing)} in --agent-kwargs")


def _parameters(fn: Callable[..., Any], drop: Iterable[str] = ()) -> list[str]:
    signature = inspect.signature(fn)
    return [n for n, p in signature.parameters.items()
            if n not in {"self", *drop} and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def agent_factory(agent_name: str, agent_kwargs: dict[str, Any] | None = None) -> Callable[[Any], Any]:
    """``make(examples) -> agent`` for a scripted agent, ``hf``, ``openai`` or ``package.module:Class``.

    The keywords are checked here, before any file is written: an unknown or missing one is one line
    (:class:`~jade_env.errors.JadeError`) naming the valid ones.
    """
    kwargs = dict(agent_kwargs or {})
    if agent_name == "hf":
        from baselines.policies.hf_chat import HFChatPolicy

        _check_keywords("--agent hf", kwargs, ["model", "device", *_parameters(HFChatPolicy, ["model", "tokenizer"])], ["model"])
        folder = Path(str(kwargs["model"]))
        local = folder.is_absolute() or str(folder).startswith(".") or os.environ.get("HF_HUB_OFFLINE") == "1" or folder.is_dir()
        if local and not (folder / "config.json").is_file():
            raise JadeError(f"--agent hf: {str(folder)!r} is not a model folder; expected a folder "
                            "with config.json, such as the one `jade-rag model get smollm2` prints")

        def make_hf(examples):
            options = dict(kwargs)
            model = options.pop("model")
            try:
                return HFChatPolicy.from_pretrained(str(model), **options)
            except ValueError as err:  # a setting the policy refuses (or a tokenizer it cannot build)
                raise JadeError(f"--agent hf: {str(err).splitlines()[0][:300]}") from None
            except OSError as err:
                raise JadeError(f"--agent hf: cannot load model {model!r} ({str(err).splitlines()[0][:200]}); expected a "
                                "model folder, such as the one `jade-rag model get smollm2` prints") from None

        return make_hf
    if agent_name == "openai":
        from baselines.policies.openai_chat import OpenAIChatPolicy

        _check_keywords("--agent openai", kwargs, _parameters(OpenAIChatPolicy), ["base_url", "model"])
        try:
            policy = OpenAIChatPolicy(**kwargs)
        except ValueError as err:
            raise JadeError(f"--agent openai: {err}") from None
        return lambda examples: policy
    if ":" in agent_name:
        module_name, _, class_name = agent_name.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except ImportError as err:
            raise JadeError(f"--agent {agent_name}: cannot import {module_name!r} ({err})") from None
        except AttributeError:
            raise JadeError(f"--agent {agent_name}: module {module_name!r} has no {class_name!r}") from None
        if not isinstance(cls, type):
            raise JadeError(f"--agent {agent_name}: {class_name!r} is not a class; expected MODULE:CLASS, a class with "
                            "act(role, observation)")
        takes_examples = "examples" in _parameters(cls)
        _check_keywords(f"--agent {agent_name}", kwargs, [p for p in _parameters(cls) if p != "examples"])
        if not callable(getattr(cls, "act", None)):
            raise JadeError(f"--agent {agent_name}: {class_name} has no act(role, observation) method")
        return lambda examples: cls(**kwargs, **({"examples": examples} if takes_examples else {}))
    from baselines.agents import AGENTS, ScriptedTeam, make_agent

    if agent_name not in AGENTS:
        raise JadeError(f"unknown agent {agent_name!r}; valid agents: {', '.join([*AGENTS, *MODEL_AGENTS])}")
    _check_keywords(f"--agent {agent_name}", kwargs, [] if agent_name == "oracle" else _parameters(ScriptedTeam, ["workflow"]))
    return lambda examples: make_agent(agent_name, examples=examples, **kwargs)


def evaluate(
    env_id: str, agent_name: str, out_dir: str | os.PathLike, agent_kwargs: dict[str, Any] | None = None, **options: Any
) -> dict[str, Any]:
    """Run agent ``agent_name`` (see :func:`agent_factory`) on every selected question of ``env_id``; write and return the
    metrics. ``options`` are :func:`evaluate_agent`'s (``env_kwargs``, ``limit``, ``seed``, ``sample``, ``progress``, ...)."""
    make = agent_factory(agent_name, agent_kwargs)
    return evaluate_agent(env_id, make, out_dir, agent_name=agent_name, agent_kwargs=agent_kwargs, **options)


def evaluate_agent(
    env_id: str,
    make: Callable[[Any], Any],
    out_dir: str | os.PathLike,
    agent_name: str,
    agent_kwargs: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    limit: int | None = None,
    seed: int = 0,
    sample: bool = False,
    token_counter: Callable[[str], int] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The evaluation loop for any agent: ``make(examples)`` builds it (see the module docstring).

    The env and the agent are built before anything is written, so a mistyped keyword, a missing file or a
    bad agent costs one message and leaves no run folder behind."""
    env_kwargs = dict(env_kwargs or {})
    counter = token_counter or whitespace_tokens
    env = make_checked(env_id, token_counter=counter, **env_kwargs)
    agent = make(env.unwrapped.examples)
    if "Decoupled" in env_id and "executor" not in env_kwargs:
        env.close()
        env = make_checked(env_id, token_counter=counter, executor=agent, **env_kwargs)
    out = Path(out_dir)
    try:
        with RunLock(out, f"jade-rag evaluate {agent_name} on {env_id}"):
            return _evaluate_locked(env, agent, env_id, out, agent_name, agent_kwargs, env_kwargs, limit, seed, sample, progress)
    finally:
        env.close()


def _evaluate_locked(env: gym.Env, agent: Any, env_id: str, out: Path, agent_name: str, agent_kwargs: dict[str, Any] | None,
                     env_kwargs: dict[str, Any], limit: int | None, seed: int, sample: bool, progress: bool) -> dict[str, Any]:
    config = {"env_id": env_id, "env_kwargs": env_kwargs, "agent": agent_name, "agent_kwargs": agent_kwargs or {},
              "limit": limit, "seed": seed, "sample": sample}
    config_path = out / "config.json"
    if config_path.exists() and (held := _read_config(config_path)) != config:
        raise JadeError(f"{out} holds a run with another configuration ({config_path}: {config_differences(held, config)}); "
                        "use a new --out folder, or the same settings to resume it")
    atomic_write(config_path, json.dumps(config, indent=2, sort_keys=True))

    base = env.unwrapped
    indices = question_indices(len(base.examples), limit, seed if sample else None)
    order = {base.examples[i].id: rank for rank, i in enumerate(indices)}

    pred_path, traj_path = out / "predictions.jsonl", out / "trajectories.jsonl"
    done = _resume(out, order)
    todo = [i for i in indices if base.examples[i].id not in done]
    from tqdm import tqdm

    started = time.perf_counter()
    f1_sum, n_run = 0.0, 0
    bar = tqdm(todo, desc=f"{agent_name} on {env_id}", unit="ep", disable=not progress, dynamic_ncols=True, mininterval=0.5)
    with pred_path.open("a", encoding="utf-8") as pf, traj_path.open("a", encoding="utf-8") as tf:
        for index in bar:
            info, record = run_episode(env, agent, index, seed)
            tf.write(json_line(sealed(record)))  # the trajectory first: a kill between the two writes loses nothing (see _resume)
            tf.flush()
            pf.write(json_line(prediction_line(record)))
            pf.flush()
            f1_sum += info["metrics"]["f1"]
            n_run += 1
            bar.set_postfix(f1=f"{f1_sum / n_run:.3f}", eps=f"{n_run / (time.perf_counter() - started):.1f}/s", refresh=False)
    if todo and done:
        _resume(out, order)  # episodes that filled gaps were appended: back to question order
    return run_metrics(out, base, env_id, config)


def _read_config(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise JadeError(f"{path}: unreadable ({err}); expected the run's configuration, as evaluate writes it") from None


def run_metrics(out: Path, base: Any, env_id: str, config: dict[str, Any]) -> dict[str, Any]:
    """Compute ``metrics.json`` from the run folder's files (never from memory, so resumes agree)."""
    from jade_env.predictions import read_predictions

    predictions = read_predictions(out / "predictions.jsonl")
    trajectories = {qid: rec for qid, (_, rec) in resume_jsonl(out / "trajectories.jsonl", trajectory_id).items()}
    wanted = {e.id: e for e in base.examples if e.id in predictions}
    golds = {qid: e.answers for qid, e in wanted.items()}
    scores = score_corpus(
        golds,
        {qid: p.prediction for qid, p in predictions.items()},
        costs={qid: p.costs for qid, p in predictions.items()},
    )
    recalls = [t["supporting_title_recall"] for t in trajectories.values() if t.get("supporting_title_recall") is not None]
    workflows = Counter(t["workflow"] for t in trajectories.values())
    steps: Counter[str] = Counter()
    invalid: Counter[str] = Counter()
    for t in trajectories.values():
        steps.update(t["counters"]["steps"])
        invalid.update(t["counters"]["invalid"])
    metrics = {
        **scores,
        "supporting_title_recall": sum(recalls) / len(recalls) if recalls else None,
        "n_supporting": len(recalls),
        "workflow_distribution": {w: n / max(len(trajectories), 1) for w, n in sorted(workflows.items())},
        "invalid_rate": {r: invalid[r] / steps[r] for r in sorted(steps) if steps[r]},
        "env_id": env_id,
        "env_version": env_id.rsplit("-", 1)[-1],
        "jade_env_version": jade_env.__version__,
        "split_hash": split_hash(base.examples),
        "questions_hash": split_hash(list(wanted.values())),  # of the questions this run answered (a --limit sample of the split)
        "corpus_hash": base.retrievers.corpus_hash,
        "retriever_id": base.retrievers.retriever_id,
        "agent": config["agent"],
        "agent_kwargs": config["agent_kwargs"],
        "env_kwargs": config["env_kwargs"],
    }
    atomic_write(out / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True))
    return metrics
