"""The scripted team: every role played by rules, the default frozen executors of the decoupled paradigm.

:class:`ScriptedTeam` plays the planner by a fixed or rule-based plan (QDP for comparisons, QDS for
bridges, else R,AG) and the executors by the scripted rules of :mod:`jade_env.executors.scripted` and
:mod:`jade_env.executors.decomposer`. It is stateless, so copies and pickles of an env that holds it
continue exactly as the original.
"""

from __future__ import annotations

from jade_env.executors.decomposer import Decomposer, split_question
from jade_env.executors.scripted import AnswerGenerator, AnswerSummariser, DocumentSelector, QueryRewriter
from jade_env.roles.prompts import fields_of


class ScriptedTeam:
    """Plays every role: ``planner`` by a fixed or rule-based plan, the executors by the scripted rules.

    ``workflow`` fixes the top-level plan (``"R,AG"``, ``"QDS"``, ...); ``None`` plans by rule.
    ``sub_workflow`` is the plan of every sub-question.
    """

    name = "scripted"

    def __init__(self, workflow: str | None = None, sub_workflow: str = "R,AG") -> None:
        self.workflow, self.sub_workflow = workflow, sub_workflow
        self.rewriter, self.decomposer = QueryRewriter(), Decomposer()
        self.selector, self.generator, self.summariser = DocumentSelector(), AnswerGenerator(), AnswerSummariser()

    def plan(self, question: str, depth: int) -> str:
        if depth > 0:
            return self.sub_workflow
        if self.workflow is not None:
            return self.workflow
        subs = split_question(question, serial=True)
        if len(subs) >= 2:
            return "QDS" if any("#" in s for s in subs) else "QDP"
        return "R,AG"

    def act(self, role: str, observation: dict[str, str]) -> str:
        if role == "planner":
            return f"<workflow>{self.plan(observation['question'], fields_of(observation).get('depth', 0))}</workflow>"
        if role in ("qds", "qdp"):
            return self.decomposer.act(role, observation)
        if role == "qr":
            return self.rewriter.act(role, observation)
        if role == "ds":
            return self.selector.act(role, observation)
        if role == "ag":
            return self.generator.act(role, observation)
        if role == "as":
            return self.summariser.act(role, observation)
        return ""
