"""The compact trainer: each paradigm trains a few hundred steps and evaluates; resume, checkpoints, errors."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("sb3_contrib", reason="the rl extra is not installed")

from baselines.discrete_env import CandidateActionEnv, observation_size  # noqa: E402
from baselines.train import PARADIGMS, Args, env_id_of, train  # noqa: E402
from jade_env.errors import JadeError  # noqa: E402

SMALL = {"env_kwargs": json.dumps({"n": 200, "synthetic": {"seed": 0}}), "eval_kwargs": json.dumps({"n": 30, "synthetic": {"seed": 1}}),
         "n_steps": 128, "batch_size": 64, "log_every": 128, "bc_episodes": 20, "bc_epochs": 2}


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


@pytest.mark.parametrize("paradigm", list(PARADIGMS))
def test_each_paradigm_trains_and_evaluates(paradigm: str, tmp_path: Path) -> None:
    args = Args(paradigm=paradigm, steps=256, out=str(tmp_path / paradigm), **SMALL)
    metrics = train(args)
    assert metrics["n"] == 30 and 0.0 <= metrics["f1"] <= 1.0
    rows = list(csv.DictReader((tmp_path / paradigm / "metrics.csv").open()))
    assert rows and int(rows[-1]["step"]) == 256
    assert float(rows[-1]["reward"]) <= float(rows[-1]["f1"]) + 1e-9  # the return: the F1 paid at the end, less penalties
    assert (tmp_path / paradigm / "model.zip").exists() and (tmp_path / paradigm / "start.zip").exists()
    summary = json.loads((tmp_path / paradigm / "summary.json").read_text())
    assert set(summary["executor_drift"]) <= set(PARADIGMS[paradigm].roles) and summary["f1_by_kind"]


def test_unknown_paradigm_and_config_mismatch(tmp_path: Path) -> None:
    with pytest.raises(JadeError, match="unknown paradigm 'solo'"):
        train(Args(paradigm="solo", out=str(tmp_path / "solo")))
    with pytest.raises(JadeError, match="unknown executor spec 'odd'"):
        train(Args(spec="odd", out=str(tmp_path / "odd")))
    assert env_id_of("JadeRAG-HotpotQA-Static-v0", PARADIGMS["decoupled"]) == "JadeRAG-HotpotQA-v0"
    assert env_id_of("JadeRAG-HotpotQA-v0", PARADIGMS["monolithic"]) == "JadeRAG-HotpotQA-Monolithic-v0"
    train(Args(paradigm="decoupled", steps=128, out=str(tmp_path / "r"), **SMALL))
    with pytest.raises(JadeError, match="another configuration \\(--paradigm: 'decoupled' there, 'joint' now\\)"):
        train(Args(paradigm="joint", steps=128, out=str(tmp_path / "r"), **SMALL))
    respelled = json.dumps(json.loads(SMALL["env_kwargs"]), indent=1)[::-1][::-1].replace(": ", ":  ")  # the same keywords
    train(Args(paradigm="decoupled", steps=128, out=str(tmp_path / "r"), **{**SMALL, "env_kwargs": respelled}))
    with pytest.raises(JadeError, match="--steps 64 is below the 128 steps .* has trained"):
        train(Args(paradigm="decoupled", steps=64, out=str(tmp_path / "r"), **SMALL))


@pytest.mark.parametrize(("bad", "message"), [
    ({"steps": -5}, "--steps must be an integer >= 0, got -5"),
    ({"n_steps": 0}, "--n-steps must be an integer >= 1"), ({"batch_size": 0}, "--batch-size must be an integer >= 1"),
    ({"bc_episodes": -1}, "--bc-episodes must be an integer >= 0"), ({"log_every": -1}, "--log-every must be an integer >= 0"),
    ({"eval_every": -1}, "--eval-every must be"), ({"checkpoint_every": -1}, "--checkpoint-every must be"),
    ({"curve_episodes": 0}, "--curve-episodes must be an integer >= 1"), ({"learning_rate": -1.0}, "--learning-rate must be a number above 0"),
])
def test_a_number_no_run_can_use_is_one_line_and_no_folder(bad: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(JadeError, match=message):
        train(Args(paradigm="decoupled", out=str(tmp_path / "run"), **{**SMALL, **bad}))
    assert not (tmp_path / "run").exists()


def test_train_fails_fast_and_writes_nothing(tmp_path: Path) -> None:
    """A mistyped keyword or a missing file is one message before any file is written."""
    out = tmp_path / "run"
    with pytest.raises(JadeError, match=r"takes no keyword 'topk' \(did you mean 'top_k'\?\)"):
        train(Args(paradigm="decoupled", out=str(out), **{**SMALL, "env_kwargs": '{"n": 200, "topk": 3}'}))
    with pytest.raises(JadeError, match="eval-kwargs is not valid JSON"):
        train(Args(paradigm="decoupled", out=str(out), **{**SMALL, "eval_kwargs": "{n: 3"}))
    with pytest.raises(JadeError, match="missing.json"):
        train(Args(paradigm="decoupled", env="JadeRAG-HotpotQA-v0", out=str(out),
                   **{**SMALL, "env_kwargs": json.dumps({"data_path": str(tmp_path / "missing.json")}), "eval_kwargs": ""}))
    assert not out.exists()


def test_train_on_a_real_data_file_evaluates_on_that_data(shared_data: Path, tmp_path: Path) -> None:
    """``--env JadeRAG-HotpotQA-v0 --env-kwargs '{"data_path": ...}'``: no Synthetic keyword leaks into the evaluation."""
    data = str(shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json")
    args = Args(paradigm="decoupled", env="JadeRAG-HotpotQA-v0", steps=128, out=str(tmp_path / "hp"),
                **{**SMALL, "env_kwargs": json.dumps({"data_path": data}), "eval_kwargs": ""})
    metrics = train(args)
    assert metrics["n"] == 103 and metrics["env_id"] == "JadeRAG-HotpotQA-v0"
    assert json.loads((tmp_path / "hp" / "eval" / "config.json").read_text())["env_kwargs"] == {"data_path": data}
    assert json.loads(json.loads((tmp_path / "hp" / "config.json").read_text())["eval_kwargs"]) == {"data_path": data}


def test_learning_curve_with_held_out_f1_reference_lines_and_tensorboard(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from baselines.plots import plot_run

    out = tmp_path / "curve"
    train(Args(paradigm="joint", steps=256, out=str(out), **{**SMALL, "eval_every": 128, "curve_episodes": 10}))
    rows = list(csv.DictReader((out / "curve.csv").open()))
    assert [int(r["step"]) for r in rows] == [0, 128, 256] and all(r["questions"] == "10" for r in rows)
    reference = json.loads((out / "curve_reference.json").read_text())
    assert set(reference) == {"questions", "rule-planner", "closed-book", "oracle"}
    assert reference["closed-book"] < reference["rule-planner"] <= reference["oracle"]
    if importlib.util.find_spec("tensorboard"):
        assert list(out.glob("tensorboard/*/events.out.tfevents.*"))
    assert (out / "learning_curve.png") in plot_run(out)


def test_the_learning_curve_does_not_change_training(tmp_path: Path) -> None:
    """Held-out evaluations draw no random numbers of the trainer: the same seed gives the same weights with or without."""
    shas = []
    for every in (0, 128):
        train(Args(paradigm="joint", steps=256, out=str(tmp_path / str(every)), **{**SMALL, "eval_every": every, "curve_episodes": 5}))
        shas.append(json.loads((tmp_path / str(every) / "summary.json").read_text())["model_sha256"])
    assert shas[0] == shas[1] and not (tmp_path / "0" / "curve.csv").exists()


def test_wandb_without_the_package_is_one_message_and_no_folder(tmp_path: Path) -> None:
    if importlib.util.find_spec("wandb"):
        pytest.skip("wandb is installed here")
    with pytest.raises(JadeError, match="pip install wandb"):
        train(Args(paradigm="joint", steps=128, out=str(tmp_path / "w"), wandb=True, **SMALL))
    assert not (tmp_path / "w").exists()


def test_held_out_synthetic_evaluation_is_derived_from_the_training_world() -> None:
    from baselines.train import eval_kwargs_of

    derived = eval_kwargs_of(Args(env_kwargs='{"n": 800, "sample_seed": 3, "synthetic": {"seed": 4, "distractor_rate": 0.5}}', eval_kwargs=""))
    assert derived == {"n": 300, "synthetic": {"seed": 5, "distractor_rate": 0.5}}


def test_frozen_executor_checkpoint_stays_bit_identical(tmp_path: Path) -> None:
    import torch
    from sb3_contrib import MaskablePPO

    train(Args(paradigm="joint", steps=256, out=str(tmp_path / "joint"), **SMALL))
    checkpoint = tmp_path / "joint" / "model.zip"
    before = {k: v.clone() for k, v in MaskablePPO.load(checkpoint).policy.state_dict().items()}
    train(Args(paradigm="decoupled", steps=256, out=str(tmp_path / "dec"), executor_checkpoint=str(checkpoint), **SMALL))
    after = MaskablePPO.load(checkpoint).policy.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the frozen executors' weights never moved
    planner = MaskablePPO.load(tmp_path / "dec" / "model.zip").policy.state_dict()
    assert any(not torch.equal(before[k], planner[k]) for k in before)  # the planner's own network did
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(JadeError, match="cannot load the executor checkpoint"):
        train(Args(paradigm="decoupled", steps=128, out=str(tmp_path / "bad"), executor_checkpoint=str(bad), **SMALL))


def test_joint_policy_learns_on_an_easy_synthetic_setting(tmp_path: Path) -> None:
    easy = {"env_kwargs": json.dumps({"n": 300, "synthetic": {"seed": 0, "hop_mix": {"1-hop": 1.0}}}),
            "eval_kwargs": json.dumps({"n": 100, "synthetic": {"seed": 1, "hop_mix": {"1-hop": 1.0}}}),
            "n_steps": 256, "batch_size": 64, "log_every": 0, "seed": 0, "bc_episodes": 0}  # a uniform start: learning from scratch
    untrained = train(Args(paradigm="joint", steps=0, out=str(tmp_path / "untrained"), **easy))
    trained = train(Args(paradigm="joint", steps=6000, out=str(tmp_path / "trained"), **easy))
    assert trained["f1"] > untrained["f1"] + 0.15, (untrained["f1"], trained["f1"])


def test_rerun_resumes_from_the_checkpoint(tmp_path: Path) -> None:
    from sb3_contrib import MaskablePPO

    folder = tmp_path / "run"
    train(Args(paradigm="joint", steps=256, out=str(folder), **SMALL))
    assert MaskablePPO.load(folder / "model.zip").num_timesteps == 256
    train(Args(paradigm="joint", steps=512, out=str(folder), **SMALL))
    assert MaskablePPO.load(folder / "model.zip").num_timesteps == 512
    steps = [int(r["step"]) for r in csv.DictReader((folder / "metrics.csv").open())]
    assert steps == sorted(steps) and steps[-1] == 512 and steps.count(256) == 1


def test_tianshou_ppo_trains_on_the_candidate_env() -> None:
    pytest.importorskip("tianshou", reason="the tianshou extra is not installed")
    from baselines.tianshou_ppo import train as train_tianshou

    result = train_tianshou(steps=512, env_kwargs={"n": 100, "synthetic": {"seed": 0}})
    assert result["timesteps"] >= 512


def test_the_train_command_line_is_made_from_args(capsys) -> None:
    from dataclasses import fields

    from jade_env.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(f"--{f.name.replace('_', '-')}" in text for f in fields(Args))
    assert "(default: mismatched-qr)" not in text and "(default: matched)" in text and "(default: 0.3)" in text
    with pytest.raises(SystemExit):
        main(["train", "--paradigm", "joint", "--out", "x", "--allow-ds", "maybe"])
    assert "expected true or false, got 'maybe'" in capsys.readouterr().err
