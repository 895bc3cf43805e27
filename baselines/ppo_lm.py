"""Token-level PPO for a language-model team: one shared model plays every role (JADE's shared backbone).

    python -m baselines.ppo_lm --model PATH_OR_HUB_ID --env JadeRAG-Synthetic-v0 --updates 100 --out runs/ppo-lm

One file, top to bottom, in the CleanRL manner. Rollouts: the model (through ``HFChatPolicy``, sampling)
plays whole episodes; every agent step of every role is one transition in one buffer: its prompt
ids, completion ids and the log-probabilities it was sampled with. Rewards: the env's
``info["transition_rewards"]`` (format penalty of the step, plus the global reward on the last step
with ``placement="terminal"`` or on every step with ``"broadcast"``), placed on the last token of each
transition. Advantages: GAE over the tokens of the whole episode (transitions in order, so a role's
credit flows back to the roles that acted before it), values from a value head on the last hidden
state. Update: clipped surrogate, clipped value loss, and optionally a KL penalty to a frozen reference
copy of the model. On a GPU the same file runs a real model unchanged:

    python -m baselines.ppo_lm --model Qwen/Qwen2.5-0.5B-Instruct --device cuda --updates 200 --episodes-per-update 32

(documented, not run here: this machine has no GPU). Tests run two updates of a tiny random model.
"""

from __future__ import annotations

import argparse
import copy
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import jade_env  # noqa: F401
from baselines.policies import HFChatPolicy


@dataclass
class Args:
    model: str = "tiny"  # a model folder, a hub id, or "tiny" (random, tokenizer trained on the fly)
    env: str = "JadeRAG-Synthetic-v0"
    env_kwargs: dict = field(default_factory=lambda: {"n": 200, "synthetic": {"seed": 0}, "max_steps": 12})
    updates: int = 2
    episodes_per_update: int = 4
    epochs: int = 2
    lr: float = 1e-5
    clip: float = 0.2
    value_coef: float = 0.5
    kl_coef: float = 0.0  # > 0 keeps a frozen reference copy and penalises the KL to it
    gamma: float = 1.0
    lam: float = 0.95
    max_new_tokens: int = 24
    seed: int = 0
    device: str = "cpu"
    out: str = "runs/ppo-lm"


@dataclass
class Transition:
    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float]
    role: str
    reward: float = 0.0
    values: list[float] = field(default_factory=list)
    advantages: list[float] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)


class ValueHead(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden_states).squeeze(-1)


def forward(model, head: ValueHead, t: Transition, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of the completion tokens and the values before each of them."""
    ids = torch.tensor([t.prompt_ids + t.completion_ids], device=device)
    out = model(input_ids=ids, output_hidden_states=True)
    n_prompt, n = len(t.prompt_ids), len(t.completion_ids)
    logits = out.logits[0, n_prompt - 1: n_prompt - 1 + n].float()
    logprobs = torch.log_softmax(logits, dim=-1).gather(-1, ids[0, n_prompt:].unsqueeze(-1)).squeeze(-1)
    values = head(out.hidden_states[-1][0, n_prompt - 1: n_prompt - 1 + n].float())
    return logprobs, values


def rollout(env: gym.Env, policy: HFChatPolicy, episodes: int, seed: int) -> tuple[list[list[Transition]], list[dict]]:
    """Whole episodes played by the one policy; rewards placed per transition as the env reports them."""
    all_episodes, finals = [], []
    for e in range(episodes):
        obs, info = env.reset(seed=seed + e)
        transitions: list[Transition] = []
        while True:
            gen = policy.generate([obs])[0]
            transitions.append(Transition(gen.prompt_ids, gen.completion_ids or [policy.tokenizer.eos_token_id],
                                          gen.logprobs or [0.0], obs["role"]))
            obs, reward, terminated, truncated, info = env.step(gen.text)
            if terminated or truncated:
                break
        for t, r in zip(transitions, json.loads(info["transition_rewards"]), strict=True):
            t.reward = float(r)
        all_episodes.append(transitions)
        finals.append(info)
    return all_episodes, finals


def gae(episode: list[Transition], gamma: float, lam: float) -> None:
    """GAE over the episode's tokens, transitions in order; reward on each transition's last token."""
    values = [v for t in episode for v in t.values]
    rewards = [r for t in episode for r in ([0.0] * (len(t.completion_ids) - 1) + [t.reward])]
    advantages = np.zeros(len(values))
    last = 0.0
    for i in reversed(range(len(values))):
        next_value = values[i + 1] if i + 1 < len(values) else 0.0
        delta = rewards[i] + gamma * next_value - values[i]
        last = delta + gamma * lam * last
        advantages[i] = last
    k = 0
    for t in episode:
        n = len(t.completion_ids)
        t.advantages = advantages[k: k + n].tolist()
        t.returns = (advantages[k: k + n] + np.array(t.values)).tolist()
        k += n


def train(args: Args) -> list[dict]:
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(args), indent=2))
    if args.model == "tiny":
        from baselines.policies.tiny import tiny_chat_model

        model, tokenizer = tiny_chat_model(seed=args.seed)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.model)
        model = AutoModelForCausalLM.from_pretrained(args.model)
    model.to(args.device)
    head = ValueHead(model.config.hidden_size).to(args.device)
    reference = copy.deepcopy(model).eval() if args.kl_coef > 0 else None
    optimizer = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=args.lr)
    policy = HFChatPolicy(model, tokenizer, max_new_tokens=args.max_new_tokens, do_sample=True, seed=args.seed)
    env = gym.make(args.env, **args.env_kwargs)
    history = []
    for update in range(args.updates):
        model.eval()
        episodes, finals = rollout(env, policy, args.episodes_per_update, seed=args.seed + 1000 * update)
        with torch.no_grad():  # values of the sampled tokens, for GAE
            for episode in episodes:
                for t in episode:
                    t.values = forward(model, head, t, args.device)[1].tolist()
                gae(episode, args.gamma, args.lam)
        buffer = [t for episode in episodes for t in episode]  # every role's transitions, one buffer
        all_adv = np.concatenate([t.advantages for t in buffer])
        mean, std = all_adv.mean(), all_adv.std() + 1e-8
        model.train()
        losses = []
        for _ in range(args.epochs):
            for i in np.random.default_rng(args.seed + update).permutation(len(buffer)):
                t = buffer[i]
                logprobs, values = forward(model, head, t, args.device)
                old = torch.tensor(t.logprobs, device=args.device)
                adv = (torch.tensor(t.advantages, device=args.device) - mean) / std
                ratio = torch.exp(logprobs - old)
                policy_loss = -torch.min(ratio * adv, torch.clamp(ratio, 1 - args.clip, 1 + args.clip) * adv).mean()
                returns = torch.tensor(t.returns, device=args.device)
                old_values = torch.tensor(t.values, device=args.device)
                clipped = old_values + torch.clamp(values - old_values, -args.clip, args.clip)
                value_loss = 0.5 * torch.max((values - returns) ** 2, (clipped - returns) ** 2).mean()
                loss = policy_loss + args.value_coef * value_loss
                if reference is not None:
                    with torch.no_grad():
                        ref_logprobs = forward(reference, head, t, args.device)[0]
                    loss = loss + args.kl_coef * (logprobs - ref_logprobs).mean()
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(list(model.parameters()) + list(head.parameters()), 1.0)
                optimizer.step()
                losses.append(float(loss.detach()))
        row = {"update": update, "episodes": len(episodes), "transitions": len(buffer),
               "f1": float(np.mean([f["metrics"]["f1"] for f in finals])),
               "return": float(np.mean([sum(t.reward for t in ep) for ep in episodes])),
               "invalid_rate": float(np.mean([sum(f["counters"]["invalid"].values()) / max(sum(f["counters"]["steps"].values()), 1)
                                              for f in finals])),
               "loss": float(np.mean(losses))}
        history.append(row)
        with (out / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    model.save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")
    torch.save(head.state_dict(), out / "value_head.pt")
    env.close()
    return history


def parse() -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, value in asdict(Args()).items():
        if isinstance(value, dict):
            parser.add_argument(f"--{name.replace('_', '-')}", type=json.loads, default=value)
        else:
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    return Args(**vars(parser.parse_args()))


if __name__ == "__main__":
    train(parse())
