"""The ``preset`` keyword: the paper's setting by default, the JADE authors' released code with ``authors_code``."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

import jade_env  # noqa: F401  (registers the ids)
from jade_env.roles.parsers import parse_doc_ids
from jade_env.workflow.presets import PRESETS, resolve_preset

ENV_ID = "JadeRAG-Synthetic-v0"


def play(env, top_workflow: str, *, ds_text: str = "<id>Document0</id>", seed: int = 0):
    """One episode with fixed outputs per role; returns [(role, question, depth)], the last info and the final reward."""
    obs, info = env.reset(seed=seed)
    seen, reward, done = [], 0.0, False
    while not done:
        role, fields = obs["role"], json.loads(obs["fields"])
        seen.append((role, obs["question"], fields.get("depth")))
        text = {
            "planner": f"<workflow>{top_workflow if fields.get('depth') == 0 else 'R,AG'}</workflow>",
            "qds": "<q1>Who directed the first film?</q1><q2>Where was that director born?</q2>",
            "qdp": "<q1>Who directed the first film?</q1><q2>Where was that director born?</q2>",
            "qr": "<query>rewritten search words</query>",
            "ds": ds_text,
            "ag": "<answer>Paris</answer>",
            "as": "<answer>Paris</answer>",
        }[role]
        obs, reward, terminated, truncated, info = env.step(text)
        done = terminated or truncated
    return seen, info, reward


@pytest.fixture(scope="module")
def envs():
    made = {name: gym.make(ENV_ID, n=5, preset=name) for name in PRESETS}
    yield made
    for env in made.values():
        env.close()


def test_paper_is_the_default_and_each_preset_sets_every_switch():
    assert resolve_preset("paper") == PRESETS["paper"]
    default = gym.make(ENV_ID, n=2).unwrapped.config
    paper = gym.make(ENV_ID, n=2, preset="paper").unwrapped.config
    assert default == paper
    authors = gym.make(ENV_ID, n=2, preset="authors_code").unwrapped.config
    assert (authors.few_shot, authors.rewrite_every_subquestion, authors.rewrite_replaces_question, authors.strict_doc_ids) == (True,) * 4
    assert authors.plan.sub == ("R", "DS", "AG") and authors.plan.top is None
    assert (authors.reward.format_penalty, authors.reward.placement, authors.reward.free_rounds) == (-2.0, "broadcast", 1)


def test_serial_decomposition_rewrites_every_subquestion_and_runs_r_ds_ag(envs):
    paper, _, _ = play(envs["paper"], "QDS")
    # the paper: the sub-planner plans each sub-question; QR only from the second sub-question on
    assert [r for r, _, _ in paper] == ["planner", "qds", "planner", "ag", "qr", "planner", "ag", "as"]
    authors, _, _ = play(envs["authors_code"], "QDS")
    # the released code: QR before every sub-question, then R,DS,AG with the rewritten sub-question
    assert [r for r, _, _ in authors] == ["planner", "qds", "qr", "ds", "ag", "qr", "ds", "ag", "as"]
    assert authors[2][1] == "Who directed the first film?" and authors[3][1] == "rewritten search words"


def test_a_direct_chain_asks_ds_and_ag_the_rewritten_query(envs):
    paper, _, _ = play(envs["paper"], "QR,R,DS,AG")
    authors, _, _ = play(envs["authors_code"], "QR,R,DS,AG")
    question = paper[0][1]
    assert [q for r, q, _ in paper if r in ("ds", "ag")] == [question, question]
    assert [q for r, q, _ in authors if r in ("ds", "ag")] == ["rewritten search words"] * 2


def test_an_explicit_keyword_wins_over_the_preset():
    env = gym.make(ENV_ID, n=5, preset="authors_code", rewrite_replaces_question=False, reward="jade", sub_workflow="R,AG")
    seen, info, _ = play(env, "QR,R,DS,AG")
    assert [q for r, q, _ in seen if r == "ag"] == [seen[0][1]]
    config = env.unwrapped.config
    assert config.reward.format_penalty == -1.0 and config.plan.sub == ("R", "AG") and config.rewrite_every_subquestion
    env.close()


def test_strict_doc_ids_refuse_white_space_between_ids(envs):
    spaced = "<id>Document0, Document1</id>"
    assert parse_doc_ids(spaced, n_documents=5).valid
    refused = parse_doc_ids(spaced, n_documents=5, compact=True)
    assert not refused.valid and "no spaces" in refused.message
    assert parse_doc_ids("<id>Document0,Document1</id>", n_documents=5, compact=True).value == (0, 1)
    assert parse_doc_ids("<id></id>", n_documents=5, compact=True).value == ()
    for name, invalid in (("paper", 0), ("authors_code", 1)):
        _, info, _ = play(envs[name], "R,DS,AG", ds_text=spaced)
        assert info["counters"]["invalid"]["ds"] == invalid


def test_turn_cost_counts_turns_after_the_first_as_the_released_code(envs):
    # a direct answer is one round: the paper's min(1, 3)/3, the released code's min(1 - 1, 3)/3
    _, paper, _ = play(envs["paper"], "R,AG")
    _, authors, _ = play(envs["authors_code"], "R,AG")
    assert paper["reward_components"]["rounds_cost"] == pytest.approx(1 / 3)
    assert authors["reward_components"]["rounds_cost"] == 0.0
    # two serial sub-questions: 3 rounds
    _, paper, _ = play(envs["paper"], "QDS")
    _, authors, _ = play(envs["authors_code"], "QDS")
    assert paper["counters"]["rounds"] == authors["counters"]["rounds"] == 3
    assert paper["reward_components"]["rounds_cost"] == 1.0 and authors["reward_components"]["rounds_cost"] == pytest.approx(2 / 3)


def test_the_authors_prompts_carry_worked_examples(envs):
    paper, authors = (envs[name].reset(seed=0)[0]["system"] for name in ("paper", "authors_code"))
    assert authors.startswith(paper) and len(authors) > len(paper)


def test_unknown_preset_and_bad_switch_give_one_clear_error():
    with pytest.raises(ValueError, match="preset 'authors' is unknown; expected one of paper, authors_code"):
        gym.make(ENV_ID, n=2, preset="authors")
    with pytest.raises(ValueError, match="strict_doc_ids must be True or False"):
        gym.make(ENV_ID, n=2, strict_doc_ids="yes")
    with pytest.raises(ValueError, match="free_rounds must be an integer from 0 to 3"):
        gym.make(ENV_ID, n=2, free_rounds=-1)
