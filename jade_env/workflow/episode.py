"""What every episode shares, whatever its algorithm: the request protocol, records, counters, the end.

An episode is one question worked step by step. It says what it needs next in :attr:`EpisodeBase.pending`:

* an :class:`ActRequest` (a role must write text: :meth:`EpisodeBase.act`), or
* a :class:`RetrieveRequest` (the workflow runs R: :meth:`EpisodeBase.supply_hits`), or
* ``None``: the episode is over, and :attr:`prediction`, :attr:`reward`, :attr:`metrics` are set.

A driver (:class:`jade_env.workflow.driver.EpisodeDriver`) answers requests; it may batch the retrievals
of many episodes into one call. The algorithm itself is a Python generator (``_run``) that yields a
request whenever it needs text or documents and receives the answer; the team's algorithm is
:class:`jade_env.workflow.engine.Episode`, the monolithic agent's :class:`jade_env.workflow.search_agent.SearchEpisode`.

**An episode is data.** Every input it was given is kept, in order, in :attr:`EpisodeBase.log`; an episode
is rebuilt by replaying that log into a fresh one (the algorithms are deterministic functions of their
inputs). That is how :func:`copy.deepcopy` and :mod:`pickle` work mid-episode, although a running generator
can be neither copied nor pickled: the copy continues exactly as the original would.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jade_env.data.types import Example
from jade_env.retrieval.base import Hit
from jade_env.scoring import AnswerScore, score_answer, supporting_title_recall
from jade_env.workflow.rewards import RewardConfig, global_reward, place_rewards, reward_components

#: the part of a raw action kept in ``info`` and trajectories (characters); the length is kept too
MAX_RECORDED_ACTION_CHARS = 4_000
#: the longest fallback answer kept from an invalid answer output (characters)
MAX_FALLBACK_ANSWER_CHARS = 2_000
#: text passed to a token counter is cut to this many characters (a megabyte of junk costs no more)
MAX_COUNTED_CHARS = 20_000


@dataclass(slots=True)
class ActRequest:
    """A role must act: its rendered prompt and what it is shown, as structured fields.

    ``fields`` is the JSON text of what the role is shown (the observation's ``fields``); ``question`` is the current
    target question (the original or a sub-question). Requests, views and parse results are made at every step and
    never changed (the planner's and the decomposer's are made once and asked again by every episode on the same
    question): they are plain slotted dataclasses, not frozen ones, which cost four times as much to create.
    """

    role: str
    question: str
    system: str
    user: str
    fields: str


@dataclass(slots=True)
class RetrieveRequest:
    """The workflow runs R: retrieve ``k`` passages for ``query``."""

    query: str
    k: int


Request = ActRequest | RetrieveRequest


@dataclass(slots=True)
class StepRecord:
    """What happened to one agent output: the parse, the fallback applied, the penalty, the documents it fetched."""

    role: str
    raw: str
    parsed: Any = None
    valid: bool = False
    message: str = ""
    penalty: float = 0.0
    retrieved_ids: list[str] = field(default_factory=list)
    retrieved_titles: list[str] = field(default_factory=list)


class Counters:
    """Per-episode counters, one entry per role for the per-role ones (docs/environment.md, "Counters")."""

    __slots__ = ("roles", "rounds", "retrieval_calls", "steps", "invalid", "chars_read", "chars_written", "tokens_read",
                 "tokens_written")

    def __init__(self, roles: tuple[str, ...]) -> None:
        self.roles = roles
        self.rounds = self.retrieval_calls = 0
        zeros = dict.fromkeys(roles, 0)
        self.steps, self.invalid, self.chars_read = zeros, zeros.copy(), zeros.copy()
        self.chars_written, self.tokens_read, self.tokens_written = zeros.copy(), zeros.copy(), zeros.copy()

    @property
    def total_steps(self) -> int:
        return sum(self.steps.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "retrieval_calls": self.retrieval_calls,
            "steps": self.steps.copy(),
            "invalid": self.invalid.copy(),
            "chars_read": self.chars_read.copy(),
            "chars_written": self.chars_written.copy(),
            "tokens_read": self.tokens_read.copy(),
            "tokens_written": self.tokens_written.copy(),
        }


_Gen = Generator[Request, Any, None]


class EpisodeBase:
    """The protocol and bookkeeping of one episode (see the module docstring); subclasses write ``_run``."""

    #: the roles that may act in this kind of episode (the counters have one entry per role)
    roles: tuple[str, ...] = ()
    #: a hard cap on agent steps: when a role would act beyond it, the episode is truncated (None: no cap)
    step_cap: int | None = None

    def __init__(self, example: Example, reward: RewardConfig, token_counter: Callable[[str], int] | None = None) -> None:
        self.example = example
        self.reward_config = reward
        self.token_counter = token_counter
        self.counters = Counters(self.roles)
        self.records: list[StepRecord] = []
        self.retrieved_titles: list[str] = []
        self.log: list[tuple[str, Any, str]] = []  # every input, in order: ("act", text, message), ("hits", hits, ""), ("truncate", ...)
        self.prediction: str | None = None
        self.current_answer = ""  # the best answer so far: what a truncation now would score
        self.truncated = False
        self.reward: float | None = None
        self.reward_components: dict[str, float] | None = None
        self.metrics: dict[str, float] | None = None
        self.supporting_title_recall: float | None = None
        self.pending: Request | None = None
        self._gen: _Gen = self._run()
        self._advance(None)

    # ---------------------------------------------------------------- the protocol for drivers
    @property
    def done(self) -> bool:
        return self.pending is None

    def act(self, text: Any, message: str = "") -> StepRecord:
        """Give the pending role's output. Never raises on bad text: a non-string is an invalid output.

        ``message`` (optional) says why the output is invalid before it is parsed, e.g. that the
        executor that should have written it raised.
        """
        request = self.pending
        if not isinstance(request, ActRequest):
            raise RuntimeError("act() called while no role is acting (the episode is over or a retrieval is pending)")
        if isinstance(text, str):
            raw, given = text, text
        else:
            raw, given = "", None
            message = message or f"action is {type(text).__name__}, expected text (str)"
        self.log.append(("act", given, message))
        role, c = request.role, self.counters
        c.steps[role] += 1
        c.chars_read[role] += len(request.system) + len(request.user)
        c.chars_written[role] += len(raw)
        if self.token_counter is not None:
            c.tokens_read[role] += self.token_counter(request.system) + self.token_counter(request.user)
            c.tokens_written[role] += self.token_counter(raw[:MAX_COUNTED_CHARS])
        record = StepRecord(role, raw, message=message)
        self.records.append(record)
        self._advance((given, record))
        return record

    def supply_hits(self, hits: Sequence[Hit]) -> None:
        """Answer the pending :class:`RetrieveRequest` with the retrieved hits, best first."""
        if not isinstance(self.pending, RetrieveRequest):
            raise RuntimeError("supply_hits() called while no retrieval is pending")
        if type(hits) is not list:
            hits = list(hits)
        self.log.append(("hits", hits, ""))
        self.counters.retrieval_calls += 1
        titles = [h.title for h in hits]
        self.retrieved_titles += titles
        if self.records:  # the documents belong to the output that asked for them (planner, QR or a search turn)
            record = self.records[-1]
            record.retrieved_ids += [h.id for h in hits]
            record.retrieved_titles += titles
        self._advance(hits)

    @property
    def top_workflow(self) -> str:
        """The top-level workflow, as text (``""`` while none is chosen)."""
        return ""

    def current_metrics(self) -> dict[str, float]:
        """The metrics of :attr:`current_answer` against the gold answers (of the prediction, once the episode is over)."""
        if self.metrics is not None:
            return self.metrics.copy()
        return _scored(self.current_answer, self.example.answers)[1].copy()

    def transition_rewards(self) -> list[float]:
        """Per agent step: its format penalty plus its share of the global reward (placement of the reward config)."""
        return place_rewards([r.penalty for r in self.records], self.reward, self.reward_config.placement)

    # ---------------------------------------------------------------- for subclasses
    def _run(self) -> _Gen:  # pragma: no cover - abstract
        raise NotImplementedError
        yield

    def _init_args(self) -> tuple:
        """The constructor arguments that, with :attr:`log`, rebuild this episode."""
        return (self.example, self.reward_config, self.token_counter)

    def _advance(self, value: Any) -> None:
        try:
            self.pending = self._gen.send(value)
        except StopIteration:
            self.pending = None
            return
        if self.step_cap is not None and len(self.records) >= self.step_cap and type(self.pending) is ActRequest:
            self._end_early()

    def truncate(self) -> None:
        """End the episode now, from outside (a step limit of the caller's, e.g. Gymnasium's ``TimeLimit``).

        The episode is scored as when it reaches its own step cap. It is an input like any other: it is logged,
        so that a copy of a truncated episode is truncated too.
        """
        if self.pending is not None:
            self.log.append(("truncate", None, ""))
            self._end_early()

    def _end_early(self) -> None:
        self._gen.close()
        self.pending = None
        self._truncated_end()

    def _truncated_end(self) -> None:  # pragma: no cover - each episode kind says what a truncated episode scores
        raise NotImplementedError

    def _judge(self, record: StepRecord, parsed: Any, fallback: Any, text: str | None) -> Any:
        """Apply a parse result to ``record``; return the parsed value, or the fallback with its penalty."""
        if text is not None and parsed.valid:
            record.valid, record.parsed = True, parsed.value
            return parsed.value
        record.valid = False
        if not record.message:
            record.message = parsed.message
        record.penalty = self.reward_config.penalty(record.role)
        record.parsed = fallback
        self.counters.invalid[record.role] += 1
        return fallback

    def _finish(self, answer: str, truncated: bool = False) -> None:
        """The episode ends with ``answer``: score it, and compute the reward and its components."""
        self.prediction, self.truncated = answer, truncated
        score, metrics = _scored(answer, self.example.answers)
        self.reward_components = reward_components(score, self.example.answers, sum(r.penalty for r in self.records),
                                                    self.counters.rounds, self.counters.retrieval_calls, self.reward_config.free_rounds)
        self.reward = global_reward(self.reward_config, self.reward_components)
        self.metrics = metrics.copy()
        self.supporting_title_recall = supporting_title_recall(self.example.supporting_titles, self.retrieved_titles)

    # ---------------------------------------------------------------- an episode is data
    def __reduce__(self):
        return (_replayed, (type(self), self._init_args(), self.log))

    def __deepcopy__(self, memo: dict) -> EpisodeBase:
        return _replayed(type(self), self._init_args(), copy.deepcopy(self.log, memo))


def _scored(answer: str, golds: Sequence[str]) -> tuple[AnswerScore, dict[str, float]]:
    """``score_answer(answer, golds)`` and its dict, kept for the pairs seen again (asked at every step until the answer
    changes, and by every episode of a question that writes the same answer)."""
    try:
        return _kept_score(answer, golds)
    except TypeError:  # unhashable gold answers (a caller's list)
        return _kept_score.__wrapped__(answer, golds)


@lru_cache(maxsize=16384)
def _kept_score(answer: str, golds: Sequence[str]) -> tuple[AnswerScore, dict[str, float]]:
    score = score_answer(answer, golds)
    return score, score.as_dict()


def _replayed(cls: type[EpisodeBase], args: tuple, log: list[tuple[str, Any, str]]) -> EpisodeBase:
    """A fresh episode of ``cls`` that has been given the inputs of ``log``, in order."""
    episode = cls(*args)
    for kind, value, message in log:
        if kind == "act":
            episode.act(value, message)
        elif kind == "hits":
            episode.supply_hits(value)
        else:
            episode.truncate()
    return episode
