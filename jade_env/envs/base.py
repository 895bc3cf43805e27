"""What the team env and the monolithic env share: data, corpus, retriever, rewards, spaces, info, the driver.

:class:`RAGEnvBase` is a Gymnasium env over an episode kind (the team's
:class:`~jade_env.workflow.engine.Episode` or the search agent's
:class:`~jade_env.workflow.search_agent.SearchEpisode`) and one
:class:`~jade_env.workflow.driver.EpisodeDriver`. Its public pieces are what the other faces use (the
batched vector env, the PettingZoo envs): :meth:`pick_index`, :meth:`new_episode`, :meth:`observe`,
:meth:`step_info`, :meth:`step_reward` and :attr:`driver`.

Copies: ``copy.deepcopy(env)`` mid-episode gives an env that continues exactly as the original would; it
shares the split and the retrievers (read-only; closed with the last env that shares them, so closing a discarded
copy leaves the original working) and copies the episode, the random generator and the executor. ``pickle``
mid-episode works too: the env is rebuilt from its ``make`` keywords (indexes come back from their on-disk cache),
then the episode is replayed from its log (:mod:`jade_env.workflow.episode`).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.error import ResetNeeded

from jade_env.data.corpus import Corpus
from jade_env.data.splits import canonical_dataset, load_split
from jade_env.data.types import Example
from jade_env.envs.info import step_info
from jade_env.envs.observation import ObservationRenderer, observation_space
from jade_env.errors import JadeError
from jade_env.executors import make_executor
from jade_env.retrieval.base import Retriever
from jade_env.retrieval.provider import RetrieverProvider
from jade_env.roles.parsers import MAX_OUTPUT_CHARS
from jade_env.spaces import UnicodeText
from jade_env.workflow.driver import EpisodeDriver
from jade_env.workflow.episode import ActRequest, EpisodeBase, StepRecord
from jade_env.workflow.rewards import RewardConfig

#: questions drawn at one reset, at most, until one asks a role the caller plays (:meth:`RAGEnvBase.redraw`)
MAX_DRAWS = 100


def arguments(frame_locals: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of an ``__init__`` call, from its ``locals()`` taken on entry."""
    return {k: v for k, v in frame_locals.items() if k not in ("self", "__class__")}


class RAGEnvBase(gym.Env[dict[str, str], str]):
    """The shared machinery of the JadeRAG envs (see the module docstring); subclasses choose the episode."""

    metadata = {"render_modes": ["ansi"], "autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}
    #: every role of this env's episodes; subclasses set it
    roles: tuple[str, ...] = ()

    def __init__(self, init_kwargs: dict[str, Any], *, reward: RewardConfig, controlled_roles: Sequence[str], executor: Any) -> None:
        """``init_kwargs`` are the subclass's ``make`` keywords (:func:`arguments`): the data, corpus, retrieval and
        text keywords are read from them, and they rebuild the env when it is unpickled."""
        k = init_kwargs
        for name in ("synthetic", "retriever_kwargs"):
            if k.get(name) is not None and not isinstance(k[name], dict):
                raise ValueError(f"{name} must be a dict of keywords or None, got {k[name]!r}")
        for name in ("cache_dir", "replay_cache"):
            if k.get(name) is not None and not isinstance(k[name], str | os.PathLike):
                raise ValueError(f"{name} must be a path (str or os.PathLike) or None, got {k[name]!r}")
        if k.get("token_counter") is not None and not callable(k["token_counter"]):
            raise ValueError(f"token_counter must be a function text -> number of tokens, or None, got {k['token_counter']!r}")
        if k["render_mode"] is not None and k["render_mode"] not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={k['render_mode']!r} is not supported; expected None or one of "
                             f"{', '.join(self.metadata['render_modes'])}")
        super().__init__()
        self.init_kwargs = init_kwargs
        self.dataset = canonical_dataset(k["dataset"])  # "syn" and "Synthetic" are "synthetic" everywhere below
        self.examples: tuple[Example, ...] = load_split(self.dataset, k["data_path"], k["split"], k["n"], k["sample_seed"],
                                                        k["data_format"], k["synthetic"])
        self.reward_config = reward
        self.observe = ObservationRenderer(k["max_text_length"])
        self.max_text_length = self.observe.max_text_length
        self.observation_space = observation_space(self.max_text_length)
        self.action_space = UnicodeText(MAX_OUTPUT_CHARS)
        self.render_mode = k["render_mode"]
        executor_object = make_executor(executor) if executor is not None else None  # checked even when no role is left to it
        if set(controlled_roles) == set(self.roles):
            executor_object = None
        self.retrievers = RetrieverProvider(self.examples, self.dataset, corpus=k["corpus"], retriever=k["retriever"],
                                            retriever_kwargs=k["retriever_kwargs"], cache_dir=k["cache_dir"],
                                            replay_cache=k["replay_cache"],
                                            source=k["data_path"] if isinstance(k["data_path"], str | os.PathLike) else None)
        self.driver = EpisodeDriver(self.retrievers, self.observe, controlled_roles, executor_object)
        self.closed = False
        self.episode: EpisodeBase | None = None
        self.example_index = -1

    # ------------------------------------------------------------------ the pieces every face uses
    def new_episode(self, index: int) -> EpisodeBase:  # pragma: no cover - abstract
        """A fresh episode on question ``index`` of the split (not yet advanced by the driver)."""
        raise NotImplementedError

    def pick_index(self, options: dict[str, Any] | None, rng: np.random.Generator) -> int:
        """``options["index"]`` when given (validated), else a draw from ``rng``."""
        if options and "index" in options:
            index = options["index"]
            if isinstance(index, bool) or not isinstance(index, int | np.integer):
                raise ValueError(f"options['index'] must be an integer question index, got {index!r}")
            if not 0 <= index < len(self.examples):
                raise ValueError(f"options['index']={index!r} is out of range; expected 0 <= index < {len(self.examples)}")
            return int(index)
        return int(rng.integers(len(self.examples)))

    def redraw(self, finished: Sequence[tuple[dict[str, Any] | None, np.random.Generator, int]]
               ) -> list[tuple[int, EpisodeBase, list[StepRecord]]]:
        """New episodes for those just started that the executors finished alone, with no turn of a role the caller
        plays (``controlled_roles`` that the workflows do not reach): each ``(options, rng, index)`` draws again from
        ``rng`` until an episode awaits the caller, at most :data:`MAX_DRAWS` draws in all. Their retrievals and the
        executors' turns are batched. A pinned question (``options["index"]``) cannot be drawn again: JadeError."""
        mine = ", ".join(r for r in self.roles if r in self.driver.controlled_roles)
        for options, _, index in finished:
            if options and "index" in options:
                raise JadeError(f"reset: question {index} is answered by the executors without a turn of the roles you control "
                                f"({mine}), so there is nothing to play; pin another question, or control more roles")
        done: list[tuple[int, EpisodeBase, list[StepRecord]] | None] = [None] * len(finished)
        waiting = list(range(len(finished)))
        for _ in range(MAX_DRAWS - 1):
            indices = [self.pick_index(None, finished[i][1]) for i in waiting]
            episodes = [self.new_episode(index) for index in indices]
            for i, index, episode, records in zip(waiting, indices, episodes, self.driver.advance(episodes), strict=True):
                if not episode.done:
                    done[i] = (index, episode, records)
            waiting = [i for i in waiting if done[i] is None]
            if not waiting:
                return done  # type: ignore[return-value]
        raise JadeError(f"reset: {MAX_DRAWS} questions drawn in a row were answered by the executors without a turn of the roles "
                        f"you control ({mine}): their workflows do not reach those roles; control the planner too, or fix a "
                        "workflow= that contains them")

    def step_info(self, episode: EpisodeBase, index: int, record: StepRecord | None, executor_records: Sequence[StepRecord]) -> dict[str, Any]:
        """The info of a step (:mod:`jade_env.envs.info`)."""
        return step_info(episode, index, record, executor_records)

    @staticmethod
    def step_reward(episode: EpisodeBase, record: StepRecord) -> float:
        """The caller's reward for the step that gave ``record``: its penalty, plus the global reward at the end."""
        return float(record.penalty + ((episode.reward or 0.0) if episode.done else 0.0))

    @property
    def acting_role(self) -> str:
        """The role the caller must play now (``""`` when the episode is over or not started)."""
        pending = self.episode.pending if self.episode is not None else None
        return pending.role if isinstance(pending, ActRequest) else ""

    # ------------------------------------------------------------------ Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, str], dict[str, Any]]:
        super().reset(seed=seed)
        self.example_index = self.pick_index(options, self.np_random)
        self.episode = self.new_episode(self.example_index)
        executor_records = self.driver.advance_one(self.episode)
        if self.episode.done:  # the executors answered it without the caller: another question
            [(self.example_index, self.episode, executor_records)] = self.redraw([(options, self.np_random, self.example_index)])
        return self.observe(self.episode), step_info(self.episode, self.example_index, None, executor_records)

    def step(self, action: str) -> tuple[dict[str, str], float, bool, bool, dict[str, Any]]:
        episode = self.episode
        if episode is None or episode.done:
            raise ResetNeeded("Cannot call env.step() after the episode ended (or before reset); call env.reset()")
        record = episode.act(action)
        executor_records = self.driver.advance_one(episode)
        return (self.observe(episode), self.step_reward(episode, record), episode.pending is None and not episode.truncated,
                episode.truncated, step_info(episode, self.example_index, record, executor_records))

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.episode is None:
            return None
        obs = self.observe(self.episode)
        return f"[{obs['role'] or 'done'}] {obs['question']}\n{obs['user']}"

    def close(self) -> None:
        if not self.closed:  # the retrievers are shared with this env's copies: the last one closed closes them
            self.closed = True
            self.retrievers.release()
        super().close()

    # ------------------------------------------------------------------ copies
    def __deepcopy__(self, memo: dict) -> RAGEnvBase:
        memo[id(self.examples)] = self.examples  # immutable, and possibly large
        for value in self.init_kwargs.values():  # given retrievers, corpora and functions are shared, not copied
            if isinstance(value, Retriever | Corpus) or callable(value) and not hasattr(value, "act"):
                memo[id(value)] = value
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            new.__dict__[key] = copy.deepcopy(value, memo)
        if not self.closed:
            self.retrievers.acquire()  # the copy shares them (the provider's deep copy is itself)
        return new

    def __getstate__(self) -> dict[str, Any]:
        return {"init_kwargs": self.init_kwargs, "np_random": self._np_random, "np_random_seed": self._np_random_seed,
                "episode": self.episode, "example_index": self.example_index, "executor": self.driver.executor}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, **state["init_kwargs"])  # the subclass's own keywords
        self._np_random, self._np_random_seed = state["np_random"], state["np_random_seed"]
        self.episode, self.example_index = state["episode"], state["example_index"]
        self.driver.executor = state["executor"]


def check_roles(controlled_roles: Iterable[str] | None, roles: Sequence[str]) -> tuple[str, ...]:
    """``controlled_roles`` validated against ``roles`` (None: every role)."""
    if isinstance(controlled_roles, str) or controlled_roles is not None and not isinstance(controlled_roles, Iterable):
        example = f"[{controlled_roles!r}]" if isinstance(controlled_roles, str) else "['planner']"
        raise ValueError(f"controlled_roles must be a sequence of role names, such as {example}, got {controlled_roles!r}")
    chosen = tuple(roles if controlled_roles is None else controlled_roles)
    if not chosen:
        raise ValueError(f"controlled_roles is empty: the caller would never act; give at least one of {', '.join(roles)}")
    unknown = [r for r in chosen if r not in roles]
    if unknown:
        raise ValueError(f"controlled_roles has unknown role {unknown[0]!r}; expected roles from {', '.join(roles)}")
    return chosen

