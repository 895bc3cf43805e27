"""The JADE episode engine: roles take turns, retrieval runs inside, one outcome reward at the end.

:mod:`~jade_env.workflow.episode` (the request protocol every episode follows), :mod:`~jade_env.workflow.engine`
(the team's algorithm), :mod:`~jade_env.workflow.search_agent` (the monolithic agent's),
:mod:`~jade_env.workflow.driver` (serving retrievals and frozen executors for one or many episodes) and
:mod:`~jade_env.workflow.rewards` (presets, components, placement).
"""

from jade_env.workflow.driver import EpisodeDriver
from jade_env.workflow.engine import EngineConfig, Episode, FixedPlan
from jade_env.workflow.episode import ActRequest, Counters, EpisodeBase, RetrieveRequest, StepRecord
from jade_env.workflow.rewards import PRESETS, RewardConfig, agent_rewards, make_reward_config, place_rewards
from jade_env.workflow.search_agent import SearchConfig, SearchEpisode

__all__ = [
    "PRESETS",
    "ActRequest",
    "Counters",
    "EngineConfig",
    "Episode",
    "EpisodeBase",
    "EpisodeDriver",
    "FixedPlan",
    "RetrieveRequest",
    "RewardConfig",
    "SearchConfig",
    "SearchEpisode",
    "StepRecord",
    "agent_rewards",
    "make_reward_config",
    "place_rewards",
]
