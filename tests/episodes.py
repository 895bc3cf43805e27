"""Helpers of the env tests: random trajectories and the check that a copy of a running env continues exactly."""

from __future__ import annotations

import random
import socket

import gymnasium as gym

from jade_env.fuzzing import check_copies, random_trajectory

#: a small Synthetic world for env tests
SYN = {"n": 60, "synthetic": {"seed": 2}}


def trajectory(env: gym.Env, rng: random.Random, obs: dict, steps: int) -> list[str]:
    return random_trajectory(env, rng, obs, steps)


def continuation_matches(make, clone, episodes: int, seed: int = 0) -> int:
    """At a random step of each episode, ``clone(env)``; both must then give byte-identical trajectories."""
    compared, diverged = check_copies(make, clone, episodes, seed)
    assert diverged == 0, f"{diverged} of {compared} copies diverged"
    return compared


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

