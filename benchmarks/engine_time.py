"""Engine time per agent step, comparable across versions of jade_env: reset + step with the BM25 search time taken out.

    PYTHONPATH=TREE python benchmarks/engine_time.py [--episodes 300] [--replay]

Only public names that every version since 0.1 has are used (``gym.make``, ``baselines.agents.team.make_agent``,
``BM25Retriever.search``), so the same script times an older checkout: run it alternately with ``PYTHONPATH`` set to
each tree, in fresh processes, and compare the minima (the machine's load moves single runs by tens of percent). The
rule-planner plays Synthetic (300 questions) and the HotpotQA dev file of ../shared/data; its own time is excluded.
Prints one JSON line.

``--replay`` times the engine alone, without what runs around it in training: the agent plays the episodes once,
then they are replayed (best of 7) with the agent's actions given again and every search answered from its recorded
hits, so that neither the agent nor retrieval runs between steps (their work evicts the engine's code and data from
the CPU caches, which more than doubles its time per step; the first mode keeps that cost, as a training loop has it).
``--passes P`` sets the number of replays (default 7); ``--by-role`` times ``reset`` and each role's step apart
(the last step of an episode as ``ROLE/end``) and prints their least mean µs. A count that the machine's load does not move is the number of
instructions per replayed step: run under ``valgrind --tool=cachegrind --cache-sim=no`` with ``--passes 1`` and with
``--passes 5``, and divide the difference of the two ``I refs`` by 4 times the steps printed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym

import jade_env  # noqa: F401
from baselines.agents.team import make_agent
from jade_env.retrieval import bm25

SEARCH_SECONDS = [0.0]
#: --replay: (retriever, queries, k) -> the hits recorded when the agent played
RECORDED: dict | None = None
_search = bm25.BM25Retriever.search


def _timed_search(self, queries, k):
    if RECORDED is not None:
        key = (id(self), tuple(queries), k)
        if key not in RECORDED:
            RECORDED[key] = _search(self, queries, k)
        return RECORDED[key]
    started = time.perf_counter()
    try:
        return _search(self, queries, k)
    finally:
        SEARCH_SECONDS[0] += time.perf_counter() - started


bm25.BM25Retriever.search = _timed_search


def play(env, episodes: int, played: list | None = None) -> tuple[float, int]:
    """The rule-planner plays ``episodes`` episodes: the env's seconds (reset and step) and the agent steps; the actions
    of each episode are appended to ``played`` when given."""
    agent = make_agent("rule-planner", env.unwrapped.examples)
    n = len(env.unwrapped.examples)
    env_seconds, steps = 0.0, 0
    for episode in range(episodes):
        actions = []
        started = time.perf_counter()
        obs, info = env.reset(seed=episode, options={"index": episode % n})
        env_seconds += time.perf_counter() - started
        while True:
            actions.append(agent.act(obs["role"], obs))
            started = time.perf_counter()
            obs, reward, terminated, truncated, info = env.step(actions[-1])
            env_seconds += time.perf_counter() - started
            steps += 1
            if terminated or truncated:
                break
        if played is not None:
            played.append(actions)
    return env_seconds, steps


def engine_us_per_step(env_id: str, kwargs: dict, episodes: int) -> tuple[float, int]:
    env = gym.make(env_id, **kwargs)
    SEARCH_SECONDS[0] = 0.0
    env_seconds, steps = play(env, episodes)
    env.close()
    return (env_seconds - SEARCH_SECONDS[0]) / steps * 1e6, steps


def recorded_play(env_id: str, kwargs: dict, episodes: int) -> tuple[gym.Env, int, list[list[str]], int]:
    """The env, its number of questions, the actions of ``episodes`` played by the agent, and their steps, with every
    search recorded for the replays (:data:`RECORDED`; the caller sets it back to None)."""
    global RECORDED
    RECORDED = {}
    env = gym.make(env_id, **kwargs)
    played: list[list[str]] = []
    _, steps = play(env, episodes, played)
    return env, len(env.unwrapped.examples), played, steps


def replayed_us_per_step(env_id: str, kwargs: dict, episodes: int, repeats: int = 7) -> tuple[float, int]:
    """The least time per step of ``repeats`` replays of the agent's ``episodes`` (steps: of one replay)."""
    global RECORDED
    env, n, played, steps = recorded_play(env_id, kwargs, episodes)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for episode, actions in enumerate(played):  # seeded once per replay, as a training loop does (the index pins
            env.reset(seed=0 if episode == 0 else None, options={"index": episode % n})  # the question)
            for action in actions:
                env.step(action)
        best = min(best, time.perf_counter() - started)
    env.close()
    RECORDED = None
    return best / steps * 1e6, steps


def replayed_by_role(env_id: str, kwargs: dict, episodes: int, repeats: int = 7) -> dict[str, float]:
    """``--by-role``: the replay of :func:`replayed_us_per_step`, with ``reset`` and each role's step timed apart (the
    final step of an episode as ``ROLE/end``): the least mean µs of ``repeats`` replays, per kind."""
    global RECORDED
    env, n, played, _ = recorded_play(env_id, kwargs, episodes)
    best: dict[str, float] = {}
    for _ in range(repeats):
        total: dict[str, float] = {}
        count: dict[str, int] = {}
        for episode, actions in enumerate(played):
            started = time.perf_counter()
            obs, _ = env.reset(seed=0 if episode == 0 else None, options={"index": episode % n})
            kinds = [("reset", time.perf_counter() - started)]
            for action in actions:
                role = obs["role"]
                started = time.perf_counter()
                obs, _, terminated, truncated, _ = env.step(action)
                kinds.append((role + ("/end" if terminated or truncated else ""), time.perf_counter() - started))
            for kind, seconds in kinds:
                total[kind] = total.get(kind, 0.0) + seconds
                count[kind] = count.get(kind, 0) + 1
        for kind, seconds in total.items():
            best[kind] = min(best.get(kind, float("inf")), seconds / count[kind] * 1e6)
    env.close()
    RECORDED = None
    return {kind: round(us, 1) for kind, us in sorted(best.items())}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--replay", action="store_true", help="time replays of the episodes, without the agent or retrieval")
    parser.add_argument("--passes", type=int, default=7, help="--replay: how many replays (the least time is reported)")
    parser.add_argument("--by-role", action="store_true", help="replay, timing reset and each role's step apart")
    args = parser.parse_args()
    hotpot = Path(__file__).resolve().parents[2] / "shared" / "data" / "hotpotqa" / "hotpot_dev_distractor_v1_100.json"
    if args.by_role:
        print(json.dumps({"synthetic_us": replayed_by_role("JadeRAG-Synthetic-v0", {"n": 300}, args.episodes, args.passes),
                          "hotpotqa_us": replayed_by_role("JadeRAG-HotpotQA-v0", {"data_path": str(hotpot)}, args.episodes,
                                                          args.passes)}))
        raise SystemExit
    if args.replay:
        def measure(env_id, kwargs, episodes):
            return replayed_us_per_step(env_id, kwargs, episodes, args.passes)
    else:
        measure = engine_us_per_step
    syn = measure("JadeRAG-Synthetic-v0", {"n": 300}, args.episodes)
    hp = measure("JadeRAG-HotpotQA-v0", {"data_path": str(hotpot)}, args.episodes)
    print(json.dumps({"synthetic_us_per_step": round(syn[0], 1), "synthetic_steps": syn[1],
                      "hotpotqa_us_per_step": round(hp[0], 1), "hotpotqa_steps": hp[1]}))
