"""The candidate-action team env with tianshou 2.x's PPO (extra ``tianshou``), as a second RL library.

    python -m baselines.tianshou_ppo --steps 4096

The same :class:`~baselines.discrete_env.CandidateActionEnv` as the sb3-contrib trainer, in tianshou's
vectorised collectors. Tianshou's PPO does not read action masks, so a masked choice is sent as an empty
output and the env penalises it, which the policy learns to avoid; sb3-contrib's MaskablePPO
(:mod:`baselines.train`) uses the masks directly and is the reference trainer.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import torch
from torch.distributions import Categorical

import jade_env  # noqa: F401
from baselines.discrete_env import CandidateActionEnv


def make_env(kwargs: dict) -> gym.Env:
    return CandidateActionEnv(gym.make("JadeRAG-Synthetic-v0", **kwargs))  # its info has fixed shapes: no wrapper


def train(steps: int = 4096, seed: int = 0, env_kwargs: dict | None = None, n_envs: int = 2) -> dict:
    """Train PPO for about ``steps`` environment steps; returns the last collect statistics as a dict."""
    from tianshou.algorithm.modelfree.ppo import PPO
    from tianshou.algorithm.modelfree.reinforce import ProbabilisticActorPolicy
    from tianshou.algorithm.optim import AdamOptimizerFactory
    from tianshou.data import Collector, VectorReplayBuffer
    from tianshou.env import DummyVectorEnv
    from tianshou.trainer import OnPolicyTrainerParams
    from tianshou.utils.net.common import Net
    from tianshou.utils.net.discrete import DiscreteActor, DiscreteCritic

    torch.manual_seed(seed)
    env_kwargs = env_kwargs or {"n": 300, "synthetic": {"seed": seed}}
    envs = DummyVectorEnv([lambda: make_env(env_kwargs) for _ in range(n_envs)])
    probe = make_env(env_kwargs)
    state_shape, n_actions = probe.observation_space.shape, probe.action_space.n
    actor = DiscreteActor(preprocess_net=Net(state_shape=state_shape, hidden_sizes=[128, 128]), action_shape=n_actions)
    critic = DiscreteCritic(preprocess_net=Net(state_shape=state_shape, hidden_sizes=[128, 128]))
    policy = ProbabilisticActorPolicy(actor=actor, dist_fn=lambda probs: Categorical(probs=probs), action_space=probe.action_space,
                                      action_scaling=False)
    algorithm = PPO(policy=policy, critic=critic, optim=AdamOptimizerFactory(lr=3e-4), gamma=1.0)
    collector = Collector(algorithm, envs, VectorReplayBuffer(2048, n_envs))
    result = algorithm.run_training(OnPolicyTrainerParams(
        training_collector=collector, max_epochs=1, epoch_num_steps=steps, collection_step_num_env_steps=512, batch_size=128,
        update_step_num_repetitions=2, verbose=False, show_progress=False))
    probe.close()
    envs.close()
    return {"epochs": getattr(result, "best_epoch", None), "timesteps": collector.collect_step}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    print(train(parser.parse_args().steps, parser.parse_args().seed))
