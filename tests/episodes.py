"""Helpers of the env tests: random trajectories and the check that a copy of a running env continues exactly."""

from __future__ import annotations

import random
import socket
import subprocess
import time
import urllib.request

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


def wait_for_server(proc: subprocess.Popen, port: int, seconds: float = 60) -> str:
    """The URL of a server subprocess once its /health answers (RuntimeError if it exits or never answers)."""
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    return url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not come up in {seconds:.0f} s")
