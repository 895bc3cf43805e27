"""Reference agents and ``jade-rag evaluate``: every agent end to end, resume, and metrics equal to the scorer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from baselines.agents import AGENTS, make_agent
from baselines.evaluate import evaluate
from jade_env.cli import main

SYN_KW = {"n": 200, "synthetic": {"seed": 4}}


@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_every_reference_agent_on_synthetic(agent: str, tmp_path: Path) -> None:
    metrics = evaluate("JadeRAG-Synthetic-v0", agent, tmp_path, env_kwargs=SYN_KW, limit=40, progress=False)
    assert metrics["n"] == 40 and 0.0 <= metrics["f1"] <= 1.0
    lines = (tmp_path / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 40 and set(json.loads(lines[0])) == {"id", "prediction", "rounds", "retrieval_calls", "tokens"}
    assert len((tmp_path / "trajectories.jsonl").read_text().splitlines()) == 40
    if agent == "closed-book":
        assert metrics["retrieval_calls_mean"] == 0.0 and metrics["workflow_distribution"] == {"AG": 1.0}


def test_reference_agents_rank_as_expected_on_synthetic(tmp_path: Path) -> None:
    f1 = {a: evaluate("JadeRAG-Synthetic-v0", a, tmp_path / a, env_kwargs=SYN_KW, limit=120, progress=False)["f1"]
          for a in ("closed-book", "vanilla-rag", "rule-planner", "oracle")}
    assert f1["closed-book"] < 0.2  # fictional entities: nothing to know without retrieval
    assert f1["vanilla-rag"] > f1["closed-book"] + 0.1
    assert f1["rule-planner"] > f1["vanilla-rag"]  # decomposing multi-hop questions pays
    assert f1["oracle"] >= 0.9  # the upper bound: gold decompositions and passages


@pytest.mark.parametrize(("rel", "env_id"), [("hotpotqa/hotpot_dev_distractor_v1_100.json", "JadeRAG-HotpotQA-v0"),
                                             ("2wikimultihopqa/2wikimultihopqa_dev_first100.jsonl", "JadeRAG-2Wiki-v0"),
                                             ("musique/musique_train.json", "JadeRAG-MuSiQue-v0")])
def test_reference_agents_on_real_files_with_per_question_corpora(shared_data: Path, tmp_path: Path, rel: str, env_id: str) -> None:
    kwargs = {"data_path": str(shared_data / rel), "corpus": "per_question"}
    for agent in AGENTS:
        metrics = evaluate(env_id, agent, tmp_path / agent, env_kwargs=kwargs, limit=15, progress=False)
        assert metrics["n"] == 15
        assert metrics["supporting_title_recall"] is None or 0.0 <= metrics["supporting_title_recall"] <= 1.0


def test_metrics_json_equals_jade_rag_score(tmp_path: Path, shared_data: Path, capsys) -> None:
    gold = shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json"
    metrics = evaluate("JadeRAG-HotpotQA-v0", "vanilla-rag", tmp_path, env_kwargs={"data_path": str(gold)}, progress=False)
    assert main(["score", "--gold", str(gold), "--pred", str(tmp_path / "predictions.jsonl"), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    for key in ("em", "f1", "precision", "recall", "sub_em", "n", "rounds_mean", "retrieval_calls_mean", "tokens_mean"):
        assert metrics[key] == scored[key], key


class Interrupting:
    """An agent that is interrupted (as by Ctrl-C) after a number of actions."""

    def __init__(self, inner, after: int) -> None:
        self.inner, self.left = inner, after

    def act(self, role, obs):
        self.left -= 1
        if self.left < 0:
            raise KeyboardInterrupt
        return self.inner.act(role, obs)


def test_resume_after_interruption_gives_the_same_files(tmp_path: Path, monkeypatch) -> None:
    full = tmp_path / "full"
    evaluate("JadeRAG-Synthetic-v0", "rule-planner", full, env_kwargs=SYN_KW, limit=25, progress=False)
    broken = tmp_path / "broken"
    import baselines.agents.team as team

    original = team.make_agent
    monkeypatch.setattr("baselines.agents.make_agent", lambda *a, **k: Interrupting(original(*a, **k), 37))
    with pytest.raises(KeyboardInterrupt):
        evaluate("JadeRAG-Synthetic-v0", "rule-planner", broken, env_kwargs=SYN_KW, limit=25, progress=False)
    done = len((broken / "predictions.jsonl").read_text().splitlines())
    assert 0 < done < 25
    with (broken / "trajectories.jsonl").open("a") as f:
        f.write('{"question_id": "torn')  # a torn last line, as a kill mid-write leaves
    monkeypatch.setattr("baselines.agents.make_agent", original)
    evaluate("JadeRAG-Synthetic-v0", "rule-planner", broken, env_kwargs=SYN_KW, limit=25, progress=False)
    for name in ("predictions.jsonl", "trajectories.jsonl", "metrics.json"):
        assert (broken / name).read_bytes() == (full / name).read_bytes(), name


def test_evaluate_cli_errors_list_valid_names(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "jade_env.cli", "evaluate", "--env", "JadeRAG-Nope-v0", "--agent", "vanilla-rag",
                          "--out", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown env 'JadeRAG-Nope-v0'" in out.stderr and "jade-rag envs" in out.stderr
    out = subprocess.run([sys.executable, "-m", "jade_env.cli", "evaluate", "--env", "JadeRAG-Synthetic-v0", "--agent", "oracle",
                          "--env-kwargs", '{"topk": 3}', "--out", str(tmp_path / "typo")], capture_output=True, text=True)
    assert out.returncode == 2 and "takes no keyword 'topk' (did you mean 'top_k'?)" in out.stderr, out.stderr
    assert not (tmp_path / "typo").exists()  # nothing written before the env is built
    for command in ("evaluate", "train"):  # a value the env refuses is one line too, for both commands
        out = subprocess.run([sys.executable, "-m", "jade_env.cli", command,
                              *(["--env", "JadeRAG-Synthetic-v0", "--agent", "oracle"] if command == "evaluate" else ["--paradigm", "joint"]),
                              "--env-kwargs", '{"top_k": 0}', "--out", str(tmp_path / "zero")], capture_output=True, text=True)
        assert out.returncode == 2 and "top_k must be a positive integer, got 0" in out.stderr and "Traceback" not in out.stderr
        assert not (tmp_path / "zero").exists()
    out = subprocess.run([sys.executable, "-m", "jade_env.cli", "evaluate", "--env", "JadeRAG-Synthetic-v0", "--agent", "nope",
                          "--out", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2 and "valid agents: closed-book" in out.stderr
    out = subprocess.run([sys.executable, "-m", "jade_env.cli", "evaluate", "--env", "JadeRAG-Synthetic-v0", "--agent", "oracle",
                          "--env-kwargs", "{bad json", "--out", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2 and "--env-kwargs is not valid JSON" in out.stderr


def test_evaluate_and_compare_cli_end_to_end(tmp_path: Path) -> None:
    for agent in ("vanilla-rag", "rule-planner"):
        out = subprocess.run([sys.executable, "-m", "jade_env.cli", "evaluate", "--env", "JadeRAG-Synthetic-v0", "--agent", agent,
                              "--env-kwargs", json.dumps(SYN_KW), "--limit", "20", "--quiet", "--out", str(tmp_path / agent)],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert "EM" in out.stdout and "workflows:" in out.stdout
    out = subprocess.run([sys.executable, "-m", "jade_env.cli", "compare", str(tmp_path / "vanilla-rag"), str(tmp_path / "rule-planner"),
                          "--plot", str(tmp_path / "f1_cost.png")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "rule-planner" in out.stdout and (tmp_path / "f1_cost.png").stat().st_size > 5000
    out = subprocess.run([sys.executable, "-m", "jade_env.cli", "evaluate", "--env", "JadeRAG-Synthetic-v0", "--agent", "vanilla-rag",
                          "--env-kwargs", json.dumps(SYN_KW), "--limit", "10", "--quiet", "--out", str(tmp_path / "ten")],
                         capture_output=True, text=True)
    compare = [sys.executable, "-m", "jade_env.cli", "compare", str(tmp_path / "ten"), str(tmp_path / "rule-planner")]
    out = subprocess.run(compare, capture_output=True, text=True)
    assert out.returncode == 2 and "made on different questions" in out.stderr and "ten: JadeRAG-Synthetic-v0, 10 questions" in out.stderr
    out = subprocess.run([*compare, "--mixed"], capture_output=True, text=True)
    assert out.returncode == 0 and "warning: the runs were made on different questions" in out.stderr and "questions" in out.stdout
    out = subprocess.run([sys.executable, "-m", "jade_env.cli", "evaluate", "--env", "JadeRAG-Synthetic-v0", "--agent", "oracle",
                          "--env-kwargs", json.dumps(SYN_KW), "--limit", "10", "--quiet", "--out", str(tmp_path / "ten")],
                         capture_output=True, text=True)  # another agent in a finished run's folder: which setting differs
    assert out.returncode == 2 and "agent: 'vanilla-rag' there, 'oracle' now" in out.stderr, out.stderr
    out = subprocess.run([sys.executable, "-m", "jade_env.cli", "evaluate", "--env", "JadeRAG-Synthetic-v0", "--agent", "oracle",
                          "--sample", "--out", str(tmp_path / "sampled")], capture_output=True, text=True)
    assert out.returncode == 2 and "--sample draws a seeded sample of --limit N questions; give --limit too" in out.stderr
    assert not (tmp_path / "sampled").exists()
    (tmp_path / "afile").write_text("")
    for plot, message in ((tmp_path / "f1.txt", "the file name must end in the figure's format, one of .eps"),
                          (tmp_path / "afile" / "f1.png", "is a file; expected a folder"),
                          (tmp_path / "ten", "the file name must end in the figure's format")):
        out = subprocess.run([*compare[:-1], "--plot", str(plot)], capture_output=True, text=True)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
        assert out.stdout == ""  # refused before the table is printed


def test_agent_plays_as_frozen_executor_too() -> None:
    import gymnasium as gym

    agent = make_agent("fixed-graph")
    env = gym.make("JadeRAG-Synthetic-Decoupled-v0", executor=agent, **SYN_KW)
    obs, _ = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(agent.act("planner", obs))
    assert terminated and info["workflow"] == "QR,R,DS,AG"
    env.close()


CLI_MISTAKES = [
    (["index", "build", "synthetic:abc"], "'synthetic:abc': expected synthetic:N[:SEED]"),
    (["index", "build", "synthetic:-5"], "'synthetic:-5': expected synthetic:N[:SEED]"),
    (["index", "build", "synthetic:50", "--out", "{file}"], "is a file; expected a folder"),
    (["index", "build", "{dir}"], "is a folder; expected a JSONL or parquet"),
    (["index", "build", "{file}"], "one.jsonl: the file is empty"),
    (["leaderboard", "render", "--db", "{dir}/lb.sqlite", "--out", "{file}"], "is a file; expected a folder"),
    (["serve-retriever", "--corpus", "synthetic:20", "--port", "99999"], "--port 99999: expected a port from 0 to 65535"),
    (["serve-retriever", "--corpus", "synthetic:20", "--max-k", "-1"], "server limit max_k=-1: expected a finite number above 0"),
    (["evaluate", "--env", "JadeRAG-Synthetic-v0", "--agent", "os:path", "--out", "{dir}/run"], "'path' is not a class"),
    (["data", "info", "hotpotqa", "--path", "{dir}/missing"], "missing: no such file"),  # a file, not an unknown dataset
]


@pytest.mark.parametrize(("argv", "message"), CLI_MISTAKES, ids=[" ".join(a[:2]) + f" {i}" for i, (a, _) in enumerate(CLI_MISTAKES)])
def test_command_line_mistakes_are_one_line_and_exit_2(tmp_path: Path, argv: list[str], message: str) -> None:
    file = tmp_path / "one.jsonl"
    file.write_text("")
    argv = [a.format(file=file, dir=tmp_path) for a in argv]
    out = subprocess.run([sys.executable, "-m", "jade_env.cli", *argv], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert file.read_text() == ""
