"""jade_env: Gymnasium and PettingZoo environments for agentic retrieval-augmented generation.

The environments package the setting of JADE (arXiv 2601.21916): a planner chooses, per question, a
workflow of executors (decompose, rewrite, retrieve, select, answer, summarise) over several rounds.
Importing the package registers every ``JadeRAG-*`` id with Gymnasium (``jade-rag envs`` lists them): at once
when Gymnasium is already imported, otherwise as soon as it is.
"""

from __future__ import annotations

from jade_env.registration import register_when_gymnasium_loads

__version__ = "0.2.0"

register_when_gymnasium_loads()


def team_env(dataset: str = "synthetic", **engine_settings: object):
    """The PettingZoo AEC team env: one agent per role (see :mod:`jade_env.envs.pettingzoo_env`)."""
    from jade_env.envs.pettingzoo_env import team_env as _team_env

    return _team_env(dataset, **engine_settings)


def team_parallel_env(dataset: str = "synthetic", **engine_settings: object):
    """The PettingZoo parallel team env (see :mod:`jade_env.envs.pettingzoo_env`)."""
    from jade_env.envs.pettingzoo_env import team_parallel_env as _team_parallel_env

    return _team_parallel_env(dataset, **engine_settings)


__all__ = ["__version__", "team_env", "team_parallel_env"]
