"""Reference agents: a planner plus the scripted executors, one object that plays every role.

Each paradigm of the paper's Table 2 has a no-training reference (the names are the CLI's):

===================  ======================================================================
``closed-book``      AG only: answer without retrieval ("LLM without retrieval")
``vanilla-rag``      R, AG with the top 5 passages
``fixed-graph``      QR, R, DS, AG for every question (the static graph, untrained)
``always-decompose`` QDS for every question, then R, AG for each sub-question
``rule-planner``     a dynamic planner by rule: QDP for comparisons, QDS for bridges, else R, AG
``oracle``           UPPER BOUND, not a method: gold decompositions and gold supporting passages
                     where the dataset has them, with the scripted answer extractor
===================  ======================================================================

All of them work both as the caller's policy and as the frozen ``executor=`` of a decoupled env.
"""

from __future__ import annotations

from collections.abc import Sequence

from jade_env.data.types import Example
from jade_env.executors import ScriptedTeam
from jade_env.roles.prompts import fields_of


class OracleTeam(ScriptedTeam):
    """UPPER BOUND: plans and selects with gold information the policy would not have.

    For a question with a gold decomposition it plans QDS and writes the gold sub-questions (with
    ``#k`` placeholders filled by the rewriter); the document selector keeps the gold supporting
    passages among those retrieved. Answers are still extracted by the scripted generator.
    """

    name = "oracle"

    def __init__(self, examples: Sequence[Example]) -> None:
        super().__init__(workflow=None)
        self.by_question = {e.question: e for e in examples}

    def _example(self, observation: dict[str, str]) -> Example | None:
        return self.by_question.get(fields_of(observation).get("original_question", observation["question"]))

    def act(self, role: str, observation: dict[str, str]) -> str:
        example = self._example(observation)
        depth = fields_of(observation).get("depth", 0)
        if role == "planner" and depth == 0 and example is not None:
            if len(example.decomposition) >= 2:  # serial when a step refers to an earlier answer (#k)
                serial = any("#" in s.question for s in example.decomposition)
                return f"<workflow>{'QDS' if serial else 'QDP'}</workflow>"
            return "<workflow>R,DS,AG</workflow>" if example.supporting_titles else "<workflow>R,AG</workflow>"
        if role == "planner":
            return "<workflow>R,DS,AG</workflow>"
        if role in ("qds", "qdp") and example is not None and len(example.decomposition) >= 2:
            return "".join(f"<q{i}>{s.question}</q{i}>" for i, s in enumerate(example.decomposition[:4], start=1))
        if role == "ds" and example is not None:
            docs = fields_of(observation).get("documents", [])
            keep = [i for i, d in enumerate(docs) if d.get("title") in example.supporting_titles]
            if keep:
                return "<id>" + ",".join(f"Document{i}" for i in keep) + "</id>"
        return super().act(role, observation)


AGENTS: dict[str, str] = {
    "closed-book": "AG only: answer without retrieval",
    "vanilla-rag": "R,AG with the top-5 passages",
    "fixed-graph": "QR,R,DS,AG for every question (static graph, untrained)",
    "always-decompose": "QDS for every question, then R,AG per sub-question",
    "rule-planner": "dynamic planner by rule: QDP for comparisons, QDS for bridges, else R,AG",
    "oracle": "UPPER BOUND: gold decompositions and gold supporting passages",
}


def make_agent(name: str, examples: Sequence[Example] = (), **kwargs) -> ScriptedTeam:
    """The reference agent called ``name`` (see :data:`AGENTS`); ValueError lists the valid names."""
    if name == "closed-book":
        return ScriptedTeam("AG", **kwargs)
    if name == "vanilla-rag":
        return ScriptedTeam("R,AG", **kwargs)
    if name == "fixed-graph":
        return ScriptedTeam("QR,R,DS,AG", **kwargs)
    if name == "always-decompose":
        return ScriptedTeam("QDS", **kwargs)
    if name == "rule-planner":
        return ScriptedTeam(None, **kwargs)
    if name == "oracle":
        return OracleTeam(examples)
    raise ValueError(f"unknown agent {name!r}; valid agents: {', '.join(AGENTS)}")
