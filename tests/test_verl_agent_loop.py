"""verl integration (baselines.trainers.verl_*): the reward in verl's form, and, where verl is installed, the
trajectory conversion against verl's own classes and the example config through verl's config loader.

verl 0.9.1 pins transformers<5.11, older than this project's venv, so it lives in its own venv; the tests that
need it are skipped where it is absent (``pip install verl==0.9.1`` in a separate venv, then run this file there).
"""

from pathlib import Path

import gymnasium as gym
import pytest

import jade_env  # noqa: F401
from baselines.trainers.samples import agent_loop_fields, env_copies, group_questions, play_search_episodes
from baselines.trainers.verl_reward import compute_score, rows

ROOT = Path(__file__).resolve().parents[1]


def test_compute_score_reads_the_last_answer_in_verls_form() -> None:
    gold = {"target": ["Paris", "City of Paris"]}
    assert compute_score("jade_env/x", "<search>q</search><information>..</information><answer>paris</answer>", gold) == 1.0
    assert compute_score("jade_env/x", "<answer>Lyon</answer> then <answer>the city of Paris</answer>", gold) == 1.0
    assert compute_score("jade_env/x", "no answer here", gold) == 0.0
    assert 0.0 < compute_score("jade_env/x", "<answer>Paris France</answer>", ["Paris"], {"outcome": "f1"}) < 1.0
    with pytest.raises(ValueError, match="outcome"):
        compute_score("jade_env/x", "<answer>a</answer>", ["a"], {"outcome": "bleu"})


def test_rows_carry_the_env_and_the_question() -> None:
    env = gym.make("JadeRAG-Synthetic-Monolithic-v0", n=5, synthetic={"seed": 0})
    records = rows(env, "JadeRAG-Synthetic-Monolithic-v0", {"n": 5, "synthetic": {"seed": 0}}, "jade_search_agent")
    assert [r["extra_info"]["index"] for r in records] == list(range(5))
    assert records[2]["reward_model"]["ground_truth"]["target"] == list(env.unwrapped.examples[2].answers)


@pytest.fixture(scope="module")
def verl():
    return pytest.importorskip("verl", reason="verl is not installed here (it needs its own venv: transformers<5.11)")


def test_sequences_convert_to_verls_agent_loop_output_and_data_proto(verl) -> None:
    import torch
    from verl import DataProto
    from verl.experimental.agent_loop.agent_loop import AgentLoopMetrics, AgentLoopOutput

    from baselines.policies import HFChatPolicy
    from baselines.policies.tiny import tiny_chat_model

    model, tokenizer = tiny_chat_model()
    policy = HFChatPolicy(model, tokenizer, do_sample=True, seed=0, constrain=False)
    env = gym.make("JadeRAG-Synthetic-Monolithic-v0", n=10, synthetic={"seed": 0}, beta=0.5)
    played = play_search_episodes(env_copies(env, 3), policy, group_questions([1], 3), max_new_tokens=16, constrain=False)
    outputs = []
    for episode in played:
        sample = episode.samples[0]
        out = AgentLoopOutput(**agent_loop_fields(sample), metrics=AgentLoopMetrics())
        d = out.as_dict()
        assert d["prompts"].tolist() == sample.prompt_ids and d["responses"].tolist() == sample.completion_ids
        assert d["response_mask"].tolist() == sample.completion_mask and d["response_mask"].shape == d["responses"].shape
        assert d["rm_scores"][-1].item() == pytest.approx(sample.reward) and d["rm_scores"][:-1].abs().sum() == 0
        assert d["rollout_log_probs"].shape == d["responses"].shape
        outputs.append(d)
    # env tokens are masked: a search turn's <information> block is in the response with mask 0
    searched = [(o, e) for o, e in zip(outputs, played, strict=True) if e.info["counters"]["retrieval_calls"] > 0]
    for o, _ in searched:
        masked = [t for t, m in zip(o["responses"].tolist(), o["response_mask"].tolist(), strict=True) if not m]
        assert "<information>" in tokenizer.decode(masked)
    width = max(o["responses"].shape[0] for o in outputs)
    batch = DataProto.from_dict(tensors={
        "responses": torch.stack([torch.nn.functional.pad(o["responses"], (0, width - o["responses"].shape[0])) for o in outputs]),
        "response_mask": torch.stack([torch.nn.functional.pad(o["response_mask"], (0, width - o["response_mask"].shape[0]))
                                      for o in outputs]),
    }, non_tensors={"uid": [str(e.question_index) for e in played]})
    assert len(batch) == 3 and batch.batch["response_mask"].sum() == sum(sum(e.samples[0].completion_mask) for e in played)


def test_the_example_config_passes_verls_loader_and_names_our_agent_loops(verl) -> None:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf
    from verl.experimental.agent_loop.agent_loop import AgentLoopBase
    from verl.utils.config import validate_config

    with initialize_config_dir(config_dir=str(ROOT / "examples" / "verl"), version_base=None):
        config = compose(config_name="jade_grpo")
    assert config.algorithm.adv_estimator == "grpo" and config.actor_rollout_ref.rollout.n == 5
    validate_config(config, use_reference_policy=True, use_critic=False)
    loops = OmegaConf.load(ROOT / config.actor_rollout_ref.rollout.agent.agent_loop_config_path)
    from hydra.utils import get_class

    names = {loop.name: get_class(loop._target_) for loop in loops}
    assert set(names) == {"jade_team_agent", "jade_search_agent"}
    assert all(issubclass(cls, AgentLoopBase) for cls in names.values())
    assert config.actor_rollout_ref.rollout.agent.default_agent_loop in names
