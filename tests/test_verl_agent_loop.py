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


class TransformersTokenServer:
    """Stands in for verl's vLLM/SGLang server on a CPU: token ids in, token ids and log-probs out (transformers).

    ``grammar``: every output constrained to it, as a vLLM server with structured outputs would.
    """

    def __init__(self, policy, max_new_tokens: int, grammar: str | None = None) -> None:
        self.policy, self.max_new_tokens, self.grammar, self.calls = policy, max_new_tokens, grammar, 0

    async def generate(self, request_id, *, prompt_ids, sampling_params, **kwargs):
        from verl.workers.rollout.replica import TokenOutput

        self.calls += 1
        grammars = [self.grammar] if self.grammar else None
        (ids, logprobs, _), = self.policy.complete([list(prompt_ids)], self.max_new_tokens, grammars=grammars)
        return TokenOutput(token_ids=ids, log_probs=logprobs)


@pytest.mark.parametrize("loop_name, env_id", [("jade_search_agent", "JadeRAG-Synthetic-Monolithic-v0"),
                                               ("jade_team_agent", "JadeRAG-Synthetic-v0")])
def test_the_agent_loops_run_episodes_into_agent_loop_outputs(verl, loop_name: str, env_id: str) -> None:
    import asyncio

    from hydra import compose, initialize_config_dir
    from verl.experimental.agent_loop.agent_loop import AgentLoopOutput, DictConfigWrap, _agent_loop_registry

    import baselines.trainers.verl_agent_loop  # noqa: F401  (registers the loops)
    from baselines.policies import HFChatPolicy
    from baselines.policies.tiny import tiny_chat_model

    with initialize_config_dir(config_dir=str(ROOT / "examples" / "verl"), version_base=None):
        config = compose(config_name="jade_grpo", overrides=["data.max_response_length=4096"])
    model, tokenizer = tiny_chat_model()
    from jade_env.roles.grammars import search_turn_grammar

    pytest.importorskip("xgrammar", reason="the monolithic agent's turns are constrained with xgrammar")
    grammar = search_turn_grammar().gbnf if loop_name == "jade_search_agent" else None
    server = TransformersTokenServer(HFChatPolicy(model, tokenizer, do_sample=True, seed=0, constrain=False), 12, grammar)
    cls = verl_class(_agent_loop_registry[loop_name]["_target_"])
    loop = cls(trainer_config=DictConfigWrap(config), server_manager=server, tokenizer=tokenizer, processor=None,
               dataset_cls=None, data_config=DictConfigWrap(config.data))
    kwargs = {"n": 10, "synthetic": {"seed": 0}, "max_steps": 6} if "Monolithic" not in env_id else {"n": 10, "synthetic": {"seed": 0}}
    env = gym.make(env_id, **kwargs)
    env_texts = []
    for row in rows(env, env_id, kwargs, loop_name, ["planner"] if loop_name == "jade_team_agent" else None)[:4]:
        calls = server.calls
        out = asyncio.run(loop.run({"temperature": 1.0}, **row))
        assert isinstance(out, AgentLoopOutput) and server.calls - calls == out.num_turns // 2 >= 1
        assert len(out.response_ids) == len(out.response_mask) == len(out.response_logprobs)
        assert out.extra_fields["question_index"] == row["extra_info"]["index"]
        assert out.as_dict()["rm_scores"][-1].item() == pytest.approx(out.reward_score)
        env_texts.append(tokenizer.decode([t for t, m in zip(out.response_ids, out.response_mask, strict=True) if not m]))
    # env tokens, mask 0: the documents of a search, or the next role's prompt
    assert any(("<information>" in t) if loop_name == "jade_search_agent" else ("<|system|>" in t) for t in env_texts)


def verl_class(target: str):
    from hydra.utils import get_class

    return get_class(target)
