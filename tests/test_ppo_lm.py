"""Token-level PPO for language-model teams (baselines/ppo_lm.py), its SFT warm start and the GPU recipe, on a tiny random model.

The tiny model (baselines/policies/tiny.py: two layers, a tokenizer trained on the fly) runs on Synthetic
with short token budgets, so every test here takes seconds on one core.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the llm extra is not installed")
pytest.importorskip("xgrammar", reason="the llm extra is not installed (xgrammar)")

import torch  # noqa: E402

from baselines.lm_forward import completion_forward  # noqa: E402
from baselines.policies import HFChatPolicy  # noqa: E402
from baselines.policies.tiny import tiny_chat_model  # noqa: E402
from baselines.ppo_lm import Args, Transition, advantages, check, k3, train, training_sequence  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = {"qds": 24, "qdp": 24, "qr": 12, "ds": 12, "ag": 12, "as": 12}
SMALL = {"train_questions": 8, "eval_questions": 0, "num_envs": 2, "updates": 1, "max_new_tokens": BUDGETS, "threads": 1}


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread (what the trainer's ``threads=1`` sets), restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_ratio_is_exactly_one_and_nothing_clipped_at_identical_weights(tmp_path: Path) -> None:
    # lr 0: every minibatch of every epoch is scored at the weights the old log-probs and values came from
    result = train(Args(lr=0.0, value_lr=0.0, epochs=2, minibatch_size=2, kl_coef=0.1, out=str(tmp_path / "r"), **SMALL))
    row = result.history[0]
    assert row["transitions"] >= 2
    assert row["ratio"] == 1.0 and row["clip_frac"] == 0.0 and row["approx_kl"] == 0.0 and row["kl_ref"] == 0.0
    # the generation's own log-probs (after the grammar's mask) are not the plain model's: training on them gave ratios != 1
    model, tokenizer = tiny_chat_model(seed=0)
    policy = HFChatPolicy(model, tokenizer, do_sample=True, seed=0, max_new_tokens=BUDGETS)
    obs = {"role": "ag", "system": "Answer.", "user": "Question: Who directed The Last Voyage?", "fields": "{}"}
    gen = policy.generate([obs])[0]
    with torch.no_grad():
        plain = completion_forward(model, [gen.prompt_ids], [gen.completion_ids], tokenizer.pad_token_id).logprobs
    assert not np.allclose(plain.numpy(), np.array(gen.logprobs), atol=1e-4)
    header = (tmp_path / "r" / "metrics.csv").read_text().splitlines()[0].split(",")
    for column in ("ratio", "clip_frac", "approx_kl", "value_loss", "f1", "invalid_planner", "invalid_ag"):
        assert column in header


def test_seeded_policy_gives_two_samples_for_one_prompt_and_the_same_run_for_the_same_seed(tmp_path: Path) -> None:
    model, tokenizer = tiny_chat_model(seed=0)
    obs = {"role": "ag", "system": "Answer.", "user": "Question: Who directed The Last Voyage?", "fields": "{}"}

    def two_samples(seed: int) -> list[list[int]]:
        policy = HFChatPolicy(model, tokenizer, do_sample=True, seed=seed, constrain=False, max_new_tokens=16)
        return [policy.generate([obs])[0].completion_ids for _ in range(2)]

    first, second = two_samples(7)
    assert first != second  # one generator, seeded once: the same prompt twice gives two samples
    assert two_samples(7) == [first, second]  # and the same seed the same sequence of samples
    runs = [train(Args(constrain=False, out=str(tmp_path / f"run{i}"), **{**SMALL, "updates": 2})).history for i in range(2)]
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(runs[0]) == drop(runs[1])


def test_k3_estimator_value_and_gradient_on_a_known_case() -> None:
    theta = torch.tensor([0.3, -1.2, 0.8, 0.0], dtype=torch.float64, requires_grad=True)
    ref = torch.log_softmax(torch.tensor([-0.5, 0.4, 0.1, 1.0], dtype=torch.float64), dim=0)
    logp = torch.log_softmax(theta, dim=0)
    p, q = logp.exp(), ref.exp()
    # unbiased: its expectation over tokens drawn from the policy is KL(policy || reference), exactly
    expected = (p.detach() * k3(logp, ref)).sum()
    assert torch.allclose(expected, (p * (logp - ref)).sum())
    assert (k3(logp, ref) >= 0).all() and k3(ref, ref).abs().max() == 0
    # as a loss on sampled tokens, its expected gradient is that of KL(reference || policy)
    (grad,) = torch.autograd.grad(expected, theta, retain_graph=True)
    reverse = (q * (ref - logp)).sum()
    (reverse_grad,) = torch.autograd.grad(reverse, theta, retain_graph=True)
    assert torch.allclose(grad, reverse_grad)
    # the old estimator (logp - ref on sampled tokens) has zero expected gradient
    (k1_grad,) = torch.autograd.grad((p.detach() * (logp - ref)).sum(), theta)
    assert torch.allclose(k1_grad, torch.zeros(4, dtype=torch.float64))


def _episode() -> list[Transition]:
    steps = [("planner", 2, 0.0, True), ("qr", 3, -1.0, False), ("ag", 2, 1.0, True)]
    episode = [Transition([1], list(range(n)), role, trained, reward) for role, n, reward, trained in steps]
    for t in episode:
        t.values = np.zeros(len(t.completion_ids))
    return episode


def test_paper_scheme_gae_over_the_flattened_sequence_and_authors_code_within_each_transition() -> None:
    sequence = training_sequence(_episode(), "paper")  # the untrained QR step's reward goes to the planner turn before it
    assert [t.role for t in sequence] == ["planner", "ag"] and [t.reward for t in sequence] == [-1.0, 1.0]
    advantages(sequence, "paper", gamma=1.0, lam=1.0)
    assert np.allclose(np.concatenate([t.advantages for t in sequence]), [0.0, 0.0, 1.0, 1.0])  # reward-to-go, values 0
    advantages(sequence, "paper", gamma=1.0, lam=0.5)
    assert np.allclose(np.concatenate([t.advantages for t in sequence]), [-0.375, -0.75, 0.5, 1.0])
    sequence = training_sequence(_episode(), "authors_code")
    assert [t.reward for t in sequence] == [0.0, 1.0]
    sequence[1].values = np.array([0.25, 0.5])
    advantages(sequence, "authors_code", gamma=0.9, lam=0.9)  # gamma and lambda are 1 whatever is passed
    assert np.allclose(sequence[1].advantages, [0.75, 0.5]) and np.allclose(sequence[1].returns, [1.0, 1.0])
    assert np.allclose(sequence[0].advantages, [0.0, 0.0])


def test_decoupled_mode_leaves_the_executor_weights_bit_identical(tmp_path: Path) -> None:
    start = weights(tiny_chat_model(seed=0)[0])
    result = train(Args(mode="decoupled", constrain=False, lr=1e-3, epochs=2, out=str(tmp_path / "dec"), **SMALL))
    assert result.history[0]["transitions"] >= 1
    assert all(torch.equal(start[k], v) for k, v in result.base.state_dict().items())  # the executors never moved
    assert any(not torch.equal(start[k], v) for k, v in result.model.state_dict().items())  # the planner's model did
    joint = train(Args(mode="joint", constrain=False, out=str(tmp_path / "joint"), **SMALL))
    assert joint.base is None and joint.history[0]["transitions"] > result.history[0]["transitions"]


def test_sft_export_loads_with_datasets_and_the_warm_start_lowers_the_loss(tmp_path: Path) -> None:
    from baselines.sft import sft_sequences, supervised_finetune
    from baselines.sft_dataset import export_sft_dataset, read_sft_dataset

    summary = export_sft_dataset("JadeRAG-Synthetic-v0", "rule-planner", tmp_path / "sft.jsonl", range(4),
                                 {"n": 8, "synthetic": {"seed": 0}, "max_steps": 12})
    assert summary["examples"] >= 8 and summary["agent_f1"] > 0.5
    rows = read_sft_dataset(tmp_path / "sft.jsonl")
    assert {r["team_role"] for r in rows} >= {"planner", "ag"}
    datasets = pytest.importorskip("datasets", reason="datasets is not installed")
    loaded = datasets.load_dataset("json", data_files=str(tmp_path / "sft.jsonl"), split="train", cache_dir=str(tmp_path / "cache"))
    assert len(loaded) == len(rows) and loaded[0]["prompt"][0]["role"] == "system"
    model, tokenizer = tiny_chat_model(seed=0)
    policy = HFChatPolicy(model, tokenizer)
    sequences, skipped = sft_sequences(policy, rows)
    assert skipped == 0 and all(c[-1] == tokenizer.eos_token_id for _, c in sequences)
    losses = supervised_finetune(model, policy, rows, steps=6, lr=3e-3, batch_size=len(rows))
    assert losses[-1] < losses[0] - 0.5


def test_bad_options_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--scheme 'paperz' is unknown; expected one of paper, authors_code"):
        check(Args(scheme="paperz"))
    with pytest.raises(ValueError, match="--mode 'both' is unknown"):
        check(Args(mode="both"))
    with pytest.raises(ValueError, match="--sft-steps needs --sft-data"):
        check(Args(sft_steps=3))
    from baselines.sft_dataset import read_sft_dataset
    from jade_env.errors import DataFormatError

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": []}\n')
    with pytest.raises(DataFormatError, match="bad.jsonl: example 1: missing completion, team_role"):
        read_sft_dataset(bad)


def _recipe_module():
    """benchmarks/lm_ppo_recipe.py, imported from its file (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("lm_ppo_recipe", ROOT / "benchmarks" / "lm_ppo_recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gpu_recipe_runs_at_tiny_size_on_cpu(tmp_path: Path) -> None:
    module = _recipe_module()
    module.recipe("tiny", tmp_path)  # what `python benchmarks/lm_ppo_recipe.py --size tiny` runs, in this process
    table = json.loads((tmp_path / "table.json").read_text())
    assert [r["mode"] for r in table["rows"]] == ["joint", "decoupled"]
    assert all(r["f1_after"] is not None for r in table["rows"])
    assert "| decoupled |" in (tmp_path / "table.md").read_text()
    for mode in ("joint", "decoupled"):
        assert (tmp_path / mode / "metrics.csv").exists() and (tmp_path / mode / "eval.json").exists()


def test_the_gpu_recipe_runs_the_authors_code_setting_at_tiny_size(tmp_path: Path) -> None:
    _recipe_module().recipe("tiny", tmp_path, setting="authors_code")
    table = json.loads((tmp_path / "table.json").read_text())
    assert table["setting"] == "authors_code" and all(r["f1_after"] is not None for r in table["rows"])
    config = json.loads((tmp_path / "joint" / "config.json").read_text())
    assert config["scheme"] == "authors_code" and config["env_kwargs"]["preset"] == "authors_code"


def test_recorded_trajectories_hold_every_prompt_and_export_as_the_sft_dataset(tmp_path: Path) -> None:
    """A run folder's trajectories.jsonl is a chat dataset without a replay: the same examples as playing the agent again."""
    from baselines.evaluate import evaluate
    from baselines.sft_dataset import export_from_trajectories, export_sft_dataset, read_sft_dataset

    kwargs = {"n": 30, "synthetic": {"seed": 3}}
    evaluate("JadeRAG-Synthetic-v0", "rule-planner", tmp_path / "run", env_kwargs=kwargs, limit=6, progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "trajectories.jsonl").read_text().splitlines()]
    assert all(step["user"] and "system" in step for r in records for step in r["steps"])
    export_from_trajectories(tmp_path / "run" / "trajectories.jsonl", tmp_path / "from_run.jsonl")
    export_sft_dataset("JadeRAG-Synthetic-v0", "rule-planner", tmp_path / "played.jsonl", range(6), env_kwargs=kwargs)
    keys = ("team_role", "prompt", "completion", "question_id", "valid", "f1")
    recorded = [tuple(json.dumps(e[k]) for k in keys) for e in read_sft_dataset(tmp_path / "from_run.jsonl")]
    played = [tuple(json.dumps(e[k]) for k in keys) for e in read_sft_dataset(tmp_path / "played.jsonl")]
    assert recorded == played and len(recorded) >= 12
