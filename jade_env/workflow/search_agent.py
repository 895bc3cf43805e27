"""The monolithic paradigm's episode (Search-R1): one agent interleaves searching and answering.

Turn by turn the agent writes text that ends with one ``<search>query</search>`` (the top-k documents are
appended to the conversation as an ``<information>`` block) or one ``<answer>...</answer>`` (the episode
ends). A turn with neither, or (strict) with several, is invalid: format penalty, and the turn is spent.
An answer whose content breaks the answer rules (empty, over 40 words) is invalid too, and its content,
stripped, is the final answer, as for the team's AG. After ``max_turns`` turns without an answer the episode
is truncated with an empty prediction. Same request protocol, counters, records and reward as the team's
:class:`~jade_env.workflow.engine.Episode` (:mod:`jade_env.workflow.episode`); the only role is ``agent``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from jade_env.data.types import Example
from jade_env.json_text import to_json
from jade_env.retrieval.base import Hit
from jade_env.roles.parsers import MAX_OUTPUT_CHARS, parse_answer, parse_search_turn
from jade_env.workflow.episode import MAX_FALLBACK_ANSWER_CHARS, ActRequest, EpisodeBase, Request, RetrieveRequest
from jade_env.workflow.rewards import RewardConfig, make_reward_config

SYSTEM_TEXT = (
    "Answer the question. You may search an encyclopedia as often as you need: write <search>query</search> and "
    "the top documents come back between <information> and </information>. Think as you like, then give the final "
    "answer, the shortest exact phrase, as <answer>...</answer>. Each turn must end with exactly one <search> or "
    "one <answer> element."
)
AGENT = "agent"


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """Settings of the monolithic episode (``gym.make`` keywords of the Monolithic env)."""

    top_k: int = 3
    max_turns: int = 4
    strict_format: bool = True
    reward: RewardConfig = field(default_factory=lambda: make_reward_config("search_r1"))

    def __post_init__(self) -> None:
        if not isinstance(self.strict_format, bool):
            raise ValueError(f"strict_format must be True or False, got {self.strict_format!r}")
        for name in ("top_k", "max_turns"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.reward.validate()


def information_block(hits: Sequence[Hit]) -> str:
    """The documents of one search as the conversation shows them."""
    docs = "\n".join(f"Doc {i + 1} (Title: {h.title}) {h.text}" for i, h in enumerate(hits))
    return f"<information>{docs}</information>"


class SearchEpisode(EpisodeBase):
    """One question worked by the single search agent (see the module docstring)."""

    roles = (AGENT,)

    def __init__(self, example: Example, config: SearchConfig, token_counter: Callable[[str], int] | None = None) -> None:
        self.config = config
        self.transcript: list[str] = []
        self.documents: list[dict[str, str]] = []  # every document retrieved so far, in order
        super().__init__(example, config.reward, token_counter)

    def _init_args(self) -> tuple:
        return (self.example, self.config, self.token_counter)

    @property
    def top_workflow(self) -> str:
        return "monolithic"

    def _run(self) -> Generator[Request, Any, None]:
        for turn in range(self.config.max_turns):
            self.counters.rounds = turn + 1
            user = f"Question: {self.example.question}\n" + "\n".join(self.transcript)
            fields = {"turn": turn, "searches": self.counters.retrieval_calls, "max_turns": self.config.max_turns,
                      "documents": list(self.documents)}
            text, record = yield ActRequest(AGENT, self.example.question, SYSTEM_TEXT, user, to_json(fields))
            self.transcript.append(text if text is not None and len(text) <= MAX_OUTPUT_CHARS else (text or "")[:200])
            parsed = parse_search_turn(text or "", strict=self.config.strict_format)
            if text is None or not parsed.valid:
                self._judge(record, parsed, None, text)
                continue
            kind, content = parsed.value
            if kind == "answer":
                answer = parse_answer(f"<answer>{content}</answer>")
                self._finish(self._judge(record, answer, content.strip()[:MAX_FALLBACK_ANSWER_CHARS], text))
                return
            record.valid, record.parsed = True, content
            hits: list[Hit] = yield RetrieveRequest(content, self.config.top_k)
            self.documents.extend({"id": h.id, "title": h.title, "text": h.text} for h in hits)
            self.transcript.append(information_block(hits))
        self._truncated_end()

    def _truncated_end(self) -> None:
        """No answer was given in time: the prediction is empty."""
        self._finish("", truncated=True)
