"""TRL's GRPOTrainer on the JadeRAG envs (baselines.trainers.trl_grpo): two steps on CPU with a tiny random model.

The tiny model writes valid outputs (the role grammars constrain it) but random answers, so the rewards that
vary within a group come from the workflow it samples: the env is made with the JADE cost weights alpha and
beta, which charge rounds and retrievals.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="TRL is not installed: pip install -e '.[trl]'")
pytest.importorskip("xgrammar", reason="constrained decoding needs xgrammar: pip install -e '.[llm]'")

ROOT = Path(__file__).resolve().parents[1]
ENV_KWARGS = {"n": 20, "synthetic": {"seed": 0}, "max_steps": 6, "alpha": 0.5, "beta": 0.5}
FAST = {"num_generations": 3, "questions_per_step": 1, "temperature": 2.0, "role_tokens": 24, "max_new_tokens": 24}


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    from baselines.policies.tiny import save_tiny_chat_model

    return save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "model")


def check(result: dict) -> None:
    assert result["steps"] == 2
    assert all(loss != 0.0 for loss in result["losses"]), result["losses"]
    groups = [scores for r in result["rollouts"] for scores in r["group_scores"].values() if len(scores) > 1]
    assert groups, "no group had two filled rows"
    assert any(len(set(scores)) > 1 for scores in groups), groups


def test_the_example_trains_the_team_jointly_from_the_command_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "joint"
    cmd = [sys.executable, str(ROOT / "examples" / "trl_grpo_team.py"), "--model", str(tiny_model_dir), "--env",
           "JadeRAG-Synthetic-v0", "--env-kwargs", json.dumps(ENV_KWARGS), "--max-steps", "2", "--out", str(out),
           "--mode", "joint", "--num-generations", "3", "--questions-per-step", "1", "--temperature", "2.0",
           "--role-tokens", "24"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRL_EXPERIMENTAL_SILENCE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("step ") == 2, proc.stdout
    result = json.loads((out / "result.json").read_text())
    check(result)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["update"] for line in lines] == [0, 1] and all(line["rollout"]["filled_rows"] > 0 for line in lines)


@pytest.mark.parametrize("env_id, mode", [("JadeRAG-Synthetic-Decoupled-v0", "decoupled"), ("JadeRAG-Synthetic-Monolithic-v0", "joint")])
def test_grpo_steps_on_the_team_planner_and_on_the_monolithic_agent(tiny_model_dir: Path, tmp_path: Path, env_id: str,
                                                                   mode: str) -> None:
    from baselines.trainers.trl_grpo import Args, train

    kwargs = dict(ENV_KWARGS)
    if "Monolithic" in env_id:
        kwargs.pop("max_steps")
    fast = {**FAST, "num_generations": 4, "questions_per_step": 2}  # cheap rollouts: one role, or the planner alone
    result = train(Args(model=str(tiny_model_dir), env=env_id, env_kwargs=kwargs, mode=mode, max_steps=2,
                        out=str(tmp_path / "run"), **fast))
    check(result)
    assert result["slots"] == (1 if "Monolithic" in env_id else 5)  # decoupled: the top-level plan and one per sub-question


def test_rows_name_their_question_and_slot() -> None:
    from baselines.trainers.trl_grpo import parse_row, row_prompt

    assert parse_row(row_prompt(17, 2)) == (17, 2)
    with pytest.raises(ValueError, match="JadeRAG question I, turn K"):
        parse_row([{"role": "user", "content": "hi"}])
