"""Batched vector envs: every step serves the pending retrievals of all sub-envs in one retriever call.

``gym.make_vec("JadeRAG-HotpotQA-v0", num_envs=8, vectorization_mode="vector_entry_point")`` builds a
:class:`JadeRAGVectorEnv` (``-Monolithic-v0`` ids a :class:`MonolithicRAGVectorEnv`); ``"sync"`` and
``"async"`` (Gymnasium's own) work as well and give the same trajectories for the same seeds and actions.

One env is built (split, retrievers, executor, driver); each sub-env is a slot holding its own random
generator and episode. A step gives each slot's action to its episode, then one
:meth:`~jade_env.workflow.driver.EpisodeDriver.advance` over all episodes batches their retrievals and
their executors' turns. Seeding and autoreset follow Gymnasium's sync vector env: ``reset(seed=s)`` seeds
slot ``i`` with ``s + i``; autoreset mode next step (a slot that ended is reset on the following ``step``,
whose action for it is ignored, with reward 0 and the reset's info). ``max_episode_steps`` truncates a slot's episode
after that many of its steps, as Gymnasium's ``TimeLimit`` does for ``gym.make`` (``make_vec`` passes the id's own).
A slot whose new episode the executors finish without the caller draws again, as the single env's ``reset`` does
(:meth:`~jade_env.envs.base.RAGEnvBase.redraw`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.error import ResetNeeded
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from jade_env.envs.base import RAGEnvBase
from jade_env.envs.monolithic_env import MonolithicRAGEnv
from jade_env.envs.team_env import JadeRAGEnv
from jade_env.workflow.episode import EpisodeBase, StepRecord


class JadeRAGVectorEnv(VectorEnv):
    """``num_envs`` episodes of one team env stepped together (see the module docstring)."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}
    env_class: type[RAGEnvBase] = JadeRAGEnv

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None, **kwargs: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if max_episode_steps is not None and (isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int)
                                              or max_episode_steps < 1):
            raise ValueError(f"max_episode_steps must be a positive integer or None, got {max_episode_steps!r}")
        self.max_episode_steps = max_episode_steps
        kwargs.pop("render_mode", None)
        self.env = self.env_class(**kwargs)
        self.num_envs = num_envs
        self.single_observation_space = self.env.observation_space
        self.single_action_space = self.env.action_space
        self.observation_space = batch_space(self.env.observation_space, num_envs)
        self.action_space = batch_space(self.env.action_space, num_envs)
        self.rngs: list[np.random.Generator | None] = [None] * num_envs
        self.episodes: list[EpisodeBase | None] = [None] * num_envs
        self.indices = [-1] * num_envs
        self._elapsed = np.zeros(num_envs, dtype=np.int64)  # each slot's steps since its reset (max_episode_steps)
        self._needs_reset = np.zeros(num_envs, dtype=bool)

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else list(seed or [None] * self.num_envs)
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset(seed=...) got {len(seeds)} seeds for {self.num_envs} sub-envs")
        slot_options: list[dict[str, Any] | None] = [options] * self.num_envs
        if options and isinstance(options.get("index"), list | tuple | np.ndarray):
            if len(options["index"]) != self.num_envs:
                raise ValueError(f"reset(options={{'index': ...}}) got {len(options['index'])} indices for {self.num_envs} sub-envs; "
                                 "expected one index, or one per sub-env")
            slot_options = [{**options, "index": index} for index in options["index"]]
        for i in range(self.num_envs):
            self._start(i, seeds[i], slot_options[i])
        records = self._redraw_finished(range(self.num_envs), slot_options, self.env.driver.advance(self.episodes))  # type: ignore[arg-type]
        infos: dict[str, Any] = {}
        for i in range(self.num_envs):
            infos = self._add_info(infos, self.env.step_info(self.episodes[i], self.indices[i], None, records[i]), i)
        self._needs_reset[:] = False
        return self._observations(), infos

    def step(self, actions):
        n = len(actions) if hasattr(actions, "__len__") and not isinstance(actions, str | bytes) else None
        if n != self.num_envs:
            got = f"{n} actions" if n is not None else repr(actions)[:80]
            raise ValueError(f"step() takes a sequence of {self.num_envs} actions, one per sub-env, got {got}")
        actions = list(actions)
        acted: list[StepRecord | None] = [None] * self.num_envs
        restarted = np.flatnonzero(self._needs_reset).tolist()
        for i, episode in enumerate(self.episodes):
            if self._needs_reset[i]:
                self._start(i, None, None)
            elif episode is None or episode.done:
                raise ResetNeeded("call reset() before step()")
            else:
                acted[i] = episode.act(actions[i])
        records = self.env.driver.advance(self.episodes)  # type: ignore[arg-type]
        if restarted:
            records = self._redraw_finished(restarted, [None] * self.num_envs, records)
        self._elapsed += [r is not None for r in acted]
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        infos: dict[str, Any] = {}
        for i, episode in enumerate(self.episodes):
            assert episode is not None
            record = acted[i]
            if record is not None:
                rewards[i] = self.env.step_reward(episode, record)
                terminated[i] = episode.done and not episode.truncated
                truncated[i] = episode.truncated
            infos = self._add_info(infos, self.env.step_info(episode, self.indices[i], record, records[i]), i)
        if self.max_episode_steps is not None:  # as TimeLimit: truncated at the limit, even on a step that also terminates
            truncated |= self._elapsed >= self.max_episode_steps
        self._needs_reset = terminated | truncated
        return self._observations(), rewards, terminated, truncated, infos

    def _start(self, i: int, seed: int | None, options: dict[str, Any] | None) -> None:
        """A new episode in slot ``i``; its generator is (re)seeded when ``seed`` is given, as Env.reset does."""
        if seed is not None or self.rngs[i] is None:
            self.rngs[i], _ = seeding.np_random(seed)
        self.indices[i] = self.env.pick_index(options, self.rngs[i])
        self.episodes[i] = self.env.new_episode(self.indices[i])
        self._elapsed[i] = 0

    def _redraw_finished(self, slots: Any, options: list[dict[str, Any] | None], records: list[list[StepRecord]]) -> list[list[StepRecord]]:
        """``records`` with the slots among ``slots`` whose new episode the executors finished alone started again."""
        finished = [i for i in slots if self.episodes[i].done]  # type: ignore[union-attr]
        if finished:
            drawn = self.env.redraw([(options[i], self.rngs[i], self.indices[i]) for i in finished])  # type: ignore[misc]
            for i, (index, episode, slot_records) in zip(finished, drawn, strict=True):
                self.indices[i], self.episodes[i], records[i] = index, episode, slot_records
        return records

    def _observations(self) -> dict[str, tuple[str, ...]]:
        observations = [self.env.observe(e) for e in self.episodes]
        return {key: tuple(o[key] for o in observations) for key in observations[0]}

    def close_extras(self, **kwargs: Any) -> None:
        self.env.close()


class MonolithicRAGVectorEnv(JadeRAGVectorEnv):
    """The batched vector form of the monolithic (Search-R1) env."""

    env_class = MonolithicRAGEnv
