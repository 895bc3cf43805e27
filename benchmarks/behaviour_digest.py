"""A digest of what the environments give back, to show that a speed change changed no behaviour.

    PYTHONPATH=TREE python benchmarks/behaviour_digest.py

Five env configurations, 80 episodes each (``reset(seed=episode)``): the team env on Synthetic (300 questions) and on
the HotpotQA dev file of ../shared/data, the decoupled env (the scripted executors play the other roles), the
monolithic env, and ``preset="authors_code"``. On even episodes the ``rule-planner`` acts (where there is a team to
play), on odd ones actions drawn from a fixed list of valid, invalid and junk outputs (``random.Random(0)``). Every
observation, reward, termination flag and info is hashed in order; the script prints the SHA-256 of all of them (16 hex
digits), one per configuration (12) and the number of agent steps. Run it on two trees: the same digest means the same
trajectories, rewards and infos.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import gymnasium as gym

import jade_env  # noqa: F401
from baselines.agents import make_agent

HOTPOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "hotpotqa" / "hotpot_dev_distractor_v1_100.json"
CONFIGS = [("JadeRAG-Synthetic-v0", {"n": 300, "synthetic": {"seed": 0}}),
           ("JadeRAG-HotpotQA-v0", {"data_path": str(HOTPOT)}),
           ("JadeRAG-Synthetic-Decoupled-v0", {"n": 200, "synthetic": {"seed": 1}}),
           ("JadeRAG-Synthetic-Monolithic-v0", {"n": 200, "synthetic": {"seed": 2}}),
           ("JadeRAG-Synthetic-v0", {"n": 200, "synthetic": {"seed": 3}, "preset": "authors_code"})]
ACTIONS = ["", "<workflow>QDS</workflow>", "<workflow>R,AG</workflow>", "<answer>x</answer>", "garbage",
           "<q1>a?</q1><q2>b?</q2>", "<query>foo bar</query>", "<id>Document0,Document2</id>", "<search>alpha</search>",
           "<answer></answer>", "<workflow>QR,R,DS,AG</workflow>"]


def main() -> None:
    everything = hashlib.sha256()
    per_config, steps = [], 0
    for env_id, kwargs in CONFIGS:
        config = hashlib.sha256()
        env = gym.make(env_id, **kwargs)
        agent = None if "Monolithic" in env_id else make_agent("rule-planner")
        rng = random.Random(0)
        for episode in range(80):
            obs, info = env.reset(seed=episode)
            seen: list = [obs, info]
            done = False
            while not done:
                action = agent.act(obs["role"], obs) if episode % 2 == 0 and agent is not None else rng.choice(ACTIONS)
                obs, reward, terminated, truncated, info = env.step(action)
                seen += [obs, reward, terminated, truncated, info]
                steps += 1
                done = terminated or truncated
            text = json.dumps(seen, sort_keys=True, default=repr).encode()
            everything.update(text)
            config.update(text)
        env.close()
        per_config.append(config.hexdigest()[:12])
    print(everything.hexdigest()[:16], " ".join(per_config), f"steps {steps}")


if __name__ == "__main__":
    main()
