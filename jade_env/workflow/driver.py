"""The episode driver: advances one or many episodes until the caller must act.

Every environment face (the Gymnasium env, its batched vector form, the PettingZoo AEC and parallel envs)
is a thin layer over one :class:`EpisodeDriver`. Given episodes (:mod:`jade_env.workflow.episode`), the
driver

1. serves their pending retrievals, one batched ``search`` call per retriever for all episodes at once;
2. plays the turns of the roles the caller does not control, with the frozen ``executor``
   (:mod:`jade_env.executors`), several episodes' turns in one ``act_batch`` call when the executor has one;
3. repeats until each episode is over or waits for a role the caller controls.

An executor that raises is an invalid output of that role (format penalty, fallback, the error in the
record's message), never a crash of the episode.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from jade_env.retrieval.provider import RetrieverProvider
from jade_env.workflow.episode import ActRequest, EpisodeBase, RetrieveRequest, StepRecord

#: an observation renderer: the pending request of an episode -> the observation dict a policy sees
Observe = Callable[[EpisodeBase], dict[str, str]]


class EpisodeDriver:
    """Serves retrievals (batched across episodes) and plays uncontrolled roles (see the module docstring).

    ``controlled_roles`` are the roles the caller plays; every other role is played by ``executor``, an
    object with ``act(role, observation) -> str`` (and optionally ``act_batch(roles, observations) -> list[str]``).
    """

    def __init__(self, retrievers: RetrieverProvider, observe: Observe, controlled_roles: Iterable[str],
                 executor: Any | None = None) -> None:
        self.retrievers = retrievers
        self.observe = observe
        self.controlled_roles = frozenset(controlled_roles)
        self.executor = executor

    def awaits_caller(self, episode: EpisodeBase) -> bool:
        """True when ``episode`` waits for a role the caller plays."""
        return isinstance(episode.pending, ActRequest) and episode.pending.role in self.controlled_roles

    def advance(self, episodes: Sequence[EpisodeBase]) -> list[list[StepRecord]]:
        """Drive every episode until it is over or awaits the caller; returns, per episode, the executor's records."""
        if len(episodes) == 1:
            return [self.advance_one(episodes[0])]
        records: list[list[StepRecord]] = [[] for _ in episodes]
        while True:
            retrieved = self._retrieve(episodes)
            playing = [i for i, e in enumerate(episodes) if isinstance(e.pending, ActRequest) and not self.awaits_caller(e)]
            for i, record in zip(playing, self._play([episodes[i] for i in playing]), strict=True):
                records[i].append(record)
            if not retrieved and not playing:
                return records

    def advance_one(self, episode: EpisodeBase) -> list[StepRecord]:
        """:meth:`advance` for one episode (the single env's step), without the batching bookkeeping."""
        records: list[StepRecord] = []
        while True:
            pending = episode.pending
            if isinstance(pending, RetrieveRequest):
                episode.supply_hits(self.retrievers.for_example(episode.example).search([pending.query], pending.k)[0])
            elif isinstance(pending, ActRequest) and pending.role not in self.controlled_roles:
                records.extend(self._play([episode]))
            else:
                return records

    def _retrieve(self, episodes: Sequence[EpisodeBase]) -> bool:
        """One batched search per retriever for every pending retrieval; False when none was pending."""
        groups: dict[int, tuple[Any, list[int]]] = {}
        for i, episode in enumerate(episodes):
            if isinstance(episode.pending, RetrieveRequest):
                retriever = self.retrievers.for_example(episode.example)
                groups.setdefault(id(retriever), (retriever, []))[1].append(i)
        for retriever, members in groups.values():
            requests: list[RetrieveRequest] = [episodes[i].pending for i in members]  # type: ignore[misc]
            results = retriever.search([r.query for r in requests], max(r.k for r in requests))
            for i, request, hits in zip(members, requests, results, strict=True):
                episodes[i].supply_hits(hits[: request.k])
        return bool(groups)

    def _play(self, episodes: Sequence[EpisodeBase]) -> list[StepRecord]:
        """The executor acts once in each episode (all pending uncontrolled roles)."""
        if not episodes:
            return []
        if self.executor is None:
            roles = sorted({e.pending.role for e in episodes})  # type: ignore[union-attr]
            return [e.act(None, f"no executor plays the role {', '.join(roles)}") for e in episodes]
        roles = [e.pending.role for e in episodes]  # type: ignore[union-attr]
        observations = [self.observe(e) for e in episodes]
        batch = getattr(self.executor, "act_batch", None)
        if callable(batch) and len(episodes) > 1:
            try:
                texts = list(batch(roles, observations))
                if len(texts) != len(episodes):
                    raise ValueError(f"act_batch returned {len(texts)} outputs for {len(episodes)} requests")
            except Exception as err:  # a broken executor is an invalid output, never a crash of the episodes
                return [e.act(None, _failure(err)) for e in episodes]
            return [e.act(t) for e, t in zip(episodes, texts, strict=True)]
        out = []
        for episode, role, observation in zip(episodes, roles, observations, strict=True):
            try:
                text = self.executor.act(role, observation)
            except Exception as err:
                out.append(episode.act(None, _failure(err)))
                continue
            out.append(episode.act(text))
        return out

    def __deepcopy__(self, memo: dict) -> EpisodeDriver:
        """A copy shares the (read-only) retrievers and deep-copies the executor, whose state may matter."""
        return EpisodeDriver(self.retrievers, copy.deepcopy(self.observe, memo), self.controlled_roles,
                             copy.deepcopy(self.executor, memo))


def _failure(err: Exception) -> str:
    return f"executor raised {type(err).__name__}: {err}"[:300]
