"""Token-level PPO for a language-model team: one shared model plays the roles it is trained on (JADE's shared backbone).

    python -m baselines.ppo_lm --model $(jade-rag model get smollm2) --env-kwargs '{"synthetic": {"seed": 0, "hop_mix": {"1-hop": 1}}}' \
        --sft-data runs/sft/rule-planner.jsonl --sft-steps 20 --updates 4 --num-envs 4 --out runs/ppo-lm

One file, top to bottom, in the CleanRL manner.

Rollout. ``num_envs`` sub-envs of one :class:`~jade_env.envs.vector_env.JadeRAGVectorEnv` each play one
episode per update on a training question; every step, the acting roles of all sub-envs are generated
in one batched call of :class:`~baselines.policies.HFChatPolicy` (sampling, grammar-constrained, its
random stream seeded once, so the same prompt twice gives two samples and the same seed the same run).
Every agent step is one transition: its prompt ids (opening tag prefilled) and completion ids.

Log-probabilities. The samples come from the grammar-masked distribution, but PPO trains the plain
model: old log-probs, old values and the reference's log-probs are all computed, before the update, by
the very forward pass the update uses (:func:`baselines.lm_forward.completion_forward`, no mask, on the
same fixed minibatches), so at identical weights the ratio is exactly 1 and nothing is clipped. The
mask is then part of how actions are drawn, not of the objective: masked-out tokens are never sampled,
so no gradient pushes them; keep ``temperature`` at the sampling temperature and ``top_p`` at 1 so the
plain distribution is the one sampled from, up to the mask. (The generation's own log-probs, after the
mask, are not used.)

Rewards and advantages, ``--scheme``:
* ``paper``: the reward of each agent step (its format penalty) and the global reward on the last step
  (placement ``terminal``), on each transition's last token; GAE (``gamma``, ``lam``) over the tokens of
  the whole episode, transitions in order, so a role's credit flows back to the roles that acted before it.
* ``authors_code`` (what the released JADE code does): the global reward broadcast to every transition
  (placement ``broadcast``), and GAE within each transition with gamma = lambda = 1 (each token's
  advantage is its transition's reward minus the token's value).

``--mode``: ``joint`` trains on every role's transitions; ``decoupled`` trains only on planner turns,
while a frozen copy of the starting model (after the SFT warm start) plays every executor role, so the
executors stay at the base weights bit for bit (the trained model's executor outputs are never used).
Under ``paper``, an executor step's reward is added to the planner turn before it (the executors are part
of the environment); under ``authors_code`` each planner turn keeps its own broadcast reward.

Update: advantages whitened over the buffer's tokens; ``epochs`` passes over minibatches of
``minibatch_size`` transitions, token-mean clipped surrogate, clipped value loss (a value head on the last
hidden state, its own learning rate ``value_lr``), and with ``kl_coef`` > 0 the k3 estimator of the KL to
the reference (the starting model): ``exp(ref - logp) - (ref - logp) - 1`` per token, unbiased for
KL(policy || reference); as a loss its expected gradient is that of KL(reference || policy).

Warm start: ``--sft-data FILE --sft-steps N`` runs :func:`baselines.sft.supervised_finetune` first.
Run folder: ``config.json``, ``metrics.csv`` (one row per update: F1, return, invalid rate per role, ratio
mean, clip fraction, approximate KL, KL to the reference, value and policy loss, seconds), ``eval.json`` (greedy
held-out evaluation before and after training: F1, invalid rate per role), ``eval_trajectories.jsonl``, the
model and value head. On a GPU the same file runs unchanged with ``--device cuda --dtype bfloat16`` (see
benchmarks/lm_ppo_recipe.py). Tests run it with a tiny random model (``--model tiny``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import jade_env  # noqa: F401
from baselines.lm_forward import completion_forward
from baselines.policies import HFChatPolicy
from jade_env.errors import boolean_option
from jade_env.roles.ids import ROLES
from jade_env.run_folder import json_line

SCHEMES = ("paper", "authors_code")
MODES = ("joint", "decoupled")


@dataclass
class Args:
    model: str = "tiny"  # a model folder, a hub id, or "tiny" (random, tokenizer trained on the fly)
    env: str = "JadeRAG-Synthetic-v0"
    env_kwargs: dict = field(default_factory=lambda: {"synthetic": {"seed": 0}, "max_steps": 12})
    train_questions: int = 64  # questions [0, train_questions) are drawn for rollouts
    eval_questions: int = 8  # the next ones are the held-out greedy evaluation (0: none)
    scheme: str = "paper"  # paper | authors_code
    mode: str = "joint"  # joint | decoupled
    updates: int = 2
    num_envs: int = 4  # sub-envs of the vector env = episodes per update
    epochs: int = 2
    minibatch_size: int = 4  # transitions per minibatch
    lr: float = 1e-5
    value_lr: float = 1e-4
    clip: float = 0.2
    value_clip: float = 0.2
    value_coef: float = 0.5
    kl_coef: float = 0.0  # > 0: k3 KL to the starting model
    gamma: float = 1.0  # paper scheme only (authors_code uses 1)
    lam: float = 0.95  # paper scheme only (authors_code uses 1)
    temperature: float = 1.0
    constrain: bool = True  # grammar-constrained sampling (False: free decoding, tag prefilled, stop at the closing tag)
    max_new_tokens: dict = field(default_factory=dict)  # per role; missing roles keep ROLE_MAX_NEW_TOKENS
    sft_data: str = ""  # an SFT file (python -m baselines.sft_dataset) for the warm start
    sft_steps: int = 0
    sft_lr: float = 1e-4
    sft_batch_size: int = 8
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch CPU threads (0: torch's default; 1 is often fastest on a busy machine)
    dtype: str = "float32"  # float32 | bfloat16 (autocast: weights and optimizer stay float32)
    out: str = "runs/ppo-lm"


@dataclass
class Transition:
    prompt_ids: list[int]
    completion_ids: list[int]
    role: str
    trained: bool  # generated by the trained model and trained on (decoupled: planner turns only)
    reward: float = 0.0
    logprobs: np.ndarray = field(default_factory=lambda: np.zeros(0))  # old, plain model
    ref_logprobs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    advantages: np.ndarray = field(default_factory=lambda: np.zeros(0))
    returns: np.ndarray = field(default_factory=lambda: np.zeros(0))


class ValueHead(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden_states.float()).squeeze(-1)


def k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per token, the k3 estimator of KL(policy || reference) on tokens sampled from the policy (>= 0)."""
    d = ref_logprobs - logprobs
    return torch.exp(d) - d - 1


def check(args: Args) -> None:
    """One clear line for a bad option."""
    if args.scheme not in SCHEMES:
        raise ValueError(f"--scheme {args.scheme!r} is unknown; expected one of {', '.join(SCHEMES)}")
    if args.mode not in MODES:
        raise ValueError(f"--mode {args.mode!r} is unknown; expected one of {', '.join(MODES)}")
    if args.dtype not in ("float32", "bfloat16"):
        raise ValueError(f"--dtype {args.dtype!r} is unknown; expected float32 or bfloat16")
    for name in ("updates", "num_envs", "epochs", "minibatch_size", "train_questions"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.sft_steps and not args.sft_data:
        raise ValueError("--sft-steps needs --sft-data FILE (python -m baselines.sft_dataset writes one)")


def load_model(args: Args):
    if args.model == "tiny":
        from baselines.policies.tiny import tiny_chat_model

        model, tokenizer = tiny_chat_model(seed=args.seed)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.model)
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    return model.to(device=args.device).eval(), tokenizer


def precision(args: Args):
    """The forward passes' precision: bfloat16 autocast (float32 master weights, so small steps are not rounded away), or float32."""
    if args.dtype == "bfloat16":
        return torch.autocast(device_type=torch.device(args.device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def rollout(envs, trained: HFChatPolicy, executors: HFChatPolicy, indices: list[int], seed: int):
    """One episode per sub-env on ``indices``; per episode its transitions (rewards placed) and its outcome."""
    n = envs.num_envs
    obs, _ = envs.reset(seed=seed, options={"index": indices})
    transitions: list[list[Transition]] = [[] for _ in range(n)]
    outcomes: list[dict | None] = [None] * n
    texts: list[list[dict]] = [[] for _ in range(n)]
    while any(o is None for o in outcomes):
        views = [{key: obs[key][i] for key in obs} for i in range(n)]
        actions = [""] * n  # a finished sub-env's next episode is not played (its action is ignored or invalid)
        for policy in dict.fromkeys([trained, executors]):
            rows = [i for i in range(n) if outcomes[i] is None and views[i]["role"]
                    and (executors if views[i]["role"] != "planner" else trained) is policy]
            for i, gen in zip(rows, policy.generate([views[i] for i in rows]) if rows else [], strict=True):
                actions[i] = gen.text
                transitions[i].append(Transition(gen.prompt_ids, gen.completion_ids, views[i]["role"],
                                                 trained=policy is trained or executors is trained))
                texts[i].append({"role": views[i]["role"], "output": gen.text})
        obs, _, terminated, truncated, info = envs.step(actions)
        for i in range(n):
            if outcomes[i] is None and (terminated[i] or truncated[i]):
                for t, r in zip(transitions[i], json.loads(info["transition_rewards"][i]), strict=True):
                    t.reward = float(r)
                outcomes[i] = {"f1": float(info["metrics"]["f1"][i]), "prediction": str(info["prediction"][i]),
                               "steps": {r: int(info["counters"]["steps"][r][i]) for r in ROLES},
                               "invalid": {r: int(info["counters"]["invalid"][r][i]) for r in ROLES},
                               "turns": texts[i], "question_index": indices[i]}
    return transitions, outcomes


def invalid_rates(outcomes: list[dict]) -> dict[str, float | None]:
    """Invalid outputs / outputs, per role (None for a role that never acted), and overall."""
    rates = {}
    for role in ROLES:
        steps = sum(o["steps"][role] for o in outcomes)
        rates[role] = sum(o["invalid"][role] for o in outcomes) / steps if steps else None
    total = sum(sum(o["steps"].values()) for o in outcomes)
    rates["all"] = sum(sum(o["invalid"].values()) for o in outcomes) / max(total, 1)
    return rates


def training_sequence(episode: list[Transition], scheme: str) -> list[Transition]:
    """The transitions trained on, with their rewards (paper: an untrained step's reward goes to the trained turn before it)."""
    sequence: list[Transition] = []
    for t in episode:
        if t.trained and t.completion_ids:
            sequence.append(t)
        elif scheme == "paper" and sequence:
            sequence[-1].reward += t.reward
    return sequence


def advantages(sequence: list[Transition], scheme: str, gamma: float, lam: float) -> None:
    """GAE per token: over the flattened episode (paper) or within each transition with gamma = lambda = 1 (authors_code)."""
    if scheme == "authors_code":
        for t in sequence:
            t.returns = np.full(len(t.values), t.reward)
            t.advantages = t.returns - t.values
        return
    values = np.concatenate([t.values for t in sequence])
    rewards = np.concatenate([np.r_[np.zeros(len(t.values) - 1), t.reward] for t in sequence])
    adv = np.zeros(len(values))
    last = 0.0
    for i in reversed(range(len(values))):
        next_value = values[i + 1] if i + 1 < len(values) else 0.0
        last = rewards[i] + gamma * next_value - values[i] + gamma * lam * last
        adv[i] = last
    k = 0
    for t in sequence:
        n = len(t.values)
        t.advantages, t.returns = adv[k: k + n], adv[k: k + n] + t.values
        k += n


def score(model, head: ValueHead, batch: list[Transition], pad_id: int, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat per-token log-probs and values of a minibatch (the one forward used before and during the update)."""
    out = completion_forward(model, [t.prompt_ids for t in batch], [t.completion_ids for t in batch], pad_id, temperature)
    return out.logprobs, head(out.hidden)


def stacked(batch: list[Transition], name: str, device: str) -> torch.Tensor:
    """One per-token field of a minibatch's transitions, flat, in the order :func:`score` returns tokens."""
    return torch.from_numpy(np.concatenate([getattr(t, name) for t in batch])).float().to(device)


def split(flat: torch.Tensor, batch: list[Transition]) -> list[np.ndarray]:
    return [a.numpy() for a in torch.split(flat.detach().float().cpu(), [len(t.completion_ids) for t in batch])]


def evaluate(envs, trained: HFChatPolicy, executors: HFChatPolicy, indices: list[int], seed: int) -> dict:
    """Greedy episodes on the held-out questions, ``num_envs`` at a time."""
    outcomes = []
    n = envs.num_envs
    for start in range(0, len(indices), n):
        chunk = indices[start: start + n]
        chunk = chunk + [chunk[-1]] * (n - len(chunk))  # pad the last batch (its repeats are dropped)
        outcomes += rollout(envs, trained, executors, chunk, seed)[1][: len(indices) - start]
    return {"f1": float(np.mean([o["f1"] for o in outcomes])), "invalid": invalid_rates(outcomes), "outcomes": outcomes}


@dataclass
class Result:
    history: list[dict]  # the metrics.csv rows
    evaluation: dict  # greedy held-out F1 and invalid rates, "before" and "after"
    model: nn.Module  # the trained model
    base: nn.Module | None  # the frozen copy: the decoupled executors and the KL reference (None when unused)


def train(args: Args) -> Result:
    check(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(args), indent=2))
    model, tokenizer = load_model(args)
    budgets = args.max_new_tokens or None
    sampling = {"max_new_tokens": budgets, "do_sample": True, "temperature": args.temperature, "constrain": args.constrain}
    policy = HFChatPolicy(model, tokenizer, seed=args.seed, **sampling)

    # 1. warm start: a few SFT steps on another agent's turns
    if args.sft_steps:
        from baselines.sft import supervised_finetune
        from baselines.sft_dataset import read_sft_dataset

        sft_losses = supervised_finetune(model, policy, read_sft_dataset(args.sft_data), args.sft_steps, args.sft_lr,
                                         args.sft_batch_size, args.seed, precision=lambda: precision(args))
        (out / "sft.json").write_text(json.dumps({"steps": args.sft_steps, "losses": sft_losses}))
        print(json.dumps({"sft_steps": args.sft_steps, "first_loss": sft_losses[0], "last_loss": sft_losses[-1]}), flush=True)
        model.eval()

    # 2. the frozen base: reference for the KL, and the executors in decoupled mode
    base = None
    if args.kl_coef > 0 or args.mode == "decoupled":
        base = copy.deepcopy(model).eval().requires_grad_(False)
    executors = policy
    if args.mode == "decoupled":
        executors = HFChatPolicy(base, tokenizer, seed=args.seed + 1, **sampling)
    greedy = HFChatPolicy(model, tokenizer, max_new_tokens=budgets, constrain=args.constrain)
    greedy_executors = greedy if args.mode == "joint" else HFChatPolicy(base, tokenizer, max_new_tokens=budgets, constrain=args.constrain)

    head = ValueHead(model.config.hidden_size).to(args.device)
    optimizer = torch.optim.AdamW([{"params": list(model.parameters()), "lr": args.lr},
                                   {"params": list(head.parameters()), "lr": args.value_lr}])
    env_kwargs = {**args.env_kwargs, "n": args.train_questions + args.eval_questions}
    if args.scheme == "authors_code":
        env_kwargs["placement"] = "broadcast"
    gamma, lam = (1.0, 1.0) if args.scheme == "authors_code" else (args.gamma, args.lam)
    envs = gym.make_vec(args.env, num_envs=args.num_envs, vectorization_mode="vector_entry_point", **env_kwargs)
    held_out = list(range(args.train_questions, args.train_questions + args.eval_questions))
    pad = tokenizer.pad_token_id
    evaluations = {}
    if held_out:
        with precision(args):
            evaluations["before"] = evaluate(envs, greedy, greedy_executors, held_out, args.seed)
        print(json.dumps({"eval": "before", "f1": evaluations["before"]["f1"]}), flush=True)

    history = []
    with (out / "metrics.csv").open("w", newline="") as f:
        writer = None
        for update in range(args.updates):
            started = time.time()
            # 3. rollout: one episode per sub-env, generation batched across sub-envs
            indices = rng.integers(0, args.train_questions, size=args.num_envs).tolist()
            with precision(args):
                episodes, outcomes = rollout(envs, policy, executors, indices, seed=args.seed + 1000 * update)
            sequences = [s for s in (training_sequence(ep, args.scheme) for ep in episodes) if s]
            buffer = [t for s in sequences for t in s]
            order = rng.permutation(len(buffer))
            minibatches = [[buffer[i] for i in order[k: k + args.minibatch_size]] for k in range(0, len(buffer), args.minibatch_size)]

            # 4. old log-probs, values and reference log-probs: the update's own forward, same minibatches, before any step
            with torch.no_grad(), precision(args):
                for batch in minibatches:
                    logprobs, values = score(model, head, batch, pad, args.temperature)
                    for t, lp, v in zip(batch, split(logprobs, batch), split(values, batch), strict=True):
                        t.logprobs, t.values = lp, v
                    if args.kl_coef > 0:
                        ref = completion_forward(base, [t.prompt_ids for t in batch], [t.completion_ids for t in batch], pad,
                                                 args.temperature).logprobs
                        for t, lp in zip(batch, split(ref, batch), strict=True):
                            t.ref_logprobs = lp
            for s in sequences:
                advantages(s, args.scheme, gamma, lam)
            flat = np.concatenate([t.advantages for t in buffer]) if buffer else np.zeros(1)
            mean, std = flat.mean(), flat.std() + 1e-8

            # 5. update: epochs over the minibatches, token-mean losses
            stats: dict[str, list[float]] = {k: [] for k in ("ratio", "clip_frac", "approx_kl", "kl_ref", "value_loss", "policy_loss")}
            for _ in range(args.epochs if buffer else 0):
                for b in rng.permutation(len(minibatches)):
                    batch = minibatches[b]
                    with precision(args):
                        logprobs, values = score(model, head, batch, pad, args.temperature)
                    old, old_values, returns = (stacked(batch, k, args.device) for k in ("logprobs", "values", "returns"))
                    adv = (stacked(batch, "advantages", args.device) - float(mean)) / float(std)
                    log_ratio = logprobs - old
                    ratio = torch.exp(log_ratio)
                    policy_loss = -torch.min(ratio * adv, torch.clamp(ratio, 1 - args.clip, 1 + args.clip) * adv).mean()
                    clipped = old_values + torch.clamp(values - old_values, -args.value_clip, args.value_clip)
                    value_loss = 0.5 * torch.max((values - returns) ** 2, (clipped - returns) ** 2).mean()
                    loss = policy_loss + args.value_coef * value_loss
                    kl_ref = torch.zeros(())
                    if args.kl_coef > 0:
                        kl_ref = k3(logprobs, stacked(batch, "ref_logprobs", args.device)).mean()
                        loss = loss + args.kl_coef * kl_ref
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(list(model.parameters()) + list(head.parameters()), 1.0)
                    optimizer.step()
                    with torch.no_grad():
                        stats["ratio"].append(float(ratio.mean()))
                        stats["clip_frac"].append(float(((ratio - 1).abs() > args.clip).float().mean()))
                        stats["approx_kl"].append(float(((ratio - 1) - log_ratio).mean()))
                        stats["kl_ref"].append(float(kl_ref))
                        stats["value_loss"].append(float(value_loss))
                        stats["policy_loss"].append(float(policy_loss))
            rates = invalid_rates(outcomes)
            row = {"update": update, "episodes": len(episodes), "transitions": len(buffer),
                   "tokens": int(sum(len(t.completion_ids) for t in buffer)),
                   "f1": float(np.mean([o["f1"] for o in outcomes])),
                   "return": float(np.mean([sum(t.reward for t in s) for s in sequences])) if sequences else 0.0,
                   **{k: float(np.mean(v)) if v else float("nan") for k, v in stats.items()},
                   "invalid": rates["all"], **{f"invalid_{r}": rates[r] for r in ROLES},
                   "seconds": round(time.time() - started, 1)}
            history.append(row)
            if writer is None:
                writer = csv.DictWriter(f, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
            f.flush()
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)

    # 6. greedy held-out evaluation, the model and the value head
    if held_out:
        with precision(args):
            evaluations["after"] = evaluate(envs, greedy, greedy_executors, held_out, args.seed)
        print(json.dumps({"eval": "after", "f1": evaluations["after"]["f1"]}), flush=True)
        with (out / "eval_trajectories.jsonl").open("w", encoding="utf-8") as f:
            for when, result in evaluations.items():
                for o in result["outcomes"]:
                    f.write(json_line({"when": when, **o}))
        (out / "eval.json").write_text(json.dumps({k: {"f1": v["f1"], "invalid": v["invalid"], "questions": len(held_out)}
                                                   for k, v in evaluations.items()}, indent=2))
    envs.close()
    model.save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")
    torch.save(head.state_dict(), out / "value_head.pt")
    return Result(history, {k: {"f1": v["f1"], "invalid": v["invalid"]} for k, v in evaluations.items()}, model, base)


def parse(argv: list[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, value in asdict(Args()).items():
        kind = json.loads if isinstance(value, dict) else boolean_option if isinstance(value, bool) else type(value)
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=value)
    args = Args(**vars(parser.parse_args(argv)))
    try:
        check(args)
    except ValueError as err:
        parser.error(str(err))  # one line and exit status 2, as for a malformed option
    return args


if __name__ == "__main__":
    train(parse())
