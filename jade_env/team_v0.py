"""The team env as a PettingZoo environment module, in PettingZoo's own convention.

``from jade_env import team_v0; env = team_v0.env(dataset="synthetic")`` (AEC, wrapped as PettingZoo's
modules wrap theirs), ``team_v0.raw_env(...)`` (unwrapped AEC) and ``team_v0.parallel_env(...)``.
"""

from __future__ import annotations

from typing import Any

from pettingzoo.utils import wrappers

from jade_env.envs.pettingzoo_env import JadeTeamAECEnv, JadeTeamParallelEnv


def raw_env(dataset: str = "synthetic", **engine_settings: Any) -> JadeTeamAECEnv:
    return JadeTeamAECEnv(dataset=dataset, **engine_settings)


def env(dataset: str = "synthetic", **engine_settings: Any):
    return wrappers.OrderEnforcingWrapper(raw_env(dataset, **engine_settings))


def parallel_env(dataset: str = "synthetic", **engine_settings: Any) -> JadeTeamParallelEnv:
    return JadeTeamParallelEnv(dataset=dataset, **engine_settings)
