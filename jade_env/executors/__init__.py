"""Frozen executors: the roles the caller does not play, played inside the environment.

In the decoupled paradigm the caller trains the planner and the executors are black-box tools that belong to
the environment. ``gym.make(..., controlled_roles=["planner"], executor=...)`` chooses them by name or object
(:func:`make_executor`):

==================================  =====================================================================
``"scripted"`` (the default)        :class:`ScriptedTeam`: rule-based executors (and a rule planner)
an object                           anything with ``act(role, observation) -> str`` (optionally
                                    ``act_batch(roles, observations) -> list[str]``, one call for the
                                    pending turns of several episodes)
==================================  =====================================================================
"""

from __future__ import annotations

from typing import Any

from jade_env.errors import JadeError
from jade_env.executors.decomposer import Decomposer, split_question
from jade_env.executors.scripted import AnswerGenerator, AnswerSummariser, DocumentSelector, QueryRewriter
from jade_env.executors.team import ScriptedTeam

EXECUTOR_NAMES: tuple[str, ...] = ("scripted",)


def make_executor(spec: Any) -> Any:
    """The executor named or given by ``spec`` (see the module docstring); JadeError for anything else."""
    if isinstance(spec, str):
        if spec == "scripted":
            return ScriptedTeam()
        raise JadeError(f"executor={spec!r} is unknown; expected one of {', '.join(EXECUTOR_NAMES)} "
                        "or an object with act(role, observation) -> str")
    if callable(getattr(spec, "act", None)):
        return spec
    raise JadeError(f"executor must be a name ({', '.join(EXECUTOR_NAMES)}) or an object with act(role, observation) -> str, "
                    f"got {type(spec).__name__}")


__all__ = [
    "EXECUTOR_NAMES",
    "AnswerGenerator",
    "AnswerSummariser",
    "Decomposer",
    "DocumentSelector",
    "QueryRewriter",
    "ScriptedTeam",
    "make_executor",
    "split_question",
]
