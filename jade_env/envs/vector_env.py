"""A batched vector env: every step makes one retriever call for the queries of all sub-envs.

``gym.make_vec("JadeRAG-HotpotQA-v0", num_envs=8, vectorization_mode="vector_entry_point")`` builds it;
``"sync"`` and ``"async"`` (Gymnasium's own, async with spawned workers) work as well. All sub-envs
share one retriever (and one copy of the split), so retrieval requests pending after a step are
grouped by retriever and sent as one batched ``search`` call. Autoreset mode: next step (a sub-env
that ended is reset on the following ``step``, whose action for it is ignored), as Gymnasium's default.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from jade_env.envs.team_env import JadeRAGEnv
from jade_env.retrieval.base import Retriever
from jade_env.workflow.engine import RetrieveRequest, StepRecord


class JadeRAGVectorEnv(VectorEnv):
    """``num_envs`` team envs stepped together with batched retrieval (see the module docstring)."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        kwargs.pop("render_mode", None)
        first = JadeRAGEnv(**kwargs)
        shared = first.retrievers._shared
        rest_kwargs = {**kwargs, "retriever": shared} if shared is not None else kwargs
        self.envs = [first] + [JadeRAGEnv(**rest_kwargs) for _ in range(num_envs - 1)]
        self.num_envs = num_envs
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(first.observation_space, num_envs)
        self.action_space = batch_space(first.action_space, num_envs)
        self._needs_reset = np.zeros(num_envs, dtype=bool)

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else (seed or [None] * self.num_envs)
        obs, infos = [], {}
        for i, env in enumerate(self.envs):
            env_options = options
            if options and "index" in options and isinstance(options["index"], list | tuple | np.ndarray):
                env_options = {**options, "index": int(options["index"][i])}
            o, info = env.reset(seed=seeds[i], options=env_options)
            obs.append(o)
            infos = self._add_info(infos, info, i)
        self._needs_reset[:] = False
        return self._batch(obs), infos

    def step(self, actions):
        actions = list(actions)
        records: list[StepRecord | None] = [None] * self.num_envs
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        reset_now = self._needs_reset.copy()
        reset_infos: dict[int, dict[str, Any]] = {}
        for i, env in enumerate(self.envs):
            if reset_now[i]:
                _, reset_infos[i] = env.reset()
                continue
            if env.episode is None or env.episode.done:
                raise gym.error.ResetNeeded("call reset() before step()")
            records[i] = env.episode.act(actions[i])
        executor_records = self._drive([i for i in range(self.num_envs) if not reset_now[i]])
        obs, infos = [], {}
        for i, env in enumerate(self.envs):
            obs.append(env._observation())
            if reset_now[i]:
                infos = self._add_info(infos, reset_infos[i], i)
                continue
            episode = env.episode
            assert episode is not None and records[i] is not None
            rewards[i] = records[i].penalty + ((episode.reward or 0.0) if episode.done else 0.0)
            terminated[i] = episode.done and not episode.truncated
            truncated[i] = episode.truncated
            infos = self._add_info(infos, env._info(records[i], executor_records[i]), i)
        self._needs_reset = terminated | truncated
        return self._batch(obs), rewards, terminated, truncated, infos

    def _drive(self, active: list[int]) -> dict[int, list[StepRecord]]:
        """Run retrievals (one batched call per retriever) and executors until controlled roles are pending."""
        executor_records: dict[int, list[StepRecord]] = {i: [] for i in range(self.num_envs)}
        while True:
            groups: dict[int, tuple[Retriever, list[int]]] = {}
            for i in active:
                episode = self.envs[i].episode
                if episode is not None and isinstance(episode.pending, RetrieveRequest):
                    retriever = self.envs[i].retrievers.for_example(episode.example)
                    groups.setdefault(id(retriever), (retriever, []))[1].append(i)
            for retriever, members in groups.values():
                requests = [self.envs[i].episode.pending for i in members]
                k = max(r.k for r in requests)
                results = retriever.search([r.query for r in requests], k)
                for i, req, hits in zip(members, requests, results, strict=True):
                    self.envs[i].episode.supply_hits(hits[: req.k])
            played = False
            for i in active:
                record = self.envs[i]._play_executor()
                if record is not None:
                    executor_records[i].append(record)
                    played = True
            if not groups and not played:
                return executor_records

    def _batch(self, observations: list[dict[str, str]]) -> dict[str, tuple[str, ...]]:
        return {key: tuple(o[key] for o in observations) for key in observations[0]}

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()
