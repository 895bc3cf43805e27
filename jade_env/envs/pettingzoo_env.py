"""The JADE team as PettingZoo environments: one agent per role, the same engine as the Gymnasium env.

``team_env(dataset=..., **engine_settings)`` gives the AEC env (turn order = the order in which the
workflow asks the roles), ``team_parallel_env(...)`` the parallel one (at each step only the acting
role's action is used; the observation of every other agent has ``role == ""``, meaning "wait").

Both are faces over one :class:`~jade_env.envs.team_env.JadeRAGEnv`, hence over its episode driver: the
same episodes, observations, info schema (:mod:`jade_env.envs.info`) and rewards.

Rewards: a format penalty goes at once to the agent that erred. The global reward goes to every agent
at the end (placement ``terminal``) or, under ``broadcast``, to each of an agent's transitions; since it
is known only at the end, each agent then receives it once per transition it made, at the end
(:func:`jade_env.workflow.rewards.agent_rewards`; ``info["transition_rewards"]`` of the final step lists
the per-transition values).
"""

from __future__ import annotations

from typing import Any

from gymnasium.error import ResetNeeded
from pettingzoo import AECEnv, ParallelEnv

from jade_env.envs.team_env import JadeRAGEnv
from jade_env.roles.ids import ROLES
from jade_env.workflow.rewards import agent_rewards


def _waiting(obs: dict[str, str]) -> dict[str, str]:
    return {"role": "", "system": "", "user": "", "question": obs["question"], "fields": "{}"}


def _final_rewards(env: JadeRAGEnv) -> dict[str, float]:
    """The global reward of the ended episode, per agent (see the module docstring)."""
    episode = env.episode
    assert episode is not None and episode.reward is not None
    return agent_rewards([r.role for r in episode.records], ROLES, episode.reward, env.config.reward.placement)


class _TeamAgents:
    """What both PettingZoo envs share: one agent per role over one JadeRAGEnv, spaces made once."""

    def _init_team(self, dataset: str, render_mode: str | None, engine_settings: dict[str, Any]) -> None:
        for name in ("controlled_roles", "executor"):
            if name in engine_settings:
                raise ValueError(f"{name}= is not a keyword of the PettingZoo team env: every role is an agent here; for frozen "
                                 "executors use the Gymnasium env (gym.make('JadeRAG-<Name>-Decoupled-v0'), or controlled_roles=)")
        if "max_cycles" in engine_settings:  # PettingZoo's name for the cap on agent steps
            cycles = engine_settings.pop("max_cycles")
            if "max_steps" in engine_settings and engine_settings["max_steps"] != cycles:
                raise ValueError(f"max_cycles={cycles} and max_steps={engine_settings['max_steps']} disagree; give one of them")
            engine_settings["max_steps"] = cycles
        self.env = JadeRAGEnv(dataset=dataset, render_mode=render_mode, **engine_settings)
        self.possible_agents = list(ROLES)
        self.agents: list[str] = []
        self._observation_spaces = dict.fromkeys(ROLES, self.env.observation_space)
        self._action_spaces = dict.fromkeys(ROLES, self.env.action_space)
        self.render_mode = render_mode

    def observation_space(self, agent: str):
        return self._observation_spaces[agent]

    def action_space(self, agent: str):
        return self._action_spaces[agent]

    def render(self) -> str | None:
        return self.env.render()

    def close(self) -> None:
        self.env.close()


class JadeTeamAECEnv(_TeamAgents, AECEnv):
    """AEC version: agents ``planner, qds, qdp, qr, ds, ag, as``; ``agent_selection`` is the acting role.

    Arguments are those of :class:`~jade_env.envs.team_env.JadeRAGEnv` (except ``controlled_roles``
    and ``executor``: every role is an agent here); ``max_cycles`` (PettingZoo's keyword) is ``max_steps``,
    the cap on agent steps *of all agents together* (not PettingZoo's cycles, in which every agent acts once: roles
    act in turns of the workflow, not in rounds), reached with every agent truncated and the best answer so far scored.
    """

    metadata = {"name": "jade_team_v0", "render_modes": ["ansi"], "is_parallelizable": False}

    def __init__(self, dataset: str = "synthetic", render_mode: str | None = None, **engine_settings: Any) -> None:
        super().__init__()
        self._init_team(dataset, render_mode, engine_settings)
        self._obs: dict[str, str] | None = None  # the acting role's observation (None before the first reset)
        self.agent_selection = ""

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        self._obs, info = self.env.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.infos = {a: dict(info) for a in self.agents}
        self.agent_selection = self._obs["role"]

    def observe(self, agent: str) -> dict[str, str]:
        if self._obs is None:
            raise ResetNeeded("call reset() before observe() or last()")
        return self._obs if agent == self._obs["role"] else _waiting(self._obs)

    def step(self, action: Any) -> None:
        if not self.agents:
            raise ResetNeeded("no agent is left to step (before the first reset, or every agent of the ended episode has "
                              "been stepped out); call reset()")
        if self.terminations[self.agent_selection] or self.truncations[self.agent_selection]:
            self._was_dead_step(action)
            return
        agent = self.agent_selection
        self._cumulative_rewards[agent] = 0.0
        self._clear_rewards()
        self._obs, _, terminated, truncated, info = self.env.step(action)
        self.rewards[agent] = float(info["penalty"])
        if terminated or truncated:
            for a, r in _final_rewards(self.env).items():
                self.rewards[a] += r
            self.terminations = dict.fromkeys(self.agents, terminated)
            self.truncations = dict.fromkeys(self.agents, truncated)
            self.infos = {a: dict(info) for a in self.agents}
            self.agent_selection = self.agents[0]
        else:
            self.infos[agent] = info
            self.agent_selection = self._obs["role"]
        self._accumulate_rewards()


class JadeTeamParallelEnv(_TeamAgents, ParallelEnv):
    """Parallel version: every live agent gets an observation each step; only the acting role's action is used."""

    metadata = {"name": "jade_team_parallel_v0", "render_modes": ["ansi"]}

    def __init__(self, dataset: str = "synthetic", render_mode: str | None = None, **engine_settings: Any) -> None:
        self._init_team(dataset, render_mode, engine_settings)

    def _observations(self, obs: dict[str, str]) -> dict[str, dict[str, str]]:
        return {a: obs if a == obs["role"] else _waiting(obs) for a in self.agents}

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        return self._observations(obs), {a: dict(info) for a in self.agents}

    def step(self, actions: dict[str, Any]):
        acting = self.env.acting_role
        obs, _, terminated, truncated, info = self.env.step(actions.get(acting))
        rewards = dict.fromkeys(self.agents, 0.0)
        rewards[acting] = float(info["penalty"])
        if terminated or truncated:
            for a, r in _final_rewards(self.env).items():
                rewards[a] += r
        observations = self._observations(obs)
        terminations = dict.fromkeys(self.agents, terminated)
        truncations = dict.fromkeys(self.agents, truncated)
        infos = {a: dict(info) for a in self.agents}
        if terminated or truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos


def team_env(dataset: str = "synthetic", **engine_settings: Any) -> JadeTeamAECEnv:
    """The AEC team env (one agent per role) over ``dataset``; keywords as for ``gym.make``."""
    return JadeTeamAECEnv(dataset=dataset, **engine_settings)


def team_parallel_env(dataset: str = "synthetic", **engine_settings: Any) -> JadeTeamParallelEnv:
    """The parallel team env over ``dataset``; keywords as for ``gym.make``."""
    return JadeTeamParallelEnv(dataset=dataset, **engine_settings)
