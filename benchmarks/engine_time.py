"""Engine time per agent step, comparable across versions of jade_env: reset + step with the BM25 search time taken out.

    PYTHONPATH=TREE python benchmarks/engine_time.py [--episodes 300]

Only public names that every version since 0.1 has are used (``gym.make``, ``baselines.agents.team.make_agent``,
``BM25Retriever.search``), so the same script times an older checkout: run it alternately with ``PYTHONPATH`` set to
each tree, in fresh processes, and compare the minima (the machine's load moves single runs by tens of percent). The
rule-planner plays Synthetic (300 questions) and the HotpotQA dev file of ../shared/data; its own time is excluded.
Prints one JSON line.
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
_search = bm25.BM25Retriever.search


def _timed_search(self, queries, k):
    started = time.perf_counter()
    try:
        return _search(self, queries, k)
    finally:
        SEARCH_SECONDS[0] += time.perf_counter() - started


bm25.BM25Retriever.search = _timed_search


def engine_us_per_step(env_id: str, kwargs: dict, episodes: int) -> tuple[float, int]:
    env = gym.make(env_id, **kwargs)
    agent = make_agent("rule-planner", env.unwrapped.examples)
    n = len(env.unwrapped.examples)
    env_seconds, steps, SEARCH_SECONDS[0] = 0.0, 0, 0.0
    for episode in range(episodes):
        started = time.perf_counter()
        obs, info = env.reset(seed=episode, options={"index": episode % n})
        env_seconds += time.perf_counter() - started
        while True:
            action = agent.act(obs["role"], obs)
            started = time.perf_counter()
            obs, reward, terminated, truncated, info = env.step(action)
            env_seconds += time.perf_counter() - started
            steps += 1
            if terminated or truncated:
                break
    env.close()
    return (env_seconds - SEARCH_SECONDS[0]) / steps * 1e6, steps


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=300)
    args = parser.parse_args()
    hotpot = Path(__file__).resolve().parents[2] / "shared" / "data" / "hotpotqa" / "hotpot_dev_distractor_v1_100.json"
    syn = engine_us_per_step("JadeRAG-Synthetic-v0", {"n": 300}, args.episodes)
    hp = engine_us_per_step("JadeRAG-HotpotQA-v0", {"data_path": str(hotpot)}, args.episodes)
    print(json.dumps({"synthetic_us_per_step": round(syn[0], 1), "synthetic_steps": syn[1],
                      "hotpotqa_us_per_step": round(hp[0], 1), "hotpotqa_steps": hp[1]}))
