"""Reference agents that need no training (see :mod:`baselines.agents.team`); the scripted executors they use
are environment components and live in :mod:`jade_env.executors`."""

from baselines.agents.team import AGENTS, OracleTeam, make_agent
from jade_env.executors import AnswerGenerator, AnswerSummariser, Decomposer, DocumentSelector, QueryRewriter, ScriptedTeam

__all__ = [
    "AGENTS",
    "AnswerGenerator",
    "AnswerSummariser",
    "Decomposer",
    "DocumentSelector",
    "OracleTeam",
    "QueryRewriter",
    "ScriptedTeam",
    "make_agent",
]
