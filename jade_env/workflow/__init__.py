"""The JADE episode engine: roles take turns, retrieval runs inside, one outcome reward at the end."""

from jade_env.workflow.engine import ActRequest, Counters, EngineConfig, Episode, RetrieveRequest, StepRecord
from jade_env.workflow.rewards import PRESETS, RewardConfig, make_reward_config

__all__ = [
    "PRESETS",
    "ActRequest",
    "Counters",
    "EngineConfig",
    "Episode",
    "RetrieveRequest",
    "RewardConfig",
    "StepRecord",
    "make_reward_config",
]
