"""The team env on Synthetic: the 8 workflows with exact counters and rewards, fallbacks, paradigm switches."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import jade_env  # noqa: F401  (registers the ids)
from jade_env.envs.info import INFO_KEYS, decode
from jade_env.errors import JadeError
from jade_env.roles.ids import ROLES, TOP_LEVEL_WORKFLOWS

SYN = {"n": 40, "synthetic": {"seed": 3}}


class FixedOutputs:
    """A test driver that always writes valid outputs of a fixed shape, and answers with the gold answer."""

    def __init__(self, workflow: str, sub_workflow: str = "R,AG", answer: str | None = None) -> None:
        self.workflow, self.sub_workflow, self.answer = workflow, sub_workflow, answer

    def act(self, role: str, obs: dict[str, str]) -> str:
        fields = json.loads(obs["fields"])
        if role == "planner":
            return f"<workflow>{self.workflow if fields['depth'] == 0 else self.sub_workflow}</workflow>"
        if role in ("qds", "qdp"):
            return f"<q1>First part of: {obs['question']}</q1><q2>Second part of: {obs['question']}</q2>"
        if role == "qr":
            return f"<query>{obs['question']} facts</query>"
        if role == "ds":
            return "<id>Document0</id>"
        return f"<answer>{self.answer}</answer>"


def run_episode(env: gym.Env, policy, index: int = 0, seed: int = 0) -> tuple[float, dict, list[dict]]:
    obs, info = env.reset(seed=seed, options={"index": index})
    infos = [info]
    total = 0.0
    while True:
        obs, reward, terminated, truncated, info = env.step(policy.act(obs["role"], obs))
        total += reward
        infos.append(info)
        if terminated or truncated:
            return total, info, infos


EXPECTED = {
    # workflow: (steps per role, rounds, retrieval calls)
    "AG": ({"planner": 1, "ag": 1}, 1, 0),
    "R,AG": ({"planner": 1, "ag": 1}, 1, 1),
    "R,DS,AG": ({"planner": 1, "ds": 1, "ag": 1}, 1, 1),
    "QR,AG": ({"planner": 1, "qr": 1, "ag": 1}, 1, 0),
    "QR,R,AG": ({"planner": 1, "qr": 1, "ag": 1}, 1, 1),
    "QR,R,DS,AG": ({"planner": 1, "qr": 1, "ds": 1, "ag": 1}, 1, 1),
    "QDS": ({"planner": 3, "qds": 1, "qr": 1, "ag": 2, "as": 1}, 3, 2),
    "QDP": ({"planner": 3, "qdp": 1, "ag": 2, "as": 1}, 2, 2),
}


@pytest.fixture(scope="module")
def env():
    e = gym.make("JadeRAG-Synthetic-v0", **SYN)
    yield e
    e.close()


@pytest.mark.parametrize("workflow", [",".join(w) for w in TOP_LEVEL_WORKFLOWS])
def test_each_workflow_exact_counters_and_reward(env, workflow: str) -> None:
    gold = env.unwrapped.examples[5].answers[0]
    total, info, _ = run_episode(env, FixedOutputs(workflow, answer=gold), index=5)
    steps, rounds, calls = EXPECTED[workflow]
    assert info["counters"]["steps"] == {r: steps.get(r, 0) for r in ROLES}
    assert info["counters"]["rounds"] == rounds
    assert info["counters"]["retrieval_calls"] == calls
    assert info["counters"]["invalid"] == dict.fromkeys(ROLES, 0)
    assert info["workflow"] == workflow
    assert info["prediction"] == gold
    assert info["metrics"]["f1"] == 1.0 and info["metrics"]["em"] == 1.0
    assert total == pytest.approx(1.0)
    rc = info["reward_components"]
    assert rc["rounds_cost"] == pytest.approx(min(rounds, 3) / 3)
    assert rc["retrieval_cost"] == pytest.approx(min(calls, 3) / 3)
    assert rc["format"] == 0.0
    json.dumps(info)  # the info schema is JSON-serialisable


def test_cost_weights_enter_the_global_reward() -> None:
    env = gym.make("JadeRAG-Synthetic-v0", alpha=0.3, beta=0.6, **SYN)
    gold = env.unwrapped.examples[0].answers[0]
    total, info, _ = run_episode(env, FixedOutputs("QDS", answer=gold))
    assert total == pytest.approx(1.0 - 0.3 * 3 / 3 - 0.6 * 2 / 3)
    env.close()


def test_info_has_a_fixed_schema_every_step(env) -> None:
    gold = env.unwrapped.examples[1].answers[0]
    _, final, infos = run_episode(env, FixedOutputs("QDS", answer=gold), index=1)
    shape = schema(infos[0])
    assert list(infos[0]) == list(INFO_KEYS)
    for info in infos:
        assert schema(info) == shape  # the same keys, types and nested keys at every step, the last one included
        json.dumps(info)
    assert [i["episode_end"] for i in infos] == [False] * (len(infos) - 1) + [True]
    assert final["prediction"] == gold and decode(final)["gold_answers"][0] == gold and final["metrics"]["f1"] == 1.0
    assert infos[0]["prediction"] == "" and infos[0]["metrics"]["f1"] == 0.0
    retrieved = [t for info in infos for t in decode(info)["retrieved_titles"]]
    assert retrieved, "R ran twice, so titles were retrieved"


def schema(value):
    """The shape of an info: keys and value types, recursively (dict values), JSON lists as their text type."""
    if isinstance(value, dict):
        return {k: schema(v) for k, v in value.items()}
    return type(value).__name__


def test_observation_keys_and_role_prompts(env) -> None:
    obs, info = env.reset(seed=0, options={"index": 2})
    assert set(obs) == {"role", "system", "user", "question", "fields"}
    assert obs["role"] == "planner" and "<workflow>" in obs["system"]
    assert obs["question"] == env.unwrapped.examples[2].question
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize(
    ("role_outputs", "role", "fallback_check"),
    [
        ({"planner": "no tags at all"}, "planner", lambda info: info["workflow"] == "QDS"),
        ({"qds": "<q1>x</q1><q3>y</q3>"}, "qds", lambda info: info["counters"]["steps"]["ag"] == 1),
        ({"qr": "<query></query>"}, "qr", lambda info: info["counters"]["retrieval_calls"] >= 1),
        ({"ds": "<id>Document99</id>"}, "ds", lambda info: True),
        ({"ag": "   The answer, untagged  "}, "ag", lambda info: True),
    ],
)
def test_fallbacks_penalise_and_continue(role_outputs, role, fallback_check) -> None:
    env = gym.make("JadeRAG-Synthetic-v0", **SYN)
    base = FixedOutputs("QR,R,DS,AG" if role != "qds" else "QDS", answer="x")

    class Faulty:
        def act(self, r: str, obs: dict[str, str]) -> str:
            return role_outputs.get(r, base.act(r, obs))

    total, info, infos = run_episode(env, Faulty())
    bad = [i for i in infos[1:] if i["role"] == role and not i["valid"]]
    assert bad and bad[0]["penalty"] == -1.0 and bad[0]["message"]
    assert info["counters"]["invalid"][role] >= 1
    assert info["reward_components"]["format"] <= -1.0
    assert fallback_check(info)
    env.close()


def test_planner_fallback_at_top_level_is_qds_and_sub_level_is_r_ag() -> None:
    env = gym.make("JadeRAG-Synthetic-v0", **SYN)

    class BadPlanner(FixedOutputs):
        def act(self, role, obs):
            return "junk" if role == "planner" else super().act(role, obs)

    _, info, _ = run_episode(env, BadPlanner("AG", answer="x"))
    assert info["workflow"] == "QDS"
    assert info["counters"]["invalid"]["planner"] == 3  # top level + two sub-questions
    assert info["counters"]["retrieval_calls"] == 2  # each sub-question fell back to R,AG
    env.close()


def test_ag_fallback_is_the_raw_text_stripped() -> None:
    env = gym.make("JadeRAG-Synthetic-v0", **SYN)
    gold = env.unwrapped.examples[0].answers[0]

    class Untagged(FixedOutputs):
        def act(self, role, obs):
            return f"  {gold}  " if role == "ag" else super().act(role, obs)

    total, info, _ = run_episode(env, Untagged("R,AG", answer=gold))
    assert info["prediction"] == gold and info["metrics"]["f1"] == 1.0
    assert total == pytest.approx(1.0 - 1.0)  # outcome 1, format penalty -1
    env.close()


def test_step_cap_truncates_cleanly() -> None:
    env = gym.make("JadeRAG-Synthetic-v0", max_steps=4, **SYN)
    gold = env.unwrapped.examples[0].answers[0]
    total, info, infos = run_episode(env, FixedOutputs("QDS", answer=gold))
    assert info["truncated"] is True
    assert sum(info["counters"]["steps"].values()) == 4
    assert len(infos) == 5
    env.close()


def test_step_after_end_raises_reset_needed() -> None:
    env = gym.make("JadeRAG-Synthetic-v0", **SYN)
    run_episode(env, FixedOutputs("AG", answer="x"))
    with pytest.raises(gym.error.ResetNeeded):
        env.step("<answer>again</answer>")
    env.close()


def test_static_joint_never_asks_the_planner() -> None:
    env = gym.make("JadeRAG-Synthetic-Static-v0", **SYN)
    gold = env.unwrapped.examples[0].answers[0]
    roles = []

    class Recorder(FixedOutputs):
        def act(self, role, obs):
            roles.append(role)
            return super().act(role, obs)

    _, info, _ = run_episode(env, Recorder("AG", answer=gold))
    assert roles == ["qr", "ds", "ag"]
    assert info["workflow"] == "QR,R,DS,AG" and info["counters"]["steps"]["planner"] == 0
    env.close()


def test_fixed_plans_of_both_levels_from_make() -> None:
    env = gym.make("JadeRAG-Synthetic-v0", workflow="QDS", sub_workflow="R,DS,AG", **SYN)
    gold = env.unwrapped.examples[0].answers[0]
    _, info, infos = run_episode(env, FixedOutputs("unused", answer=gold))
    roles = [i["role"] for i in infos[1:]]
    assert roles == ["qds", "ds", "ag", "qr", "ds", "ag", "as"]  # QR rewrites the second sub-question with the first answer
    assert info["workflow"] == "QDS"
    env.close()
    env = gym.make("JadeRAG-Synthetic-v0", sub_workflow="AG", **SYN)  # the planner plans the top level only
    _, info, infos = run_episode(env, FixedOutputs("QDP", answer=gold))
    assert [i["role"] for i in infos[1:]] == ["planner", "qdp", "ag", "ag", "as"]
    env.close()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"workflow": "R,QR,AG"}, "workflow='R,QR,AG' is not a valid workflow: modules out of order"),
    ({"sub_workflow": "QDS"}, "sub_workflow='QDS' is not a valid workflow: module QDS is not allowed here"),
    ({"alpha": float("nan")}, "alpha=nan must be a finite number"),
    ({"format_penalty": float("-inf")}, "format_penalty=-inf must be a finite number"),
    ({"max_text_length": 8}, "max_text_length must be an integer >= 16"),
    ({"n": 0}, "positive integer"),
    ({"synthetic": {"n": 50}, "n": 40}, "given twice"),
    ({"split": "test"}, "the Synthetic world is generated, not read: split='test' would be ignored"),  # not silently the world
    ({"sample_seed": 3}, "sample_seed=3 would be ignored"),
    ({"sample_seed": "3"}, "sample_seed must be an integer"),
    ({"dataset": "Synthetic", "split": "test"}, "split='test' would be ignored"),  # an alias is the same dataset
    ({"dataset": "syn", "sample_seed": 3}, "sample_seed=3 would be ignored"),  # not the world's seed
])
def test_nonsensical_settings_are_refused_at_make(kwargs: dict, message: str) -> None:
    with pytest.raises((ValueError, JadeError), match=message.replace("(", r"\(").replace(")", r"\)")):
        gym.make("JadeRAG-Synthetic-v0", **{**SYN, **kwargs})


def test_a_sample_seed_without_n_is_refused_for_a_file(shared_data) -> None:
    dev = shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json"
    with pytest.raises(JadeError, match="sample_seed=1 seeds a sample of n questions, but n is not given"):
        gym.make("JadeRAG-HotpotQA-v0", data_path=str(dev), sample_seed=1)
    sampled, numpy_seed, first = (gym.make("JadeRAG-HotpotQA-v0", data_path=str(dev), n=5, **seed)
                                  for seed in ({"sample_seed": 1}, {"sample_seed": np.int64(1)}, {}))
    assert len(sampled.unwrapped.examples) == 5 and sampled.unwrapped.examples != first.unwrapped.examples
    assert numpy_seed.unwrapped.examples == sampled.unwrapped.examples  # numpy's integers are integers
    for env in (sampled, numpy_seed, first):
        env.close()


def test_the_synthetic_world_size_is_one_keyword() -> None:
    env = gym.make("JadeRAG-Synthetic-v0", synthetic={"n": 50, "seed": 3})
    assert len(env.unwrapped.examples) == 50
    numpy_args = gym.make("JadeRAG-Synthetic-v0", synthetic={"n": np.int64(50), "seed": np.int64(3)})  # a sweep's values
    assert numpy_args.unwrapped.examples == env.unwrapped.examples
    env.close()
    numpy_args.close()


def test_decoupled_frozen_executors_play_inside_the_env() -> None:
    gold_by_q = {}
    executor_roles = []

    class Executors(FixedOutputs):
        def act(self, role, obs):
            executor_roles.append(role)
            return super().act(role, obs)

    env = gym.make("JadeRAG-Synthetic-Decoupled-v0", executor=Executors("AG", answer="unused"), **SYN)
    gold_by_q = env.unwrapped.examples[0].answers[0]
    obs, _ = env.reset(seed=0, options={"index": 0})
    assert obs["role"] == "planner"
    obs, reward, terminated, truncated, info = env.step("<workflow>QDP</workflow>")
    # the planner is also asked for each sub-question
    while not (terminated or truncated):
        assert obs["role"] == "planner"
        obs, reward, terminated, truncated, info = env.step("<workflow>R,AG</workflow>")
    assert executor_roles == ["qdp", "ag", "ag", "as"]
    assert info["counters"]["steps"]["planner"] == 3
    assert info["prediction"] == "unused" and gold_by_q != "unused"
    env.close()


def test_decoupled_ids_default_to_the_scripted_executors_and_unknown_ones_are_a_clear_error() -> None:
    env = gym.make("JadeRAG-Synthetic-Decoupled-v0", **SYN)
    assert env.spec.kwargs["executor"] == "scripted" and json.dumps(env.spec.kwargs)
    obs, _ = env.reset(seed=0, options={"index": 0})
    _, _, terminated, _, info = env.step("<workflow>R,DS,AG</workflow>")
    assert terminated and [s["role"] for s in decode(info)["executor_steps"]] == ["ds", "ag"]
    env.close()
    with pytest.raises(JadeError, match="executor='oracle' is unknown"):
        gym.make("JadeRAG-Synthetic-Decoupled-v0", executor="oracle", **SYN)


def test_a_raising_executor_is_an_invalid_output_not_a_crash() -> None:
    class Broken:
        def act(self, role, obs):
            raise RuntimeError("model server down")

    env = gym.make("JadeRAG-Synthetic-Decoupled-v0", executor=Broken(), **SYN)
    env.reset(seed=0)
    _, _, terminated, truncated, info = env.step("<workflow>R,DS,AG</workflow>")
    assert terminated
    assert [s["message"] for s in decode(info)["executor_steps"]][0].startswith("executor raised RuntimeError")
    env.close()


def test_same_seed_same_trajectory() -> None:
    def trajectory(seed: int) -> str:
        env = gym.make("JadeRAG-Synthetic-v0", **SYN)
        env.action_space.seed(seed)
        obs, info = env.reset(seed=seed)
        out = [json.dumps([obs, info], sort_keys=True)]
        for _ in range(30):
            action = env.action_space.sample() if len(out) % 3 else FixedOutputs("QDS", answer="x").act(obs["role"], obs)
            obs, reward, terminated, truncated, info = env.step(action)
            out.append(json.dumps([obs, reward, terminated, truncated, info], sort_keys=True))
            if terminated or truncated:
                obs, info = env.reset()
        env.close()
        return "\n".join(out)

    assert trajectory(11) == trajectory(11)
    assert trajectory(11) != trajectory(12)


def test_reset_index_out_of_range() -> None:
    env = gym.make("JadeRAG-Synthetic-v0", **SYN)
    with pytest.raises(ValueError, match="out of range"):
        env.reset(options={"index": 10_000})
    env.close()


def test_broadcast_preset_assigns_the_global_reward_to_every_transition() -> None:
    env = gym.make("JadeRAG-Synthetic-v0", reward="jade_broadcast", **SYN)
    gold = env.unwrapped.examples[0].answers[0]
    total, info, _ = run_episode(env, FixedOutputs("QDP", answer=gold))
    assert decode(info)["transition_rewards"] == [1.0] * 7
    assert decode(info)["transition_roles"] == ["planner", "qdp", "planner", "ag", "planner", "ag", "as"]
    assert total == pytest.approx(1.0)
    env.close()
