"""Evaluate an agent on an environment's questions, writing a resumable run folder.

``evaluate(env_id, agent, out_dir, ...)`` plays one episode per question (every question of the
split, the first ``limit``, or a seeded sample of ``limit``) and writes:

* ``predictions.jsonl``: ``id``, ``prediction``, ``rounds``, ``retrieval_calls``, ``tokens`` (the
  leaderboard's submission format), one line per question, appended and flushed as it finishes;
* ``trajectories.jsonl``: one replayable record per episode (:mod:`jade_env.wrappers.record_trajectories`);
* ``metrics.json``: every scorer metric (from ``predictions.jsonl``, by :func:`jade_env.scoring.score_corpus`),
  cost means, supporting-title recall, workflow distribution, invalid-output rates per role, env id
  and version, corpus and split hashes, agent config.

A run that is interrupted (Ctrl-C, a killed process, a full disk) leaves complete lines behind; a
rerun with the same ``out_dir`` skips the questions already in ``predictions.jsonl`` and gives the
same files as an uninterrupted run. ``tokens`` counts whitespace-separated words read and written
unless a ``token_counter`` is given.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import jade_env  # noqa: F401  (registers the ids)
from jade_env.data.hashing import split_hash
from jade_env.errors import JadeError
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


def _read_done(path: Path) -> dict[str, dict[str, Any]]:
    """Complete JSON lines of a previous run (a torn last line, from a kill, is dropped and rewritten)."""
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    good_bytes = 0
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            try:
                rec = json.loads(raw)
            except ValueError:
                break
            done[rec.get("id") or rec.get("question_id")] = rec
            good_bytes += len(raw)
    if good_bytes != path.stat().st_size:
        with path.open("r+b") as f:
            f.truncate(good_bytes)
    return done


def run_episode(env: gym.Env, agent: Any, index: int, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """One episode of ``agent`` on question ``index``; returns (final info, trajectory record)."""
    recorder = TrajectoryRecorder()
    obs, info = env.reset(seed=seed, options={"index": index})
    recorder.reset(seed, info)
    while True:
        action = agent.act(obs["role"], obs)
        obs, reward, terminated, truncated, info = env.step(action)
        recorder.step(action, reward, info)
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
        if not folder.is_dir() and (folder.is_absolute() or str(folder).startswith(".") or os.environ.get("HF_HUB_OFFLINE") == "1"):
            raise JadeError(f"--agent hf: {str(folder)!r} is not a model folder; expected a folder "
                            "with config.json, such as the one `jade-rag model get smollm2` prints")

        def make_hf(examples):
            options = dict(kwargs)
            model = options.pop("model")
            try:
                return HFChatPolicy.from_pretrained(str(model), **options)
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
    env_id: str,
    agent_name: str,
    out_dir: str | os.PathLike,
    env_kwargs: dict[str, Any] | None = None,
    agent_kwargs: dict[str, Any] | None = None,
    limit: int | None = None,
    seed: int = 0,
    sample: bool = False,
    token_counter: Callable[[str], int] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run agent ``agent_name`` (see :func:`agent_factory`) on every selected question of ``env_id``; write and return the metrics."""
    make = agent_factory(agent_name, agent_kwargs)
    return evaluate_agent(env_id, make, out_dir, agent_name=agent_name, agent_kwargs=agent_kwargs, env_kwargs=env_kwargs, limit=limit,
                          seed=seed, sample=sample, token_counter=token_counter, progress=progress)


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
    """The evaluation loop for any agent: ``make(examples)`` builds it (see the module docstring)."""
    if env_id not in gym.registry:
        valid = sorted(k for k in gym.registry if k.startswith("JadeRAG"))
        raise JadeError(f"unknown env {env_id!r}; registered ids: {', '.join(valid)}")
    env_kwargs = dict(env_kwargs or {})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = {"env_id": env_id, "env_kwargs": env_kwargs, "agent": agent_name, "agent_kwargs": agent_kwargs or {},
              "limit": limit, "seed": seed, "sample": sample}
    config_path = out / "config.json"
    if config_path.exists() and json.loads(config_path.read_text()) != config:
        raise JadeError(f"{out} holds a run with another configuration ({config_path}); use a new --out folder")
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True))

    counter = token_counter or whitespace_tokens
    env = gym.make(env_id, token_counter=counter, **env_kwargs)
    base = env.unwrapped
    agent = make(base.examples)
    if "Decoupled" in env_id and "executor" not in env_kwargs:
        env.close()
        env = gym.make(env_id, token_counter=counter, executor=agent, **env_kwargs)
        base = env.unwrapped
    indices = question_indices(len(base.examples), limit, seed if sample else None)

    pred_path, traj_path = out / "predictions.jsonl", out / "trajectories.jsonl"
    done = _read_done(pred_path)
    trajectories = _read_done(traj_path)
    if set(trajectories) - set(done):  # killed between the two writes: drop the trajectory, the episode reruns
        kept = [json.dumps(r, ensure_ascii=False) + "\n" for qid, r in trajectories.items() if qid in done]
        tmp = traj_path.with_suffix(".tmp")
        tmp.write_text("".join(kept), encoding="utf-8")
        tmp.replace(traj_path)
    todo = [i for i in indices if base.examples[i].id not in done]
    from tqdm import tqdm

    started = time.perf_counter()
    f1_sum, n_run = 0.0, 0
    bar = tqdm(todo, desc=f"{agent_name} on {env_id}", unit="ep", disable=not progress, dynamic_ncols=True, mininterval=0.5)
    with pred_path.open("a", encoding="utf-8") as pf, traj_path.open("a", encoding="utf-8") as tf:
        for index in bar:
            example = base.examples[index]
            info, record = run_episode(env, agent, index, seed)
            c = info["counters"]
            tokens = sum(c["tokens_read"].values()) + sum(c["tokens_written"].values())
            tf.write(json.dumps(record, ensure_ascii=False) + "\n")
            tf.flush()
            pf.write(json.dumps({"id": example.id, "prediction": info["prediction"], "rounds": c["rounds"],
                                 "retrieval_calls": c["retrieval_calls"], "tokens": tokens}, ensure_ascii=False) + "\n")
            pf.flush()
            f1_sum += info["metrics"]["f1"]
            n_run += 1
            bar.set_postfix(f1=f"{f1_sum / n_run:.3f}", eps=f"{n_run / (time.perf_counter() - started):.1f}/s", refresh=False)
    metrics = run_metrics(out, base, env_id, config)
    env.close()
    return metrics


def run_metrics(out: Path, base: Any, env_id: str, config: dict[str, Any]) -> dict[str, Any]:
    """Compute ``metrics.json`` from the run folder's files (never from memory, so resumes agree)."""
    from jade_env.predictions import read_predictions

    predictions = read_predictions(out / "predictions.jsonl")
    trajectories = {r["question_id"]: r for r in _read_done(out / "trajectories.jsonl").values()}
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
        "corpus_hash": base.retrievers.corpus_hash,
        "retriever_id": base.retrievers.retriever_id,
        "agent": config["agent"],
        "agent_kwargs": config["agent_kwargs"],
        "env_kwargs": config["env_kwargs"],
    }
    tmp = out / "metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=2, sort_keys=True))
    tmp.replace(out / "metrics.json")
    return metrics
