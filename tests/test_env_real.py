"""The registered envs on real files of ../shared/data, through ``data_path``, with both corpus modes."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest

import jade_env  # noqa: F401
from baselines.agents import make_agent


def play(env: gym.Env, agent, index: int) -> tuple[dict, set[str]]:
    """The final info of one episode and every title retrieved in it."""
    obs, info = env.reset(seed=0, options={"index": index})
    titles = set(json.loads(info["retrieved_titles"]))
    while True:
        obs, reward, terminated, truncated, info = env.step(agent.act(obs["role"], obs))
        titles |= set(json.loads(info["retrieved_titles"]))
        if terminated or truncated:
            return info, titles


def to_flashrag(official: Path, out: Path) -> Path:
    with out.open("w") as f:
        for r in json.loads(official.read_text()):
            f.write(json.dumps({"id": r["_id"], "question": r["question"], "golden_answers": [r["answer"]],
                                "metadata": {"type": r["type"], "context": {"title": [c[0] for c in r["context"]],
                                                                            "sentences": [c[1] for c in r["context"]]},
                                             "supporting_facts": {"title": [s[0] for s in r["supporting_facts"]],
                                                                  "sent_id": [s[1] for s in r["supporting_facts"]]}}}) + "\n")
    return out


@pytest.mark.parametrize("corpus", ["per_question", "pooled"])
@pytest.mark.parametrize("form", ["official", "flashrag"])
def test_hotpotqa_env_on_train_file_in_both_formats(shared_data: Path, tmp_path: Path, corpus: str, form: str) -> None:
    official = shared_data / "hotpotqa" / "hotpotqa_train.json"
    path = official if form == "official" else to_flashrag(official, tmp_path / "train.jsonl")
    env = gym.make("JadeRAG-HotpotQA-v0", data_path=str(path), corpus=corpus)
    base = env.unwrapped
    assert len(base.examples) == 100
    agent = make_agent("fixed-graph")
    f1 = []
    for index in range(0, 100, 10):
        info, retrieved = play(env, agent, index)
        assert info["counters"]["retrieval_calls"] == 1 and len(retrieved) >= 1
        example = base.examples[index]
        if corpus == "per_question":
            assert retrieved <= {p.title for p in example.context}
        f1.append(info["metrics"]["f1"])
        assert info["n_supporting_titles"] >= 2 and 0.0 <= info["supporting_title_recall"] <= 1.0
    assert base.retrievers.corpus_mode == corpus
    env.close()


def test_datasets_without_context_need_a_corpus(shared_data: Path) -> None:
    with pytest.raises(Exception, match=r"the questions of .*test.jsonl have no context paragraphs, so they need an external corpus"):
        gym.make("JadeRAG-NQ-v0", data_path=str(shared_data / "nq" / "test.jsonl"))
    with pytest.raises(Exception, match="per_question"):
        gym.make("JadeRAG-NQ-v0", data_path=str(shared_data / "nq" / "test.jsonl"), corpus="per_question")


def test_decoupled_hotpotqa_with_scripted_frozen_executors(shared_data: Path) -> None:
    env = gym.make("JadeRAG-HotpotQA-Decoupled-v0", data_path=str(shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json"),
                   executor=make_agent("vanilla-rag"))
    obs, _ = env.reset(seed=0, options={"index": 0})
    assert obs["role"] == "planner"
    obs, reward, terminated, truncated, info = env.step("<workflow>QDP</workflow>")
    steps = 1
    while not (terminated or truncated):
        assert obs["role"] == "planner"
        obs, reward, terminated, truncated, info = env.step("<workflow>R,AG</workflow>")
        steps += 1
    assert info["workflow"] == "QDP" and steps == 1 + info["counters"]["steps"]["ag"] - 0
    env.close()
