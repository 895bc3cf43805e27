"""The decoupled-versus-joint experiment: specs inside the candidate sets, one shared start, frozen executors that
never move, and a short grid that writes every output."""

from __future__ import annotations

import json
import random
from pathlib import Path

import gymnasium as gym
import pytest

import jade_env  # noqa: F401
from baselines.candidates import CandidateGenerator
from baselines.executor_specs import SPECS, ExecutorSpec, SpecExecutor
from jade_env.executors import ScriptedTeam
from jade_env.fuzzing import random_action

pytest.importorskip("sb3_contrib", reason="the rl extra is not installed")

SYN = {"n": 120, "synthetic": {"seed": 4}}


def observations(n_episodes: int = 60, seed: int = 0) -> list[dict[str, str]]:
    """Observations of every role, from episodes mixing the scripted team's outputs and random ones."""
    env = gym.make("JadeRAG-Synthetic-v0", **SYN)
    team, rng, out = ScriptedTeam(), random.Random(seed), []
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=episode)
        while True:
            out.append(obs)
            action = team.act(obs["role"], obs) if rng.random() < 0.7 else random_action(rng, obs["role"], obs["fields"])
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
    env.close()
    return out


def test_matched_spec_is_the_scripted_team() -> None:
    matched, team = SpecExecutor("matched"), ScriptedTeam()
    for obs in observations():
        assert matched.act(obs["role"], obs) == team.act(obs["role"], obs), obs["role"]


def test_every_spec_choice_is_a_candidate_of_its_preferred_kind() -> None:
    generator = CandidateGenerator()
    seen: set[tuple[str, str]] = set()
    for obs in observations():
        candidates = generator(obs["role"], obs)
        for name in SPECS:
            index = ExecutorSpec.named(name).choose(obs["role"], obs, candidates)
            assert candidates.mask[index]  # always a real candidate: the frozen choice lies in the joint action set
            seen.add((name, next(iter(sorted(candidates.kinds[index])), "")))
    assert ("mismatched-qr", "qr:raw") in seen and ("matched", "qr:fill") in seen
    assert ("mismatched-qds", "qd:coarse") in seen and ("mismatched-ds", "ds:top1") in seen


def test_fine_split_makes_three_hop_questions_solvable_and_the_mismatches_hurt() -> None:
    env = gym.make("JadeRAG-Synthetic-v0", **SYN)
    three_hop = [i for i, e in enumerate(env.unwrapped.examples) if e.type == "3-hop"][:15]
    bridge = [i for i, e in enumerate(env.unwrapped.examples) if e.type == "bridge"][:15]

    def f1(spec: str, indices: list[int]) -> float:
        agent, total = SpecExecutor(spec), 0.0
        for i in indices:
            obs, _ = env.reset(options={"index": i})
            while True:
                obs, _, terminated, truncated, info = env.step(agent.act(obs["role"], obs))
                if terminated or truncated:
                    break
            total += info["metrics"]["f1"]
        return total / len(indices)

    assert f1("matched", three_hop) > 0.7 and f1("mismatched-qds", three_hop) < 0.2
    assert f1("matched", bridge) > 0.8 and f1("mismatched-qr", bridge) < 0.2
    env.close()


def test_spec_executor_explores_only_with_epsilon() -> None:
    obs = [o for o in observations(20) if o["role"] == "qr"]
    greedy = [SpecExecutor("mismatched-qr", epsilon=0.0, seed=s).act("qr", o) for s in (1, 2) for o in obs]
    assert greedy[: len(obs)] == greedy[len(obs):]
    exploring = SpecExecutor("mismatched-qr", epsilon=1.0, seed=3)
    assert len({exploring.act("qr", obs[0]) for _ in range(40)}) > 1


def small_settings(out: Path):
    from baselines.ablation import Settings

    return Settings(out=str(out), steps=256, train_n=100, eval_n=20, bc_episodes=10, jobs=2, seeds=(0,))


def test_one_start_for_both_arms_and_frozen_executors_that_never_move(tmp_path: Path) -> None:
    from baselines.ablation import Cell, run_cell

    settings = small_settings(tmp_path)
    probe = [o for o in observations(30) if o["role"] != "planner"]
    spec = SpecExecutor("mismatched-qr")
    before = [spec.act(o["role"], o) for o in probe]
    joint = run_cell(Cell("joint", "mismatched-qr", 0), settings)
    decoupled = run_cell(Cell("decoupled", "mismatched-qr", 0), settings)
    assert joint["start_sha256"] == decoupled["start_sha256"] != ""  # the same weights before PPO
    assert [spec.act(o["role"], o) for o in probe] == before  # the frozen executors are rules: nothing to move
    assert set(decoupled["executor_drift"]) == {"planner"}  # only the planner was trained
    assert "planner" in joint["executor_drift"] and len(joint["executor_drift"]) > 1  # the joint network played executors too
    import torch
    from sb3_contrib import MaskablePPO

    start = MaskablePPO.load(tmp_path / decoupled["cell"] / "start.zip").policy.state_dict()
    trained = MaskablePPO.load(tmp_path / decoupled["cell"] / "model.zip").policy.state_dict()
    assert any(not torch.equal(start[k], trained[k]) for k in start)  # the planner's network did move


def test_a_short_grid_writes_every_output(tmp_path: Path) -> None:
    from baselines.ablation import cells_of, run_grids

    settings = small_settings(tmp_path)
    result = run_grids(["main", "ds", "table2"], settings)
    names = {r["cell"] for r in result["runs"]}
    assert len(names) == len({c.name for g in ("main", "ds", "table2") for c in cells_of(g, settings)})
    saved = json.loads((tmp_path / "ablation.json").read_text())
    assert all(r["command"] and 0.0 <= r["f1"] <= 1.0 for r in saved["runs"])
    report = (tmp_path / "ablation.md").read_text()
    assert "joint - decoupled" in report and "DS effect" in report and "JADE (joint)" in report
    assert (tmp_path / "fig4_workflows_by_kind.png").stat().st_size > 10_000
