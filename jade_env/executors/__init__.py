"""Frozen executors: the roles the caller does not play, played inside the environment.

In the decoupled paradigm the caller trains the planner and the executors are black-box tools that belong to
the environment. ``gym.make(..., controlled_roles=["planner"], executor=...)`` chooses them by name or object
(:func:`make_executor`):

==================================  =====================================================================
``"scripted"`` (the default)        :class:`ScriptedTeam`: rule-based executors (and a rule planner)
``"openai:URL?model=NAME"``         :class:`~jade_env.executors.endpoint.EndpointExecutor`: a language
                                    model behind an OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp),
                                    e.g. ``"openai:http://127.0.0.1:8000/v1?model=Qwen2.5-7B-Instruct"``
an object                           anything with ``act(role, observation) -> str`` (optionally
                                    ``act_batch(roles, observations) -> list[str]``, one call for the
                                    pending turns of several episodes)
==================================  =====================================================================
"""

from __future__ import annotations

from typing import Any

from jade_env.errors import JadeError
from jade_env.executors.decomposer import Decomposer, split_question
from jade_env.executors.endpoint import SCHEME, ChatEndpoint, EndpointExecutor
from jade_env.executors.scripted import AnswerGenerator, AnswerSummariser, DocumentSelector, QueryRewriter
from jade_env.executors.team import ScriptedTeam

EXECUTOR_NAMES: tuple[str, ...] = ("scripted",)


def make_executor(spec: Any) -> Any:
    """The executor named or given by ``spec`` (see the module docstring); JadeError for anything else."""
    if isinstance(spec, str):
        if spec == "scripted":
            return ScriptedTeam()
        if spec.startswith(SCHEME):
            return EndpointExecutor.from_spec(spec)
        raise JadeError(f"executor={spec!r} is unknown; expected one of {', '.join(EXECUTOR_NAMES)}, "
                        f"'{SCHEME}http://HOST:PORT/v1?model=NAME', or an object with act(role, observation) -> str")
    if callable(getattr(spec, "act", None)):
        return spec
    raise JadeError(f"executor must be a name ({', '.join(EXECUTOR_NAMES)}) or an object with act(role, observation) -> str, "
                    f"got {type(spec).__name__}")


__all__ = [
    "EXECUTOR_NAMES",
    "AnswerGenerator",
    "AnswerSummariser",
    "ChatEndpoint",
    "Decomposer",
    "DocumentSelector",
    "EndpointExecutor",
    "QueryRewriter",
    "ScriptedTeam",
    "make_executor",
    "split_question",
]
