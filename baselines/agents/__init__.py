"""Reference agents that need no training: scripted executors and fixed planners (see :mod:`baselines.agents.team`)."""

from baselines.agents.decomposer import Decomposer
from baselines.agents.executors import AnswerGenerator, AnswerSummariser, DocumentSelector, QueryRewriter
from baselines.agents.team import AGENTS, OracleTeam, ScriptedTeam, make_agent

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
