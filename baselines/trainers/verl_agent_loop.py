"""verl agent loops for the JadeRAG envs: the JADE team and the monolithic search agent (Search-R1 compatible).

verl (0.9) runs an agent loop per dataset row on its rollout workers; the loop asks verl's LLM server for tokens
(``server_manager.generate``: vLLM or SGLang, token ids in, token ids and log-probabilities out) and returns one
trajectory, an ``AgentLoopOutput``: prompt ids, response ids, a response mask (1: tokens the model wrote and that
are trained; 0: the env's text) and a reward. Both loops build that trajectory with
:class:`~baselines.trainers.samples.GrowingSequence` and convert it with
:func:`~baselines.trainers.samples.agent_loop_fields`, the adapter TRL's integration uses too.

* ``jade_search_agent`` (:class:`JadeSearchAgentLoop`): the Monolithic env, as in verl's Search-R1 recipe: the
  agent writes ``<search>query</search>``, the env retrieves (give the env ``retriever="remote:URL"`` to use
  ``jade-rag serve-retriever``, the server Search-R1's retriever API is modelled on), the ``<information>`` block
  is appended with mask 0, and the agent goes on; ``<answer>`` ends the episode.
* ``jade_team_agent`` (:class:`JadeTeamAgentLoop`): the team env. verl's trajectory is one sequence, so the
  team's turns are one growing conversation: each role's prompt (its chat-templated system and user text,
  mask 0) follows the turns before it, and the role writes from that whole context (consistently: the model is
  trained on the context it was sampled from). Unlike the TRL integration, where each turn has only its own
  prompt, roles here also see the team's earlier turns. ``train_roles`` in the dataset row's ``extra_info``
  (default: every role; ``["planner"]``: the decoupled paradigm) say whose tokens get mask 1.

The reward is the env's (``info["transition_rewards"]`` summed: format penalties and the global reward), set as
``reward_score``; :mod:`baselines.trainers.verl_reward` is the same score in verl's ``compute_score`` form, for
runs that score with verl's reward manager instead. Dataset rows (:func:`baselines.trainers.verl_reward.rows`) carry
``agent_name`` and ``extra_info = {"index", "env_id", "env_kwargs", ...}``. Configuration and launch scripts:
``examples/verl/``; see docs/trainers.md.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import gymnasium as gym
from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopMetrics, AgentLoopOutput, register

import jade_env  # noqa: F401  (registers the env ids)
from baselines.policies.hf_chat import chat_messages, supports_system_role
from baselines.trainers.samples import GrowingSequence, agent_loop_fields, search_step
from jade_env.envs.info import decode

_ENVS: dict[str, list[gym.Env]] = {}  # free envs per (id, keywords), shared by the loops of one worker


def take_env(extra_info: dict[str, Any]) -> tuple[str, gym.Env]:
    """A free env for the row's ``env_id`` and ``env_kwargs`` (a dict, or JSON text as Parquet stores it)."""
    kwargs = extra_info.get("env_kwargs") or {}
    kwargs = json.loads(kwargs) if isinstance(kwargs, str) else dict(kwargs)
    key = json.dumps([extra_info["env_id"], kwargs], sort_keys=True)
    free = _ENVS.setdefault(key, [])
    return key, free.pop() if free else gym.make(extra_info["env_id"], **kwargs)


def give_env(key: str, env: gym.Env) -> None:
    _ENVS[key].append(env)


def chat_ids(tokenizer: Any, system: str, user: str, system_role: bool = True) -> list[int]:
    """A role's turn through the chat template (:func:`~baselines.policies.hf_chat.chat_messages`)."""
    return list(tokenizer.apply_chat_template(chat_messages(system, user, system_role), add_generation_prompt=True, tokenize=True,
                                              return_dict=False))


class _JadeLoop(AgentLoopBase):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.response_length = self.rollout_config.response_length
        self.system_role = supports_system_role(self.tokenizer)

    def chat_ids(self, obs: dict[str, str]) -> list[int]:
        return chat_ids(self.tokenizer, obs["system"], obs["user"], self.system_role)

    async def _generate(self, seq: GrowingSequence, sampling_params: dict[str, Any]) -> tuple[list[int], list[float], bool]:
        out = await self.server_manager.generate(request_id=uuid4().hex, prompt_ids=seq.context, sampling_params=sampling_params)
        ids = list(out.token_ids)
        ended = bool(ids) and ids[-1] == self.tokenizer.eos_token_id
        return ids, list(out.log_probs or [0.0] * len(ids)), ended

    def _output(self, seq: GrowingSequence, info: dict[str, Any], extra_info: dict[str, Any], turns: int) -> AgentLoopOutput:
        sample = seq.sample(float(sum(info["transition_rewards"])), 0, int(extra_info["index"]), turns, info["prediction"],
                            self.tokenizer.eos_token_id)
        fields = agent_loop_fields(sample, self.response_length)
        fields["extra_fields"].update({"f1": float(info["metrics"]["f1"]), "workflow": info["workflow"]})
        return AgentLoopOutput(**fields, metrics=AgentLoopMetrics())


@register("jade_search_agent")
class JadeSearchAgentLoop(_JadeLoop):
    """The monolithic search agent (Search-R1): one growing sequence, ``<information>`` blocks masked."""

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        extra_info = dict(kwargs["extra_info"])
        key, env = take_env(extra_info)
        try:
            obs, _ = env.reset(options={"index": int(extra_info["index"])})
            seq, users, turns, final = GrowingSequence(self.chat_ids(obs)), {0: obs["user"]}, 0, None
            while final is None:
                ids, logprobs, ended = await self._generate(seq, sampling_params)
                gains, final = search_step(env, users, 0, self.tokenizer, ids, logprobs, ended)
                turns += 1
                seq.add_model(*gains[0])
                for env_ids in gains[1:]:
                    seq.add_env(env_ids)
            return self._output(seq, final, extra_info, turns)
        finally:
            give_env(key, env)


@register("jade_team_agent")
class JadeTeamAgentLoop(_JadeLoop):
    """The JADE team as one growing conversation: each role's prompt (mask 0), then its output (mask 1 when trained)."""

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        extra_info = dict(kwargs["extra_info"])
        train_roles = extra_info.get("train_roles")
        key, env = take_env(extra_info)
        try:
            obs, _ = env.reset(options={"index": int(extra_info["index"])})
            seq, turns = GrowingSequence(self.chat_ids(obs)), 0
            while True:
                role = obs["role"]
                ids, logprobs, _ = await self._generate(seq, sampling_params)
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                seq.add_model(ids, logprobs, trained=not train_roles or role in train_roles)
                obs, _, terminated, truncated, info = env.step(text)
                turns += 1
                if terminated or truncated:
                    return self._output(seq, decode(info), extra_info, turns)
                seq.add_env(self.chat_ids(obs))
        finally:
            give_env(key, env)
