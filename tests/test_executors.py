"""Frozen executors as environment components: chosen by name, by endpoint spec or by object."""

from __future__ import annotations

import json
import threading

import gymnasium as gym
import pytest
from episodes import SYN, free_port

import jade_env  # noqa: F401
from jade_env.errors import JadeError
from jade_env.executors import EndpointExecutor, ScriptedTeam, make_executor


def test_names_objects_and_bad_specs() -> None:
    assert isinstance(make_executor("scripted"), ScriptedTeam)
    team = ScriptedTeam()
    assert make_executor(team) is team
    executor = make_executor("openai:http://127.0.0.1:9/v1?model=m&temperature=0.5&max_tokens=32")
    assert isinstance(executor, EndpointExecutor) and executor.temperature == 0.5 and executor.max_tokens == 32
    assert executor.endpoint.url == "http://127.0.0.1:9/v1/chat/completions"
    for spec, message in [("openai:http://h:1/v1", "names no model"), ("openai:ftp://h/v1?model=m", "expected openai:http"),
                          ("openai:http://h:1/v1?model=m&temp=1", "unknown parameter 'temp'"),
                          ("openai:http://h:1/v1?model=m&max_tokens=many", "invalid literal"), ("gpt", "is unknown"), (42, "got int")]:
        with pytest.raises(JadeError, match=message):
            make_executor(spec)
    with pytest.raises(JadeError, match="names no model"):
        gym.make("JadeRAG-Synthetic-Decoupled-v0", executor="openai:http://127.0.0.1:9/v1", **SYN)


def test_an_unreachable_endpoint_is_an_invalid_output_not_a_crash() -> None:
    env = gym.make("JadeRAG-Synthetic-Decoupled-v0", executor=f"openai:http://127.0.0.1:{free_port()}/v1?model=m&retries=0&timeout=2",
                   **SYN)
    env.reset(seed=0)
    _, _, terminated, _, info = env.step("<workflow>R,AG</workflow>")
    steps = json.loads(info["executor_steps"])
    assert terminated and [s["role"] for s in steps] == ["ag"] and not steps[0]["valid"]
    assert steps[0]["message"].startswith("executor raised JadeError: chat endpoint http://127.0.0.1:")
    env.close()


def test_a_language_model_behind_a_real_endpoint_plays_the_executors() -> None:
    pytest.importorskip("transformers", reason="the llm extra is not installed")
    from baselines.policies import HFChatPolicy
    from baselines.policies.chat_server import make_server
    from baselines.policies.tiny import tiny_chat_model

    model, tokenizer = tiny_chat_model(seed=0)
    server = make_server(HFChatPolicy(model, tokenizer, max_new_tokens=8), port=0, model_name="tiny")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        env = gym.make("JadeRAG-Synthetic-Decoupled-v0", executor=f"openai:{url}?model=tiny&max_tokens=8", **SYN)
        env.reset(seed=0)
        _, _, terminated, _, info = env.step("<workflow>QDP</workflow>")
        steps = json.loads(info["executor_steps"])
        assert steps and steps[0]["role"] == "qdp"  # the decomposer was asked through HTTP (a random model writes junk)
        assert info["counters"]["steps"]["qdp"] == 1 and not info["message"]
        env.close()
    finally:
        server.shutdown()
