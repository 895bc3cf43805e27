"""The JADE episode engine, independent of Gymnasium and PettingZoo (SPEC sections 2-5).

One :class:`Episode` is one question. The engine says which role acts next and what it is shown
(:attr:`Episode.pending` is an :class:`ActRequest`), takes that role's text (:meth:`Episode.act`),
parses and validates it, applies the fallback when it is invalid, asks for retrieval when a workflow
runs R (:attr:`Episode.pending` is a :class:`RetrieveRequest`, answered by :meth:`Episode.supply_hits`
so that a driver can batch the queries of many episodes into one retriever call), keeps the record
of (sub-question, answer) nodes and the counters, and ends with the final answer and the reward.

The episode itself is written as the paper's algorithm, in :meth:`Episode._solve`: a Python generator
that yields a request whenever it needs an agent's text or retrieved documents::

    workflow = plan(question)
    if workflow is QDS or QDP:
        for each sub-question (serial: from the second on, QR rewrites it with the answers so far):
            answer = solve(sub-question, depth + 1)        # plan the sub-question, run its workflow
        final = AS(question, (sub-question, answer) pairs)
    else:
        query = QR(question) if QR; docs = R(query) if R; docs = DS(docs) if DS; final = AG(question, docs)
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from jade_env.data.types import Example
from jade_env.retrieval.base import Hit, Retriever
from jade_env.roles.ids import MODULE_CODES, ROLES, SUB_MODULES
from jade_env.roles.parsers import (
    Parsed,
    parse_answer,
    parse_doc_ids,
    parse_query,
    parse_subquestions,
    parse_workflow,
)
from jade_env.roles.prompts import DocumentView, RoleView, render
from jade_env.scoring import score_answer, supporting_title_recall
from jade_env.workflow.rewards import RewardConfig, global_reward, reward_components

#: the longest fallback answer kept from an invalid AG/AS output (characters)
MAX_FALLBACK_ANSWER_CHARS = 2_000
#: the part of a raw action kept in ``info`` and trajectories (characters); the length is kept too
MAX_RECORDED_ACTION_CHARS = 4_000


def parse_workflow_spec(spec: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``"QR,R,DS,AG"`` or a sequence of codes -> a validated tuple (ValueError when invalid)."""
    if spec is None:
        return None
    text = spec if isinstance(spec, str) else ",".join(spec)
    parsed = parse_workflow(f"<workflow>{text}</workflow>")
    if not parsed.valid:
        raise ValueError(f"workflow={text!r} is not a valid workflow: {parsed.message}")
    return parsed.value


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Every setting of the engine; each is a ``gym.make`` keyword of the environments.

    ``workflow`` fixes the top-level graph (the planner is never asked: static joint); then
    ``sub_workflow`` (default ``R,AG``) is used for sub-questions if the fixed graph decomposes.
    ``max_steps`` is the hard cap on agent steps: reaching it truncates the episode and scores
    the best answer found so far.
    """

    max_subquestions: int = 4
    decomposition_depth: int = 1
    top_k: int = 5
    strict_format: bool = True
    max_steps: int = 40
    workflow: tuple[str, ...] | None = None
    sub_workflow: tuple[str, ...] | None = None
    few_shot: bool = False
    reward: RewardConfig = field(default_factory=RewardConfig)

    def __post_init__(self) -> None:
        for name in ("max_subquestions", "top_k", "max_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not isinstance(self.decomposition_depth, int) or self.decomposition_depth < 0:
            raise ValueError(f"decomposition_depth must be an integer >= 0, got {self.decomposition_depth!r}")
        self.reward.validate()


@dataclass(frozen=True, slots=True)
class ActRequest:
    """A role must act: what it is shown, and its rendered prompt."""

    role: str
    view: RoleView
    system: str
    user: str


@dataclass(frozen=True, slots=True)
class RetrieveRequest:
    """The workflow runs R: retrieve ``k`` passages for ``query``."""

    query: str
    k: int


@dataclass(slots=True)
class StepRecord:
    """What happened to one agent output: the parse, the fallback applied, the penalty."""

    role: str
    raw: str
    parsed: Any
    valid: bool
    message: str
    penalty: float
    retrieved_ids: list[str] = field(default_factory=list)
    retrieved_titles: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Counters:
    """Per-episode counters (SPEC section 3.5)."""

    rounds: int = 0
    retrieval_calls: int = 0
    steps: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROLES, 0))
    invalid: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROLES, 0))
    chars_read: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROLES, 0))
    chars_written: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROLES, 0))
    tokens_read: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROLES, 0))
    tokens_written: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROLES, 0))

    @property
    def total_steps(self) -> int:
        return sum(self.steps.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "retrieval_calls": self.retrieval_calls,
            "steps": dict(self.steps),
            "invalid": dict(self.invalid),
            "chars_read": dict(self.chars_read),
            "chars_written": dict(self.chars_written),
            "tokens_read": dict(self.tokens_read),
            "tokens_written": dict(self.tokens_written),
        }


Request = ActRequest | RetrieveRequest
_Gen = Generator[Request, Any, Any]


class Episode:
    """One question worked by the team, step by step. See the module docstring for the protocol."""

    def __init__(
        self,
        example: Example,
        config: EngineConfig,
        token_counter: Callable[[str], int] | None = None,
    ) -> None:
        self.example = example
        self.config = config
        self.token_counter = token_counter
        self.counters = Counters()
        self.records: list[StepRecord] = []
        self.nodes: list[tuple[str, str]] = []  # the global record of (sub-question, answer)
        self.workflows: list[tuple[int, tuple[str, ...]]] = []  # (depth, workflow) in the order chosen
        self.retrieved_titles: list[str] = []
        self.prediction: str | None = None
        self.truncated = False
        self.reward_components: dict[str, float] | None = None
        self.reward: float | None = None
        self.metrics: dict[str, float] | None = None
        self.supporting_title_recall: float | None = None
        self._last: StepRecord | None = None
        self._best_answer = ""
        self._gen: _Gen = self._solve_top()
        self.pending: Request | None = None
        self._advance(None)

    # ---------------------------------------------------------------- protocol for drivers
    @property
    def done(self) -> bool:
        return self.pending is None

    def act(self, text: Any) -> StepRecord:
        """Give the pending role's output. Never raises on bad text: it is an invalid output."""
        request = self.pending
        if not isinstance(request, ActRequest):
            raise RuntimeError("Episode.act called while no role is acting (episode over or retrieval pending)")
        raw = text if isinstance(text, str) else ""
        role = request.role
        c = self.counters
        c.steps[role] += 1
        c.chars_read[role] += len(request.system) + len(request.user)
        c.chars_written[role] += len(raw)
        if self.token_counter is not None:
            c.tokens_read[role] += self.token_counter(request.system) + self.token_counter(request.user)
            c.tokens_written[role] += self.token_counter(raw[: MAX_FALLBACK_ANSWER_CHARS * 10])  # bounded: a 1 MB output costs no more
        record = StepRecord(role=role, raw=raw, parsed=None, valid=False, message="", penalty=0.0)
        if not isinstance(text, str):
            record.message = f"action is {type(text).__name__}, expected text (str)"
        self.records.append(record)
        self._last = record
        self._advance(text if isinstance(text, str) else None)
        return record

    def supply_hits(self, hits: Sequence[Hit]) -> None:
        """Answer the pending :class:`RetrieveRequest` with the retrieved hits, best first."""
        if not isinstance(self.pending, RetrieveRequest):
            raise RuntimeError("Episode.supply_hits called while no retrieval is pending")
        self.counters.retrieval_calls += 1
        self.retrieved_titles.extend(h.title for h in hits)
        if self.records:
            self.records[-1].retrieved_ids.extend(h.id for h in hits)
            self.records[-1].retrieved_titles.extend(h.title for h in hits)
        self._advance(list(hits))

    def run_retrievals(self, retriever: Retriever) -> None:
        """Serve every pending retrieval with ``retriever`` until a role must act or the episode ends."""
        while isinstance(self.pending, RetrieveRequest):
            self.supply_hits(retriever.search([self.pending.query], self.pending.k)[0])

    # ---------------------------------------------------------------- the algorithm
    def _solve_top(self) -> _Gen:
        answer, rounds = yield from self._solve(self.example.question, depth=0)
        self.counters.rounds = rounds
        self._finish(answer)

    def _solve(self, question: str, depth: int) -> Generator[Request, Any, tuple[str, int]]:
        """Answer ``question`` at ``depth``; returns (answer, rounds used)."""
        workflow = yield from self._plan(question, depth)
        if workflow[0] in ("QDS", "QDP"):
            serial = workflow[0] == "QDS"
            subquestions = yield from self._decompose(question, serial)
            pairs: list[tuple[str, str]] = []
            sub_rounds: list[int] = []
            for sub in subquestions:
                if serial and pairs:  # rewrite with the answers found so far (the first has none to use)
                    sub = yield from self._rewrite(sub, question, pairs)
                answer, rounds = yield from self._solve(sub, depth + 1)
                pairs.append((sub, answer))
                self.nodes.append((sub, answer))
                sub_rounds.append(rounds)
            final = yield from self._summarise(question, pairs)
            return final, 1 + (sum(sub_rounds) if serial else max(sub_rounds))
        answer = yield from self._execute_direct(workflow, question, depth)
        return answer, 1

    def _execute_direct(self, workflow: tuple[str, ...], question: str, depth: int) -> Generator[Request, Any, str]:
        query = question
        if "QR" in workflow:
            query = yield from self._rewrite(question, question, [], history_visible=False)
        documents: list[Hit] = []
        if "R" in workflow:
            documents = yield RetrieveRequest(query, self.config.top_k)
        if "DS" in workflow:
            documents = yield from self._select(question, documents)
        answer = yield from self._answer("ag", question, documents, retrieved="R" in workflow)
        return answer

    # ---------------------------------------------------------------- one role each
    def _ask(self, view: RoleView) -> Generator[Request, Any, tuple[str | None, StepRecord]]:
        system, user = render(view.role, view, few_shot=self.config.few_shot)
        text = yield ActRequest(view.role, view, system, user)
        return text, self._last

    def _judge(self, record: StepRecord, parsed: Parsed, fallback: Any, text: str | None) -> Any:
        """Apply the parse result to ``record``; return the value or the fallback (with its penalty)."""
        if text is not None and parsed.valid:
            record.valid, record.parsed = True, parsed.value
            return parsed.value
        record.valid = False
        if not record.message:
            record.message = parsed.message
        record.penalty = self.config.reward.penalty(record.role)
        record.parsed = fallback
        self.counters.invalid[record.role] += 1
        return fallback

    def _plan(self, question: str, depth: int) -> Generator[Request, Any, tuple[str, ...]]:
        fixed = self.config.workflow if depth == 0 else self.config.sub_workflow
        if fixed is None and self.config.workflow is not None:
            fixed = ("R", "AG")
        if fixed is not None:
            self.workflows.append((depth, fixed))
            return fixed
        allowed = frozenset(MODULE_CODES) if depth < self.config.decomposition_depth else SUB_MODULES
        modules = tuple(m for m in MODULE_CODES if m in allowed)
        view = RoleView("planner", question, self.example.question, modules=modules, depth=depth,
                        max_subquestions=self.config.max_subquestions)
        text, record = yield from self._ask(view)
        parsed = parse_workflow(text or "", allowed=allowed, strict=self.config.strict_format)
        fallback = ("QDS",) if depth < self.config.decomposition_depth else ("R", "AG")
        workflow = self._judge(record, parsed, fallback, text)
        self.workflows.append((depth, workflow))
        return workflow

    def _decompose(self, question: str, serial: bool) -> Generator[Request, Any, tuple[str, ...]]:
        role = "qds" if serial else "qdp"
        view = RoleView(role, question, self.example.question, max_subquestions=self.config.max_subquestions)
        text, record = yield from self._ask(view)
        parsed = parse_subquestions(text or "", question=question, max_subquestions=self.config.max_subquestions,
                                    strict=self.config.strict_format)
        return self._judge(record, parsed, (question,), text)

    def _rewrite(self, question: str, original: str, pairs: Sequence[tuple[str, str]],
                 history_visible: bool = True) -> Generator[Request, Any, str]:
        view = RoleView("qr", question, original if history_visible else question,
                        history=tuple(pairs) if history_visible else ())
        text, record = yield from self._ask(view)
        parsed = parse_query(text or "", input_question=question, strict=self.config.strict_format)
        return self._judge(record, parsed, question, text)

    def _select(self, question: str, documents: list[Hit]) -> Generator[Request, Any, list[Hit]]:
        view = RoleView("ds", question, self.example.question, documents=_views(documents), retrieved=True)
        text, record = yield from self._ask(view)
        parsed = parse_doc_ids(text or "", n_documents=len(documents), strict=self.config.strict_format)
        indices = self._judge(record, parsed, tuple(range(len(documents))), text)
        return [documents[i] for i in indices]

    def _answer(self, role: str, question: str, documents: Sequence[Hit], retrieved: bool) -> Generator[Request, Any, str]:
        view = RoleView(role, question, self.example.question, documents=_views(documents), retrieved=retrieved)
        text, record = yield from self._ask(view)
        parsed = parse_answer(text or "", strict=self.config.strict_format)
        answer = self._judge(record, parsed, (text or "").strip()[:MAX_FALLBACK_ANSWER_CHARS], text)
        self._best_answer = answer
        return answer

    def _summarise(self, question: str, pairs: Sequence[tuple[str, str]]) -> Generator[Request, Any, str]:
        view = RoleView("as", question, question, history=tuple(pairs))
        text, record = yield from self._ask(view)
        parsed = parse_answer(text or "", strict=self.config.strict_format)
        answer = self._judge(record, parsed, (text or "").strip()[:MAX_FALLBACK_ANSWER_CHARS], text)
        self._best_answer = answer
        return answer

    # ---------------------------------------------------------------- driving and ending
    def _advance(self, value: Any) -> None:
        try:
            self.pending = self._gen.send(value)
        except StopIteration:
            self.pending = None
            return
        if isinstance(self.pending, ActRequest) and self.counters.total_steps >= self.config.max_steps:
            self._truncate()

    def _truncate(self) -> None:
        """The step cap is reached: end now and score the best answer found so far."""
        self._gen.close()
        self.truncated = True
        if self.counters.rounds == 0:
            self.counters.rounds = 1 + len(self.nodes) if self.nodes else 1
        self._finish(self._best_answer)
        self.pending = None

    def _finish(self, answer: str) -> None:
        self.prediction = answer
        score = score_answer(answer, self.example.answers)
        format_total = sum(r.penalty for r in self.records)
        self.reward_components = reward_components(score, self.example.answers, format_total,
                                                   self.counters.rounds, self.counters.retrieval_calls)
        self.reward = global_reward(self.config.reward, self.reward_components)
        self.metrics = score.as_dict()
        self.supporting_title_recall = supporting_title_recall(self.example.supporting_titles, self.retrieved_titles)

    def transition_rewards(self) -> list[float]:
        """Per agent step: its format penalty, plus the global reward on every step (broadcast) or the last."""
        if self.reward is None:
            return [r.penalty for r in self.records]
        if self.config.reward.placement == "broadcast":
            return [r.penalty + self.reward for r in self.records]
        return [r.penalty + (self.reward if i == len(self.records) - 1 else 0.0) for i, r in enumerate(self.records)]

    @property
    def top_workflow(self) -> str:
        """The top-level workflow chosen, as ``"QR,R,DS,AG"`` (empty before the planner acted)."""
        return ",".join(self.workflows[0][1]) if self.workflows else ""


def _views(hits: Sequence[Hit]) -> tuple[DocumentView, ...]:
    return tuple(DocumentView(h.id, h.title, h.text) for h in hits)
