"""API conformance on real files: check_env on every registered id, PettingZoo's three tests on every dataset, replay, fuzz."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pettingzoo.test import api_test, parallel_api_test, seed_test

import jade_env
from jade_env.registration import registered_ids
from jade_env.wrappers import RecordTrajectories, read_trajectories, replay

SYN = {"n": 30, "synthetic": {"seed": 5}}


class AlwaysRAG:
    def act(self, role: str, obs: dict[str, str]) -> str:
        return {"planner": "<workflow>R,AG</workflow>"}.get(role, "<answer>unknown</answer>")


def real_kwargs(dataset: str, shared_data: Path, tmp_path: Path) -> dict:
    """make() keywords that give every registered dataset real questions and a corpus, from ../shared/data."""
    d = shared_data
    small_corpus = tmp_path / "corpus.jsonl"
    if not small_corpus.exists():
        titles = json.loads((d / "hotpotqa" / "hotpotqa_train_corpus.json").read_text())
        with small_corpus.open("w") as f:
            for i, (title, sents) in enumerate(list(titles.items())[:300]):
                f.write(json.dumps({"id": f"c{i}", "contents": f"{title}\n{''.join(sents)}"}) + "\n")
    ambig = tmp_path / "ambigqa.jsonl"
    if not ambig.exists():  # AmbigQA has no file in ../shared/data: a two-line file in its FlashRAG form
        ambig.write_text('{"id": "a1", "question": "Who wrote the play Hamlet?", "golden_answers": ["William Shakespeare"]}\n'
                         '{"id": "a2", "question": "When did the Berlin Wall fall?", "golden_answers": ["1989", "9 November 1989"]}\n')
    table = {
        "hotpotqa": {"data_path": str(d / "hotpotqa" / "hotpot_dev_distractor_v1_100.json"), "n": 20},
        "2wikimultihopqa": {"data_path": str(d / "2wikimultihopqa" / "2wikimultihopqa_dev_first100.jsonl"), "n": 20},
        "musique": {"data_path": str(d / "musique" / "musique_dev_first100.jsonl"), "n": 20},
        "bamboogle": {"data_path": str(d / "bamboogle" / "bamboogle.jsonl"), "corpus": str(small_corpus)},
        "nq": {"data_path": str(d / "nq" / "test.jsonl"), "corpus": str(small_corpus)},
        "popqa": {"data_path": str(d / "multi_deepresearcher" / "dev.jsonl"), "n": 20, "corpus": str(small_corpus)},
        "ambigqa": {"data_path": str(ambig), "corpus": str(small_corpus)},
        "triviaqa": {"data_path": str(d / "multi_deepresearcher" / "dev.jsonl"), "n": 20, "corpus": str(small_corpus)},
        "synthetic": SYN,
    }
    return table[dataset]


@pytest.mark.parametrize(("env_id", "entry", "paradigm", "defaults"), registered_ids(), ids=[r[0] for r in registered_ids()])
def test_check_env_on_every_registered_id(env_id, entry, paradigm, defaults, shared_data: Path, tmp_path_factory) -> None:
    tmp = tmp_path_factory.mktemp(entry.dataset)
    kwargs = real_kwargs(entry.dataset, shared_data, tmp)  # a data file (and a corpus where needed), nothing else
    env = gym.make(env_id, **kwargs)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    env.close()


DATASETS = sorted({entry.dataset for _, entry, _, _ in registered_ids()})


@pytest.mark.parametrize("dataset", DATASETS)
def test_pettingzoo_api_parallel_and_seed_tests_on_every_dataset(dataset: str, shared_data: Path, tmp_path: Path) -> None:
    kwargs = real_kwargs(dataset, shared_data, tmp_path)
    api_test(jade_env.team_env(dataset, **kwargs), num_cycles=60)
    seed_test(lambda: jade_env.team_env(dataset, **kwargs), num_cycles=60)
    parallel_api_test(jade_env.team_parallel_env(dataset, **kwargs), num_cycles=60)
    from jade_env import team_v0

    api_test(team_v0.env(dataset, **kwargs), num_cycles=20)


def test_pettingzoo_rewards_penalty_to_the_erring_agent_and_global_to_all() -> None:
    env = jade_env.team_env("synthetic", **SYN)
    env.reset(seed=0, options={"index": 0})
    gold = env.env.examples[0].answers[0]
    outputs = {"planner": "<workflow>R,DS,AG</workflow>", "ds": "bad ids", "ag": f"<answer>{gold}</answer>"}
    totals = dict.fromkeys(env.possible_agents, 0.0)
    for agent in env.agent_iter(max_iter=50):
        obs, reward, terminated, truncated, info = env.last()
        totals[agent] += reward
        env.step(None if terminated or truncated else outputs[agent])
    assert totals["ds"] == pytest.approx(-1.0 + 1.0)  # its format penalty, then the global reward
    assert totals["planner"] == pytest.approx(1.0) and totals["qdp"] == pytest.approx(1.0)


def test_pettingzoo_raw_env_says_what_is_wrong() -> None:
    """The unwrapped AEC env (``jade_env.team_env``) refuses the Gymnasium env's executor keywords, and a step or an
    observation with no live agent (before reset, after every agent of an ended episode was stepped out) is ResetNeeded."""
    from gymnasium.error import ResetNeeded

    for bad in ({"controlled_roles": ["planner"]}, {"executor": "scripted"}):
        with pytest.raises(ValueError, match="is not a keyword of the PettingZoo team env: every role is an agent"):
            jade_env.team_env("synthetic", **SYN, **bad)
        with pytest.raises(ValueError, match="is not a keyword of the PettingZoo team env"):
            jade_env.team_parallel_env("synthetic", **SYN, **bad)
    env = jade_env.team_env("synthetic", **SYN)
    for call in (lambda: env.step("<workflow>R,AG</workflow>"), lambda: env.observe("planner"), env.last):
        with pytest.raises(ResetNeeded, match="reset"):
            call()
    env.reset(seed=0)
    for agent in env.agent_iter(max_iter=100):
        _, _, terminated, truncated, _ = env.last()
        env.step(None if terminated or truncated else "<answer>x</answer>" if agent == "ag" else "<workflow>R,AG</workflow>")
    assert env.agents == []
    with pytest.raises(ResetNeeded, match="no agent is left to step"):
        env.step("<answer>x</answer>")
    env.reset(seed=1)
    assert env.agent_selection == "planner"


def test_record_and_replay(tmp_path: Path) -> None:
    path = tmp_path / "traj.jsonl"
    env = RecordTrajectories(gym.make("JadeRAG-Synthetic-v0", **SYN), path)
    env.action_space.seed(0)
    for episode in range(3):
        obs, info = env.reset(seed=episode)
        done = False
        while not done:
            action = env.action_space.sample() if obs["role"] == "qds" else AlwaysRAG().act(obs["role"], obs)
            obs, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
    env.close()
    records = read_trajectories(path)
    assert len(records) == 3
    for record in records:
        final = replay(record)
        assert final["prediction"] == record["prediction"]
        assert final["metrics"] == record["metrics"]
        assert final["counters"] == record["counters"]
        assert final["return"] == pytest.approx(record["return"])


ACTIONS = st.one_of(
    st.text(max_size=200),
    st.just(""),
    st.just("x" * 1_000_000),
    st.builds(lambda s: f"<workflow>{s}</workflow>", st.text(max_size=30)),
    st.builds(lambda s: f"<answer><answer>{s}</answer>", st.text(max_size=30)),
    st.builds(lambda n: "".join(f"<q{i}>s{i}?</q{i}>" for i in range(1, n + 1)), st.integers(0, 50)),
    st.builds(lambda n: f"<id>Document{n}</id>", st.integers(-5, 10**6)),
    st.sampled_from(["<workflow>QDS</workflow>", "<workflow>QDP</workflow>", "<workflow>QR,R,DS,AG</workflow>",
                     "<query>", "</answer>", "<q1><q1>a</q1></q1>", "\x00\x01\x02", "🙂" * 50]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ACTIONS, min_size=1, max_size=60), st.integers(0, 2**16))
def test_fuzzed_actions_never_raise(actions: list[str], seed: int) -> None:
    env = fuzz_env()
    obs, info = env.reset(seed=seed)
    steps = 0
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        steps += 1
        assert env.observation_space.contains(obs)
        if not info["valid"]:
            assert info["message"] and info["penalty"] < 0
        if terminated or truncated:
            assert steps <= env.unwrapped.config.max_steps
            obs, info = env.reset()
            steps = 0


_FUZZ: list[gym.Env] = []


def fuzz_env() -> gym.Env:
    """One env for every hypothesis example (building it per example would dominate the run time)."""
    if not _FUZZ:
        _FUZZ.append(gym.make("JadeRAG-Synthetic-v0", **SYN))
    return _FUZZ[0]
