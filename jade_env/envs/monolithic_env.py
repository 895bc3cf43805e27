"""One Search-R1-style agent that interleaves searching and answering (the monolithic paradigm)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from jade_env.data.types import Example
from jade_env.envs.sources import RetrieverProvider, load_split, question_index
from jade_env.envs.team_env import OBS_KEYS
from jade_env.retrieval.base import Hit
from jade_env.roles.parsers import MAX_OUTPUT_CHARS, parse_answer
from jade_env.scoring import score_answer, supporting_title_recall
from jade_env.spaces import UnicodeText
from jade_env.workflow.engine import MAX_FALLBACK_ANSWER_CHARS, MAX_RECORDED_ACTION_CHARS
from jade_env.workflow.rewards import global_reward, make_reward_config, reward_components

SYSTEM_TEXT = (
    "Answer the question. You may search an encyclopedia as often as you need: write <search>query</search> and "
    "the top documents come back between <information> and </information>. Think as you like, then give the final "
    "answer, the shortest exact phrase, as <answer>...</answer>. Each turn must end with exactly one <search> or "
    "one <answer> element."
)
_SEARCH = re.compile(r"<search>(.*?)</search>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def _information(hits: list[Hit]) -> str:
    docs = "\n".join(f"Doc {i + 1} (Title: {h.title}) {h.text}" for i, h in enumerate(hits))
    return f"<information>{docs}</information>"


class MonolithicRAGEnv(gym.Env[dict[str, str], str]):
    """
    ## Description

    The monolithic paradigm (Search-R1): one agent reads the question and, turn by turn, either
    searches (``<search>query</search>``; the environment appends the top-k documents as an
    ``<information>`` block to the conversation) or answers (``<answer>...</answer>``, which ends the
    episode). Same data, retrievers, scorer and counters as :class:`~jade_env.envs.team_env.JadeRAGEnv`.

    ## Observation Space

    The same ``Dict`` keys as the team env: ``role`` is always ``"agent"``; ``system`` the task;
    ``user`` the question followed by the whole conversation so far (the agent's turns and the
    information blocks); ``question`` the question; ``fields`` JSON with ``turn``, ``searches``, ``max_turns`` and every
    ``documents`` retrieved so far (id, title, text).

    ## Action Space

    :class:`~jade_env.spaces.UnicodeText`: one turn of text that ends with one ``<search>`` or one
    ``<answer>`` element (reasoning before it is allowed). With ``strict_format=True`` a turn with both
    tags, or with neither, is invalid: format penalty, and the turn is spent.

    ## Rewards

    The global reward of the ``reward`` preset (``search_r1``: EM by default) on the final step, plus
    the format penalty on each invalid turn.

    ## Starting State

    As the team env: ``reset(seed=...)`` draws a question; ``options={"index": i}`` pins one.

    ## Episode End

    terminated when the agent answers; truncated after ``max_turns`` turns without an answer (the
    prediction is then empty) . ``step`` after the end raises :class:`gymnasium.error.ResetNeeded`.

    ## Arguments

    The team env's data and retrieval keywords (``dataset``, ``data_path``, ``corpus``, ``retriever``,
    ``top_k`` (3, as Search-R1), ``reward`` (``"search_r1"``), ...), plus ``max_turns`` (4).

    ## Registered ids

    ``JadeRAG-<Name>-Monolithic-v0``.

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
        top_k: int = 3,
        max_turns: int = 4,
        strict_format: bool = True,
        reward: str = "search_r1",
        alpha: float | None = None,
        beta: float | None = None,
        format_penalty: float | None = None,
        outcome: str | None = None,
        placement: str | None = None,
        token_counter: Callable[[str], int] | None = None,
        max_text_length: int = 32768,
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        if max_turns < 1 or top_k < 1:
            raise ValueError(f"max_turns and top_k must be positive, got max_turns={max_turns}, top_k={top_k}")
        self.examples: tuple[Example, ...] = load_split(dataset, data_path, split, n, sample_seed, data_format, synthetic)
        self.retrievers = RetrieverProvider(self.examples, dataset, corpus=corpus, retriever=retriever,
                                            retriever_kwargs=retriever_kwargs, cache_dir=cache_dir, replay_cache=replay_cache)
        self.reward_config = make_reward_config(reward, alpha=alpha, beta=beta, format_penalty=format_penalty,
                                                outcome=outcome, placement=placement)
        self.top_k, self.max_turns, self.strict_format = top_k, max_turns, strict_format
        self.token_counter = token_counter
        self.max_text_length = max_text_length
        text = UnicodeText(max_text_length)
        self.observation_space = spaces.Dict({k: (UnicodeText(16) if k == "role" else text) for k in OBS_KEYS})
        self.action_space = UnicodeText(MAX_OUTPUT_CHARS)
        self.render_mode = render_mode
        self.example: Example | None = None
        self.example_index = -1
        self._done = True

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, str], dict[str, Any]]:
        super().reset(seed=seed)
        self.example_index = question_index(options, len(self.examples), self.np_random)
        self.example = self.examples[self.example_index]
        self.transcript: list[str] = []
        self.turn = 0
        self.retrieval_calls = 0
        self.invalid = 0
        self.penalties: list[float] = []
        self.retrieved_titles: list[str] = []
        self.seen_documents: list[dict[str, str]] = []
        self.chars_read = self.chars_written = self.tokens_read = self.tokens_written = 0
        self.prediction: str | None = None
        self._done = False
        self._truncated = False
        self._final: dict[str, Any] = {}
        return self._observation(), self._info("", None, True, "", [])

    def step(self, action: str) -> tuple[dict[str, str], float, bool, bool, dict[str, Any]]:
        if self._done or self.example is None:
            raise ResetNeeded("Cannot call env.step() after the episode ended (or before reset); call env.reset()")
        obs_before = self._observation()
        raw = action if isinstance(action, str) else ""
        self.turn += 1
        self.chars_read += len(obs_before["system"]) + len(obs_before["user"])
        self.chars_written += len(raw)
        if self.token_counter is not None:
            self.tokens_read += self.token_counter(obs_before["system"]) + self.token_counter(obs_before["user"])
            self.tokens_written += self.token_counter(raw[:MAX_OUTPUT_CHARS])
        valid, message, parsed, hits = self._act(action)
        penalty = 0.0 if valid else self.reward_config.penalty("agent")
        if not valid:
            self.invalid += 1
        self.penalties.append(penalty)
        reward = penalty
        if not self._done and self.turn >= self.max_turns:
            self._done = self._truncated = True
            self._finish("")
        if self._done:
            reward += self._final["reward"]
        info = self._info(raw, parsed, valid, message, hits)
        return self._observation(), float(reward), self._done and not self._truncated, self._truncated, info

    def _act(self, action: Any) -> tuple[bool, str, Any, list[Hit]]:
        if not isinstance(action, str):
            self.transcript.append("")
            return False, f"action is {type(action).__name__}, expected text (str)", None, []
        if len(action) > MAX_OUTPUT_CHARS:
            self.transcript.append(action[:200])
            return False, f"output has {len(action)} characters; at most {MAX_OUTPUT_CHARS} are allowed", None, []
        searches, answers = _SEARCH.findall(action), _ANSWER.findall(action)
        self.transcript.append(action)
        if self.strict_format and (len(searches) + len(answers) != 1):
            return False, "expected exactly one <search>...</search> or one <answer>...</answer> in the turn", None, []
        if answers and (not searches or action.find("<answer>") < action.find("<search>")):
            parsed = parse_answer(f"<answer>{answers[0]}</answer>")
            answer = parsed.value if parsed.valid else answers[0].strip()[:MAX_FALLBACK_ANSWER_CHARS]
            self._done = True
            self._finish(answer)
            return parsed.valid, parsed.message, answer, []
        if searches:
            query = " ".join(searches[0].split())
            if not query:
                return False, "empty <search> query", None, []
            hits = self.retrievers.for_example(self.example).search([query], self.top_k)[0]
            self.retrieval_calls += 1
            self.retrieved_titles.extend(h.title for h in hits)
            self.seen_documents.extend({"id": h.id, "title": h.title, "text": h.text} for h in hits)
            self.transcript.append(_information(hits))
            return True, "", query, hits
        return False, "no <search> or <answer> element found", None, []

    def _finish(self, answer: str) -> None:
        assert self.example is not None
        self.prediction = answer
        score = score_answer(answer, self.example.answers)
        components = reward_components(score, self.example.answers, sum(self.penalties), self.turn, self.retrieval_calls)
        self._final = {
            "reward": global_reward(self.reward_config, components),
            "components": components,
            "metrics": score.as_dict(),
        }

    def _counters(self) -> dict[str, Any]:
        return {
            "rounds": self.turn,
            "retrieval_calls": self.retrieval_calls,
            "steps": {"agent": self.turn},
            "invalid": {"agent": self.invalid},
            "chars_read": {"agent": self.chars_read},
            "chars_written": {"agent": self.chars_written},
            "tokens_read": {"agent": self.tokens_read},
            "tokens_written": {"agent": self.tokens_written},
        }

    def _observation(self) -> dict[str, str]:
        assert self.example is not None
        if self._done:
            return {"role": "", "system": "", "user": "", "question": self.example.question, "fields": "{}"}
        user = f"Question: {self.example.question}\n" + "\n".join(self.transcript)
        if len(user) > self.max_text_length:
            user = user[: self.max_text_length]
        fields = json.dumps({"turn": self.turn, "searches": self.retrieval_calls, "max_turns": self.max_turns,
                             "documents": self.seen_documents}, ensure_ascii=False)
        return {"role": "agent", "system": SYSTEM_TEXT, "user": user, "question": self.example.question, "fields": fields}

    def _info(self, raw: str, parsed: Any, valid: bool, message: str, hits: list[Hit]) -> dict[str, Any]:
        assert self.example is not None
        info: dict[str, Any] = {
            "question_id": self.example.id,
            "question_index": self.example_index,
            "role": "agent" if raw or self.turn else "",
            "action_raw": raw[:MAX_RECORDED_ACTION_CHARS],
            "action_chars": len(raw),
            "action_parsed": parsed,
            "valid": valid,
            "message": message,
            "penalty": self.penalties[-1] if self.penalties and self.turn else 0.0,
            "executor_steps": [],
            "retrieved_ids": [h.id for h in hits],
            "retrieved_titles": [h.title for h in hits],
            "counters": self._counters(),
            "workflow": "monolithic",
            "reward_components": self._final.get("components"),
            "retrieval_cache": {"hits": 0, "misses": 0},
        }
        if self._done and self._final:
            global_r = self._final["reward"]
            placement = self.reward_config.placement
            info.update({
                "prediction": self.prediction,
                "gold_answers": list(self.example.answers),
                "metrics": self._final["metrics"],
                "supporting_title_recall": supporting_title_recall(self.example.supporting_titles, self.retrieved_titles),
                "transition_rewards": [p + (global_r if placement == "broadcast" or i == len(self.penalties) - 1 else 0.0)
                                       for i, p in enumerate(self.penalties)],
                "transition_roles": ["agent"] * len(self.penalties),
                "truncated": self._truncated,
            })
        return info

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.example is None:
            return None
        return self._observation()["user"]

    def close(self) -> None:
        self.retrievers.close()
        super().close()
