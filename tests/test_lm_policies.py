"""Language-model policies with a tiny random model and a tokenizer trained on the fly (no download).

These check the plumbing (chat template, batching across sub-envs, token ids and log-probabilities,
the OpenAI-compatible round trip), not answer quality: a random model writes junk, which the
environment must score as invalid outputs without crashing.
"""

from __future__ import annotations

import math
import threading

import gymnasium as gym
import pytest

import jade_env  # noqa: F401

pytest.importorskip("transformers", reason="the llm extra is not installed")
pytest.importorskip("torch", reason="the llm extra is not installed")

from baselines.policies import HFChatPolicy  # noqa: E402
from baselines.policies.chat_server import make_server  # noqa: E402
from baselines.policies.openai_chat import OpenAIChatPolicy  # noqa: E402
from baselines.policies.tiny import save_tiny_chat_model, tiny_chat_model  # noqa: E402
from jade_env.errors import JadeError  # noqa: E402

SYN = {"n": 30, "synthetic": {"seed": 2}}


@pytest.fixture(scope="module")
def tiny():
    return tiny_chat_model(seed=0)


@pytest.fixture(scope="module")
def policy(tiny) -> HFChatPolicy:
    model, tokenizer = tiny
    return HFChatPolicy(model, tokenizer, max_new_tokens=12)


def test_generate_returns_text_ids_and_logprobs(policy: HFChatPolicy) -> None:
    env = gym.make("JadeRAG-Synthetic-v0", **SYN)
    obs, _ = env.reset(seed=0)
    gen = policy.generate([obs])[0]
    assert isinstance(gen.text, str)
    assert 0 < len(gen.completion_ids) <= 12 and len(gen.logprobs) == len(gen.completion_ids)
    assert all(lp <= 0.0 and math.isfinite(lp) for lp in gen.logprobs)
    assert gen.prompt_ids == policy.prompt_ids(obs)
    text = policy.tokenizer.decode(gen.prompt_ids)
    assert "<|system|>" in text and obs["question"] in text and text.endswith("<|assistant|>")
    # greedy decoding is deterministic
    assert policy.generate([obs])[0].completion_ids == gen.completion_ids
    env.close()


def test_batched_generation_across_vector_sub_envs(policy: HFChatPolicy) -> None:
    envs = gym.make_vec("JadeRAG-Synthetic-v0", num_envs=3, vectorization_mode="vector_entry_point", **SYN)
    obs, _ = envs.reset(seed=1)
    batch = [{k: obs[k][i] for k in obs} for i in range(3)]
    gens = policy.generate(batch)
    assert len(gens) == 3
    for one, single in zip(gens, [policy.generate([b])[0] for b in batch], strict=True):
        assert one.completion_ids == single.completion_ids  # left padding does not change greedy outputs
    for _ in range(5):
        obs, rewards, terminated, truncated, infos = envs.step(policy.act_batch([{k: obs[k][i] for k in obs} for i in range(3)]))
        assert len(rewards) == 3
    envs.close()


def test_a_junk_writing_model_plays_whole_episodes(policy: HFChatPolicy) -> None:
    env = gym.make("JadeRAG-Synthetic-v0", max_steps=12, **SYN)
    for episode in range(2):
        obs, _ = env.reset(seed=episode)
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy.act(obs["role"], obs))
            done = terminated or truncated
        assert "metrics" in info and info["reward_components"]["format"] <= 0.0
    env.close()


def test_policy_refuses_roles_it_does_not_play(tiny) -> None:
    model, tokenizer = tiny
    planner_only = HFChatPolicy(model, tokenizer, roles=["planner"], max_new_tokens=4)
    with pytest.raises(ValueError, match="plays planner"):
        planner_only.act("ag", {"role": "ag", "system": "s", "user": "u"})


def test_sampling_is_seeded(tiny) -> None:
    model, tokenizer = tiny
    obs = {"role": "planner", "system": "Plan.", "user": "Question: where?"}
    a = HFChatPolicy(model, tokenizer, do_sample=True, seed=3, max_new_tokens=8).generate([obs])[0].completion_ids
    b = HFChatPolicy(model, tokenizer, do_sample=True, seed=3, max_new_tokens=8).generate([obs])[0].completion_ids
    assert a == b


def test_saved_tiny_model_loads_offline(tmp_path) -> None:
    path = save_tiny_chat_model(tmp_path / "tiny")
    loaded = HFChatPolicy.from_pretrained(str(path), max_new_tokens=4)
    assert loaded.generate([{"role": "ag", "system": "Answer.", "user": "Question: who?"}])[0].completion_ids


def test_openai_policy_against_our_loopback_server(policy: HFChatPolicy) -> None:
    server = make_server(policy, port=0, model_name="tiny")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        remote = OpenAIChatPolicy(url, model="tiny", max_tokens=12, timeout=30)
        env = gym.make("JadeRAG-Synthetic-v0", max_steps=8, **SYN)
        obs, _ = env.reset(seed=0)
        local = policy.generate([obs])[0]
        got = remote.generate([obs])[0]
        assert got.text == local.text and got.logprobs == pytest.approx(local.logprobs, abs=1e-5)
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(remote.act(obs["role"], obs))
            done = terminated or truncated
        env.close()
    finally:
        server.shutdown()


def test_openai_policy_fails_cleanly_when_nothing_listens() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    remote = OpenAIChatPolicy(f"http://127.0.0.1:{port}/v1", model="x", timeout=1, retries=1, backoff=0.05)
    with pytest.raises(JadeError, match="failed after 2 attempt"):
        remote.act("ag", {"role": "ag", "system": "s", "user": "u"})
