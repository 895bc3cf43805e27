"""The compact trainer (work in progress on issue 7): each paradigm trains a few hundred steps and evaluates."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("sb3_contrib", reason="the rl extra is not installed")

from baselines.discrete_env import CandidateActionEnv, observation_size  # noqa: E402
from baselines.train import Args, paradigm_env_id, train  # noqa: E402
from jade_env.errors import JadeError  # noqa: E402

SMALL = {"env_kwargs": json.dumps({"n": 200, "synthetic": {"seed": 0}}), "eval_kwargs": json.dumps({"n": 30, "synthetic": {"seed": 1}}),
         "n_steps": 128, "batch_size": 64, "log_every": 128}


def test_candidate_env_masks_and_features() -> None:
    env = CandidateActionEnv(gym.make("JadeRAG-Synthetic-v0", n=50, synthetic={"seed": 0}))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (observation_size(),) and env.observation_space.contains(obs)
    mask = env.action_masks()
    assert mask.dtype == bool and mask.sum() == 8  # the planner's 8 workflows
    done, steps = False, 0
    while not done:
        action = int(np.flatnonzero(env.action_masks())[0])
        obs, reward, terminated, truncated, info = env.step(action)
        done, steps = terminated or truncated, steps + 1
    assert info["valid"] and info["workflow"] == "AG" and steps == 2
    without_ds = CandidateActionEnv(gym.make("JadeRAG-Synthetic-v0", n=50, synthetic={"seed": 0}), allow_ds=False)
    without_ds.reset(seed=0)
    assert without_ds.action_masks().sum() == 6


@pytest.mark.parametrize("paradigm", ["joint", "decoupled", "static"])
def test_each_paradigm_trains_and_evaluates(paradigm: str, tmp_path: Path) -> None:
    args = Args(paradigm=paradigm, steps=256, out=str(tmp_path / paradigm), **SMALL)
    metrics = train(args)
    assert metrics["n"] == 30 and 0.0 <= metrics["f1"] <= 1.0
    rows = list(csv.DictReader((tmp_path / paradigm / "metrics.csv").open()))
    assert rows and int(rows[-1]["step"]) == 256
    assert (tmp_path / paradigm / "model.zip").exists()


def test_unknown_paradigm_and_config_mismatch(tmp_path: Path) -> None:
    with pytest.raises(JadeError, match="unknown paradigm 'solo'"):
        paradigm_env_id("JadeRAG-Synthetic-v0", "solo")
    assert paradigm_env_id("JadeRAG-HotpotQA-Static-v0", "decoupled") == "JadeRAG-HotpotQA-Decoupled-v0"
    train(Args(paradigm="decoupled", steps=128, out=str(tmp_path / "r"), **SMALL))
    with pytest.raises(JadeError, match="another configuration"):
        train(Args(paradigm="joint", steps=128, out=str(tmp_path / "r"), **SMALL))


def test_token_level_ppo_two_updates_of_the_tiny_model(tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="the llm extra is not installed")
    import torch

    from baselines.ppo_lm import Args as LMArgs
    from baselines.ppo_lm import train as train_lm

    history = train_lm(LMArgs(updates=2, episodes_per_update=2, epochs=1, max_new_tokens=8, out=str(tmp_path / "lm"), kl_coef=0.1))
    assert len(history) == 2 and all(np.isfinite(row["loss"]) for row in history)
    assert all(row["transitions"] >= 2 for row in history)
    from baselines.policies.tiny import tiny_chat_model

    start, _ = tiny_chat_model(seed=0)
    from transformers import AutoModelForCausalLM

    trained = AutoModelForCausalLM.from_pretrained(tmp_path / "lm" / "model")
    changed = any(not torch.equal(a, b) for a, b in zip(start.state_dict().values(), trained.state_dict().values(), strict=True))
    assert changed  # the updates moved the weights
