"""The environments: the JADE team (Gymnasium and PettingZoo) and the monolithic agent."""

from jade_env.envs.monolithic_env import MonolithicRAGEnv
from jade_env.envs.team_env import JadeRAGEnv

__all__ = ["JadeRAGEnv", "MonolithicRAGEnv"]
