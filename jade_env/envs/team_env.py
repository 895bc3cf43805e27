"""The JADE team as one Gymnasium environment, driven by one policy (the shared backbone)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import gymnasium as gym
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from jade_env.data.types import Example
from jade_env.envs.sources import RetrieverProvider, load_split, question_index
from jade_env.roles.ids import ROLES
from jade_env.roles.parsers import MAX_OUTPUT_CHARS
from jade_env.spaces import UnicodeText
from jade_env.workflow.engine import (
    MAX_RECORDED_ACTION_CHARS,
    ActRequest,
    EngineConfig,
    Episode,
    RetrieveRequest,
    StepRecord,
    parse_workflow_spec,
)
from jade_env.workflow.rewards import make_reward_config

#: the fixed keys of every observation
OBS_KEYS: tuple[str, ...] = ("role", "system", "user", "question", "fields")


class ExecutorPolicy(Protocol):
    """A policy that plays roles inside the env (the frozen executors of the decoupled setting)."""

    def act(self, role: str, observation: dict[str, str]) -> str: ...


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


class JadeRAGEnv(gym.Env[dict[str, str], str]):
    """
    ## Description

    One episode is one question answered by the JADE team (arXiv 2601.21916). A *planner* chooses a
    workflow for the question; *executors* decompose it (serially, ``qds``, or in parallel, ``qdp``),
    rewrite queries (``qr``), select retrieved documents (``ds``), answer (``ag``) and summarise
    sub-answers (``as``). Retrieval (``R``) runs inside the environment. Every role is played by the
    caller's one policy (the shared backbone), except the roles handed to a frozen ``executor``.

    ## Observation Space

    ``Dict`` of :class:`~jade_env.spaces.UnicodeText` with the same keys at every step:

    | key        | content                                                                      |
    |------------|------------------------------------------------------------------------------|
    | `role`     | the acting role: `planner`, `qds`, `qdp`, `qr`, `ds`, `ag` or `as` (`""` at the end) |
    | `system`   | the role's system text (its job and output format), ready for a chat template |
    | `user`     | the role's user text (question, documents, sub-answers)                       |
    | `question` | the current target question (the original or a sub-question)                  |
    | `fields`   | JSON: `original_question`, `documents` (id, title, text), `history`, `modules`, `depth` |

    ## Action Space

    :class:`~jade_env.spaces.UnicodeText`: the acting role's text output.

    | role      | expected output                          | fallback when invalid                  |
    |-----------|------------------------------------------|----------------------------------------|
    | `planner` | `<workflow>R,AG</workflow>`              | `QDS` (top level), `R,AG` (sub-question) |
    | `qds`/`qdp` | `<q1>...</q1><q2>...</q2>`             | the question itself                    |
    | `qr`      | `<query>...</query>`                     | the input question                     |
    | `ds`      | `<id>Document0,Document3</id>`           | every retrieved document               |
    | `ag`/`as` | `<answer>...</answer>`                   | the raw output, stripped               |

    ## Rewards

    An invalid output of a role the caller plays costs the format penalty (-1) on that step. On the
    final step the global reward ``outcome - alpha * rounds_cost - beta * retrieval_cost`` is added
    (outcome: F1 of the final answer by default). Presets: ``jade`` (default), ``jade_broadcast``,
    ``search_r1``, ``mmoa`` (see :mod:`jade_env.workflow.rewards`); every weight is a keyword.

    ## Starting State

    ``reset(seed=s)`` draws a question with the env's seeded generator; ``reset(options={"index": i})``
    pins question ``i`` of the split (for GRPO-style groups).

    ## Episode End

    * terminated: the final answer is written (by ``ag`` for a direct workflow, ``as`` after a
      decomposition).
    * truncated: the hard cap ``max_steps`` on agent steps is reached; the best answer so far is scored.

    Calling ``step`` after the end raises :class:`gymnasium.error.ResetNeeded`.

    ## Arguments

    | keyword | default | meaning |
    |---|---|---|
    | `dataset` | from the id | registry name: `hotpotqa`, `2wikimultihopqa`, `musique`, `bamboogle`, `nq`, `popqa`, ... |
    | `data_path` | None | a local question file in any supported format (wins over the registry) |
    | `data_format`, `split`, `n`, `sample_seed` | None | format override, split name, first `n` (or a seeded sample of `n`) |
    | `synthetic` | {} | arguments of the Synthetic world generator (`seed`, `hop_mix`, ...) |
    | `corpus` | `"pooled"` | `"pooled"`, `"per_question"`, or a JSONL corpus path |
    | `retriever` | `"bm25"` | `"bm25"`, `"lucene"`, `"dense"`, `"remote:URL[,URL]"`, or a `Retriever` |
    | `retriever_kwargs`, `cache_dir`, `replay_cache` | None | backend options, index cache folder, SQLite replay cache |
    | `top_k` | 5 | passages per retrieval |
    | `max_subquestions` | 4 | sub-questions per decomposition |
    | `decomposition_depth` | 1 | levels at which the planner may decompose |
    | `strict_format` | True | anything outside the tag makes an output invalid (False: first tag found) |
    | `max_steps` | 40 | hard cap on agent steps per episode |
    | `reward` | `"jade"` | reward preset; `alpha`, `beta`, `format_penalty`, `outcome`, `placement` override it |
    | `controlled_roles` | all roles | the roles the caller plays; the others are played by `executor` |
    | `executor` | None | an object with `act(role, observation) -> str` (frozen executors) |
    | `workflow` | None | a fixed top-level graph such as `"QR,R,DS,AG"` (static joint: the planner is never asked) |
    | `few_shot` | False | add one worked example to each role's system text |
    | `token_counter` | None | a function text -> number of tokens, to count tokens read and written |
    | `max_text_length` | 32768 | the bound of every text field (longer user texts are cut, with a marker) |

    ## Registered ids

    ``JadeRAG-<Name>-v0`` for Name in HotpotQA, 2Wiki, MuSiQue, Bamboogle, NQ, PopQA, AmbigQA, TriviaQA,
    Synthetic; ``JadeRAG-<Name>-Decoupled-v0`` (the caller plays the planner; `executor` required);
    ``JadeRAG-<Name>-Static-v0`` (`workflow="QR,R,DS,AG"`); ``JadeRAG-<Name>-Monolithic-v0`` (see
    :class:`~jade_env.envs.monolithic_env.MonolithicRAGEnv`). ``jade-rag envs`` lists them.

    ## Version History

    * v0: initial release.
    """

    metadata = {"render_modes": ["ansi"], "autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        dataset: str = "synthetic",
        data_path: str | None = None,
        data_format: str | None = None,
        split: str | None = None,
        n: int | None = None,
        sample_seed: int | None = None,
        synthetic: dict[str, Any] | None = None,
        corpus: Any = "pooled",
        retriever: Any = "bm25",
        retriever_kwargs: dict[str, Any] | None = None,
        cache_dir: str | None = None,
        replay_cache: str | None = None,
        top_k: int = 5,
        max_subquestions: int = 4,
        decomposition_depth: int = 1,
        strict_format: bool = True,
        max_steps: int = 40,
        reward: str = "jade",
        alpha: float | None = None,
        beta: float | None = None,
        format_penalty: float | None = None,
        outcome: str | None = None,
        placement: str | None = None,
        controlled_roles: Iterable[str] | None = None,
        executor: ExecutorPolicy | None = None,
        workflow: str | Sequence[str] | None = None,
        few_shot: bool = False,
        token_counter: Callable[[str], int] | None = None,
        max_text_length: int = 32768,
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        self.dataset = dataset
        self.examples: tuple[Example, ...] = load_split(dataset, data_path, split, n, sample_seed, data_format, synthetic)
        self.config = EngineConfig(
            max_subquestions=max_subquestions,
            decomposition_depth=decomposition_depth,
            top_k=top_k,
            strict_format=strict_format,
            max_steps=max_steps,
            workflow=parse_workflow_spec(workflow),
            few_shot=few_shot,
            reward=make_reward_config(reward, alpha=alpha, beta=beta, format_penalty=format_penalty, outcome=outcome,
                                      placement=placement),
        )
        self.controlled_roles = tuple(ROLES if controlled_roles is None else controlled_roles)
        unknown = [r for r in self.controlled_roles if r not in ROLES]
        if unknown:
            raise ValueError(f"controlled_roles has unknown role {unknown[0]!r}; expected roles from {', '.join(ROLES)}")
        if set(self.controlled_roles) != set(ROLES) and executor is None:
            others = ", ".join(r for r in ROLES if r not in self.controlled_roles)
            raise ValueError(f"roles {others} are not controlled by the caller, so an executor policy is needed: "
                             "pass executor=<object with act(role, observation) -> str>, e.g. baselines.agents.ScriptedTeam()")
        self.executor = executor
        self.token_counter = token_counter
        self.retrievers = RetrieverProvider(self.examples, dataset, corpus=corpus, retriever=retriever,
                                            retriever_kwargs=retriever_kwargs, cache_dir=cache_dir, replay_cache=replay_cache)
        self.max_text_length = max_text_length
        text = UnicodeText(max_text_length)
        self.observation_space = spaces.Dict({k: (UnicodeText(16) if k == "role" else text) for k in OBS_KEYS})
        self.action_space = UnicodeText(MAX_OUTPUT_CHARS)
        self.render_mode = render_mode
        self.episode: Episode | None = None
        self.example_index = -1
        self._obs_cache: tuple[ActRequest, dict[str, str]] | None = None

    # ------------------------------------------------------------------ Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, str], dict[str, Any]]:
        super().reset(seed=seed)
        self.example_index = question_index(options, len(self.examples), self.np_random)
        self.episode = Episode(self.examples[self.example_index], self.config, self.token_counter)
        executor_records = self._run_until_controlled()
        return self._observation(), self._info(None, executor_records)

    def step(self, action: str) -> tuple[dict[str, str], float, bool, bool, dict[str, Any]]:
        episode = self.episode
        if episode is None or episode.done:
            raise ResetNeeded("Cannot call env.step() after the episode ended (or before reset); call env.reset()")
        record = episode.act(action)
        reward = record.penalty
        executor_records = self._run_until_controlled()
        if episode.done:
            reward += episode.reward or 0.0
        return self._observation(), float(reward), episode.done and not episode.truncated, episode.truncated, \
            self._info(record, executor_records)

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.episode is None:
            return None
        obs = self._observation()
        return f"[{obs['role'] or 'done'}] {obs['question']}\n{obs['user']}"

    def close(self) -> None:
        self.retrievers.close()
        super().close()

    # ------------------------------------------------------------------ inside the team
    def _run_until_controlled(self) -> list[StepRecord]:
        """Serve retrievals and let the executor play its roles until a controlled role must act."""
        episode = self.episode
        assert episode is not None
        records: list[StepRecord] = []
        retriever = self.retrievers.for_example(episode.example)
        while not episode.done:
            if isinstance(episode.pending, RetrieveRequest):
                episode.run_retrievals(retriever)
            elif (record := self._play_executor()) is not None:
                records.append(record)
            else:
                break
        return records

    def _play_executor(self) -> StepRecord | None:
        """If an uncontrolled role is pending, let the executor play it once; else return None."""
        episode = self.episode
        pending = episode.pending if episode is not None else None
        if not isinstance(pending, ActRequest) or pending.role in self.controlled_roles:
            return None
        assert self.executor is not None and episode is not None
        try:
            text = self.executor.act(pending.role, self._observation())
        except Exception as err:  # a broken executor is an invalid output, never a crash of the episode
            record = episode.act(None)
            record.message = f"executor raised {type(err).__name__}: {err}"[:300]
            return record
        return episode.act(text)

    def _observation(self) -> dict[str, str]:
        episode = self.episode
        pending = episode.pending if episode is not None else None
        if not isinstance(pending, ActRequest):
            question = episode.example.question if episode is not None else ""
            return {"role": "", "system": "", "user": "", "question": question, "fields": "{}"}
        cached = self._obs_cache
        if cached is not None and cached[0] is pending:  # the executor and the step render the same request once
            return dict(cached[1])
        view = pending.view
        fields = {
            "original_question": view.original_question,
            "documents": [{"id": d.id, "title": d.title, "text": d.text} for d in view.documents],
            "history": [list(p) for p in view.history],
            "modules": list(view.modules),
            "depth": view.depth,
        }
        obs = {
            "role": pending.role,
            "system": self._bound(pending.system),
            "user": self._bound(pending.user),
            "question": self._bound(view.question),
            "fields": self._bound(json.dumps(fields, ensure_ascii=False)),
        }
        self._obs_cache = (pending, obs)
        return dict(obs)

    def _bound(self, text: str) -> str:
        if len(text) <= self.max_text_length:
            return text
        marker = "\n[... cut to max_text_length ...]"
        return text[: self.max_text_length - len(marker)] + marker

    def _info(self, record: StepRecord | None, executor_records: list[StepRecord]) -> dict[str, Any]:
        episode = self.episode
        assert episode is not None
        retrieved_ids = list(record.retrieved_ids) if record else []
        retrieved_titles = list(record.retrieved_titles) if record else []
        for r in executor_records:
            retrieved_ids.extend(r.retrieved_ids)
            retrieved_titles.extend(r.retrieved_titles)
        info: dict[str, Any] = {
            "question_id": episode.example.id,
            "question_index": self.example_index,
            "role": record.role if record else "",
            "action_raw": record.raw[:MAX_RECORDED_ACTION_CHARS] if record else "",
            "action_chars": len(record.raw) if record else 0,
            "action_parsed": _jsonable(record.parsed) if record else None,
            "valid": record.valid if record else True,
            "message": record.message if record else "",
            "penalty": record.penalty if record else 0.0,
            "executor_steps": [
                {"role": r.role, "valid": r.valid, "message": r.message, "penalty": r.penalty} for r in executor_records
            ],
            "retrieved_ids": retrieved_ids,
            "retrieved_titles": retrieved_titles,
            "counters": episode.counters.as_dict(),
            "workflow": episode.top_workflow,
            "reward_components": episode.reward_components,
            "retrieval_cache": self._cache_stats(),
        }
        if episode.done:
            info.update({
                "prediction": episode.prediction,
                "gold_answers": list(episode.example.answers),
                "metrics": episode.metrics,
                "supporting_title_recall": episode.supporting_title_recall,
                "transition_rewards": episode.transition_rewards(),
                "transition_roles": [r.role for r in episode.records],
                "truncated": episode.truncated,
            })
        return info

    def _cache_stats(self) -> dict[str, int]:
        retriever = self.retrievers.for_example(self.episode.example) if self.episode else None
        stats = getattr(retriever, "stats", None)
        return dict(stats()) if callable(stats) else {"hits": 0, "misses": 0}
