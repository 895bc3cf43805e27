"""The JADE team's episode: the paper's algorithm, independent of Gymnasium and PettingZoo.

One :class:`Episode` is one question answered by the team (docs/environment.md). It follows the request
protocol of :mod:`jade_env.workflow.episode`: it asks for an agent's text (:class:`ActRequest`) or for
retrieval (:class:`RetrieveRequest`), parses and validates each output, applies the fallback when it is
invalid, keeps the record of (sub-question, answer) nodes and the counters, and ends with the final answer
and the reward. The algorithm is :meth:`Episode._solve`::

    workflow = plan(question)
    if workflow is QDS or QDP:
        for each sub-question (serial: from the second on, QR rewrites it with the answers so far):
            answer = solve(sub-question, depth + 1)        # plan the sub-question, run its workflow
        final = AS(question, (sub-question, answer) pairs)
    else:
        query = QR(question) if QR; docs = R(query) if R; docs = DS(docs) if DS; final = AG(question, docs)

Where the JADE authors' released code does otherwise, :class:`EngineConfig` has a switch (all off by
default; the env's ``preset="authors_code"`` turns them on): ``rewrite_every_subquestion`` (QR rewrites
every serial sub-question, the first included), ``rewrite_replaces_question`` (in a direct chain, DS and
AG are asked the rewritten query instead of the question), ``strict_doc_ids`` (DS ids written
``Document0,Document3`` with no white space).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jade_env.data.types import Example
from jade_env.retrieval.base import Hit
from jade_env.roles.ids import MODULE_CODES, ROLES, SUB_MODULES
from jade_env.roles.parsers import (
    check_workflow,
    parse_answer,
    parse_doc_ids,
    parse_query,
    parse_subquestions,
    parse_workflow,
)
from jade_env.roles.prompts import RoleView, fields_text, render
from jade_env.workflow.episode import (
    MAX_FALLBACK_ANSWER_CHARS,
    ActRequest,
    EpisodeBase,
    Request,
    RetrieveRequest,
)
from jade_env.workflow.rewards import RewardConfig

#: the sub-question workflow of a fixed plan when only the top level is given
DEFAULT_SUB_WORKFLOW: tuple[str, ...] = ("R", "AG")
#: (modules allowed, the codes the planner is shown) where it may decompose and where it may not
_PLANNER_MODULES = {True: (frozenset(MODULE_CODES), MODULE_CODES),
                    False: (SUB_MODULES, tuple(m for m in MODULE_CODES if m in SUB_MODULES))}


def parse_workflow_spec(spec: str | Sequence[str] | None, *, name: str = "workflow",
                        allowed: frozenset[str] | None = None) -> tuple[str, ...] | None:
    """``"QR,R,DS,AG"`` or a sequence of codes -> a validated tuple (ValueError naming ``name`` when invalid)."""
    if spec is None:
        return None
    if not isinstance(spec, str) and not (isinstance(spec, Sequence) and all(isinstance(m, str) for m in spec)):
        raise ValueError(f"{name}={spec!r} is not a workflow; expected text such as 'QR,R,DS,AG' or a sequence of module codes")
    modules = tuple(m.strip() for m in spec.split(",")) if isinstance(spec, str) else tuple(spec)
    checked = check_workflow(modules, allowed=allowed)
    if not checked.valid:
        raise ValueError(f"{name}={spec!r} is not a valid workflow: {checked.message}")
    return checked.value


@dataclass(frozen=True, slots=True)
class FixedPlan:
    """Workflows chosen in advance instead of by the planner (the static paradigm's graph).

    ``top`` is the workflow of the original question and ``sub`` that of every sub-question; ``None``
    means the planner is asked at that level. A fixed ``top`` with no ``sub`` runs sub-questions with
    ``R,AG`` (:data:`DEFAULT_SUB_WORKFLOW`), so a fixed plan never asks the planner anything.
    """

    top: tuple[str, ...] | None = None
    sub: tuple[str, ...] | None = None

    @classmethod
    def from_specs(cls, workflow: str | Sequence[str] | None, sub_workflow: str | Sequence[str] | None) -> FixedPlan | None:
        top = parse_workflow_spec(workflow)
        sub = parse_workflow_spec(sub_workflow, name="sub_workflow", allowed=SUB_MODULES)
        if top is None and sub is None:
            return None
        return cls(top, sub if sub is not None or top is None else DEFAULT_SUB_WORKFLOW)

    def at(self, depth: int) -> tuple[str, ...] | None:
        return self.top if depth == 0 else self.sub

    def roles(self) -> frozenset[str] | None:
        """The roles that may act under this plan (None: the planner is asked, so any role may)."""
        if self.top is None:
            return None
        acting = {"QR": "qr", "DS": "ds", "AG": "ag"}
        roles = {acting[m] for m in self.top if m in acting}
        if self.top[0] in ("QDS", "QDP"):
            roles |= {self.top[0].lower(), "as", *(acting[m] for m in self.sub or DEFAULT_SUB_WORKFLOW if m in acting)}
            if self.top[0] == "QDS":
                roles.add("qr")  # the serial sub-questions after the first are rewritten with the answers so far
        return frozenset(roles)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Every setting of the team's episode; each is a ``gym.make`` keyword of the environments.

    ``plan`` fixes workflows in advance (static paradigm; see :class:`FixedPlan`). ``max_steps`` is the
    hard cap on agent steps: reaching it truncates the episode and scores the best answer found so far.
    """

    max_subquestions: int = 4
    decomposition_depth: int = 1
    top_k: int = 5
    strict_format: bool = True
    max_steps: int = 40
    plan: FixedPlan | None = None
    few_shot: bool = False
    reward: RewardConfig = field(default_factory=RewardConfig)
    rewrite_every_subquestion: bool = False
    rewrite_replaces_question: bool = False
    strict_doc_ids: bool = False

    def __post_init__(self) -> None:
        for name in ("strict_format", "few_shot", "rewrite_every_subquestion", "rewrite_replaces_question", "strict_doc_ids"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("max_subquestions", "top_k", "max_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.decomposition_depth, bool) or not isinstance(self.decomposition_depth, int) or self.decomposition_depth < 0:
            raise ValueError(f"decomposition_depth must be an integer >= 0, got {self.decomposition_depth!r}")
        self.reward.validate()


class Episode(EpisodeBase):
    """One question worked by the team, step by step (see the module docstring and :class:`EpisodeBase`)."""

    roles = ROLES

    def __init__(self, example: Example, config: EngineConfig, token_counter: Callable[[str], int] | None = None) -> None:
        self.config = config
        self.step_cap = config.max_steps
        self.nodes: list[tuple[str, str]] = []  # the global record of (sub-question, answer)
        self.workflows: list[tuple[int, tuple[str, ...]]] = []  # (depth, workflow) in the order chosen
        self._top_workflow = ""
        super().__init__(example, config.reward, token_counter)

    def _init_args(self) -> tuple:
        return (self.example, self.config, self.token_counter)

    @property
    def top_workflow(self) -> str:
        """The top-level workflow chosen, as ``"QR,R,DS,AG"`` (empty before the planner acted)."""
        return self._top_workflow

    # ---------------------------------------------------------------- the algorithm
    def _run(self) -> Generator[Request, Any, None]:
        answer, rounds = yield from self._solve(self.example.question, depth=0)
        self.counters.rounds = rounds
        self._finish(answer)

    def _solve(self, question: str, depth: int) -> Generator[Request, Any, tuple[str, int]]:
        """Answer ``question`` at ``depth``; returns (answer, rounds used)."""
        workflow = yield from self._plan(question, depth)
        if workflow[0] in ("QDS", "QDP"):
            serial = workflow[0] == "QDS"
            subquestions = yield from self._decompose(question, serial, depth)
            pairs: list[tuple[str, str]] = []
            sub_rounds: list[int] = []
            for sub in subquestions:
                if serial and (pairs or self.config.rewrite_every_subquestion):  # rewrite with the answers so far
                    sub = yield from self._rewrite(RoleView("qr", sub, question, history=tuple(pairs), depth=depth + 1))
                answer, rounds = yield from self._solve(sub, depth + 1)
                pairs.append((sub, answer))
                self.nodes.append((sub, answer))
                sub_rounds.append(rounds)
            final = yield from self._answer(RoleView("as", question, question, history=tuple(pairs), depth=depth))
            return final, 1 + (sum(sub_rounds) if serial else max(sub_rounds))
        answer = yield from self._execute_direct(workflow, question, depth)
        return answer, 1

    def _execute_direct(self, workflow: tuple[str, ...], question: str, depth: int) -> Generator[Request, Any, str]:
        query = question
        if "QR" in workflow:  # a direct QR sees the question alone
            query = yield from self._rewrite(RoleView("qr", question, question, depth=depth))
        documents: list[Hit] = []
        if "R" in workflow:
            documents = yield RetrieveRequest(query, self.config.top_k)
        if self.config.rewrite_replaces_question:  # the released code: DS and AG are asked the rewritten query
            question = query
        if "DS" in workflow:
            documents = yield from self._select(question, documents, depth)
        view = RoleView("ag", question, self.example.question, documents=_views(documents), retrieved="R" in workflow, depth=depth)
        return (yield from self._answer(view))

    # ---------------------------------------------------------------- one role each
    def _request(self, view: RoleView) -> ActRequest:
        """The request of the role of ``view`` (what it is asked and shown)."""
        if view.documents or view.history:
            system, user = render(view.role, view, few_shot=self.config.few_shot)
            return ActRequest(view.role, view.question, system, user, fields_text(view))
        return self._plain(view.role, view.question, depth=view.depth, original=view.original_question, retrieved=view.retrieved)

    def _plain(self, role: str, question: str, *, depth: int, modules: tuple[str, ...] = (), original: str | None = None,
               retrieved: bool = False) -> ActRequest:
        """The request of a role shown no documents and no history (planner, decomposer, a direct QR): the same question
        gives the same request, episode after episode. ``original`` is the episode's question unless given."""
        return _plain_request(role, question, self.example.question if original is None else original, modules, depth,
                              self.config.max_subquestions, retrieved, self.config.few_shot)

    def _plan(self, question: str, depth: int) -> Generator[Request, Any, tuple[str, ...]]:
        fixed = self.config.plan.at(depth) if self.config.plan is not None else None
        if fixed is not None:
            self._chose(depth, fixed)
            return fixed
        may_decompose = depth < self.config.decomposition_depth
        allowed, shown = _PLANNER_MODULES[may_decompose]
        text, record = yield self._plain("planner", question, depth=depth, modules=shown)
        parsed = parse_workflow(text or "", allowed=allowed, strict=self.config.strict_format)
        workflow = self._judge(record, parsed, ("QDS",) if may_decompose else ("R", "AG"), text)
        self._chose(depth, workflow)
        return workflow

    def _chose(self, depth: int, workflow: tuple[str, ...]) -> None:
        if not self.workflows:
            self._top_workflow = ",".join(workflow)
        self.workflows.append((depth, workflow))

    def _decompose(self, question: str, serial: bool, depth: int) -> Generator[Request, Any, tuple[str, ...]]:
        text, record = yield self._plain("qds" if serial else "qdp", question, depth=depth)
        parsed = parse_subquestions(text or "", question=question, max_subquestions=self.config.max_subquestions,
                                    strict=self.config.strict_format)
        return self._judge(record, parsed, (question,), text)

    def _rewrite(self, view: RoleView) -> Generator[Request, Any, str]:
        text, record = yield self._request(view)
        parsed = parse_query(text or "", input_question=view.question, strict=self.config.strict_format)
        return self._judge(record, parsed, view.question, text)

    def _select(self, question: str, documents: list[Hit], depth: int) -> Generator[Request, Any, list[Hit]]:
        view = RoleView("ds", question, self.example.question, documents=_views(documents), retrieved=True, depth=depth)
        text, record = yield self._request(view)
        parsed = parse_doc_ids(text or "", n_documents=len(documents), strict=self.config.strict_format,
                               compact=self.config.strict_doc_ids)
        indices = self._judge(record, parsed, tuple(range(len(documents))), text)
        return [documents[i] for i in indices]

    def _answer(self, view: RoleView) -> Generator[Request, Any, str]:
        """AG (from documents) or AS (from the sub-answers): both write ``<answer>``, with the same fallback."""
        text, record = yield self._request(view)
        parsed = parse_answer(text or "", strict=self.config.strict_format)
        answer = self._judge(record, parsed, (text or "").strip()[:MAX_FALLBACK_ANSWER_CHARS], text)
        self.current_answer = answer
        return answer

    # ---------------------------------------------------------------- the step cap
    def _truncated_end(self) -> None:
        """``max_steps`` (or a limit of the caller's) is reached: score the best answer found so far."""
        if self.counters.rounds == 0:
            self.counters.rounds = 1 + len(self.nodes) if self.nodes else 1
        self._finish(self.current_answer, truncated=True)


@lru_cache(maxsize=4096)
def _plain_request(role: str, question: str, original_question: str, modules: tuple[str, ...], depth: int,
                   max_subquestions: int, retrieved: bool, few_shot: bool) -> ActRequest:
    """The request of a view without documents or history (requests are never changed, so one object serves every
    episode that asks it)."""
    view = RoleView(role, question, original_question, modules=modules, depth=depth, max_subquestions=max_subquestions,
                    retrieved=retrieved)
    system, user = render(role, view, few_shot=few_shot)
    return ActRequest(role, question, system, user, fields_text(view))


def _views(hits: Sequence[Hit]) -> tuple[Hit, ...]:
    """The documents a role is shown: the hits themselves (frozen; a view reads their ``id``, ``title`` and ``text``)."""
    return tuple(hits)

