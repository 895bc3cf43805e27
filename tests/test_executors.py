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


JUNK = {  # path -> the reply body a misbehaving chat server sends
    "choice_str": {"choices": ["hello"]},
    "no_message": {"choices": [{}]},
    "content_number": {"choices": [{"message": {"content": 3}}]},
    "logprobs_text": {"choices": [{"message": {"content": "<answer>x</answer>"}, "logprobs": {"content": [{"logprob": "bad"}]}}]},
    "usage_text": {"choices": [{"message": {"content": "<answer>x</answer>"}}], "usage": {"completion_tokens": "many"}},
}


def test_junk_replies_and_a_trickling_server_are_one_error_naming_the_url() -> None:
    """Every field the policies read is checked (a junk reply is retried, then one JadeError), and the timeout bounds the
    whole reply: a server that sends a byte every 0.2 s used to hold a call as long as it kept sending."""
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from jade_env.executors.endpoint import ChatEndpoint

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            self.rfile.read(int(self.headers["Content-Length"]))
            mode = self.path.split("/")[1]
            body = json.dumps(JUNK.get(mode, {"choices": [{"message": {"content": "<answer>x</answer>"}}]})).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    if mode == "trickle":
                        time.sleep(0.2)
            except OSError:
                pass

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for mode in JUNK:
            with pytest.raises(JadeError, match=f"{base}/{mode}/chat/completions failed after 2 attempt\\(s\\): junk reply: "):
                ChatEndpoint(f"{base}/{mode}", timeout=5, retries=1, backoff=0.01).post({})
        started = time.monotonic()
        with pytest.raises(JadeError, match="TimeoutError: no complete reply within 1 s"):
            ChatEndpoint(f"{base}/trickle", timeout=1, retries=1, backoff=0.01).post({})
        assert time.monotonic() - started < 5
        assert ChatEndpoint(f"{base}/fine", timeout=5).post({})["choices"][0]["message"]["content"] == "<answer>x</answer>"
    finally:
        server.shutdown()
