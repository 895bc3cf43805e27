"""MaskablePPO on the JADE team in a few lines: every role picks one of its candidate outputs.

    python examples/maskable_ppo.py [--steps 4096]

``CandidateActionEnv`` turns the text env into Discrete(8) actions with masks; one MLP plays every role.
"""

import argparse

import gymnasium as gym
from sb3_contrib import MaskablePPO

import jade_env  # noqa: F401  (registers the JadeRAG ids)
from baselines.discrete_env import CandidateActionEnv

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--steps", type=int, default=4096)
args = parser.parse_args()

env = CandidateActionEnv(gym.make("JadeRAG-Synthetic-v0", n=300))
model = MaskablePPO("MlpPolicy", env, n_steps=512, batch_size=128, gamma=1.0, seed=0, verbose=0).learn(args.steps)

obs, info = env.reset(seed=1)
while True:
    action, _ = model.predict(obs, action_masks=env.action_masks(), deterministic=True)
    obs, reward, terminated, truncated, info = env.step(action)
    if terminated or truncated:
        break
print(f"workflow {info['workflow']}, prediction {info['prediction']!r}, F1 {info['metrics']['f1']:.2f}")
