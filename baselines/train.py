"""Train a compact shared-backbone team policy with masked PPO, in one of the paradigms of the JADE paper.

    python -m baselines.train --paradigm joint --env JadeRAG-Synthetic-v0 --steps 20000 --seed 0 --out runs/joint-0

One file, top to bottom, in the CleanRL manner: the arguments, the environment of the paradigm, the
policy, the loop (sb3-contrib's MaskablePPO over :class:`baselines.discrete_env.CandidateActionEnv`),
the logging, the final evaluation through ``jade-rag evaluate``'s code path.

================  =====================================================================================
paradigm          what the policy plays (everything else)
================  =====================================================================================
``joint``         every role (JADE: one shared network, one outcome reward)
``decoupled``     the planner only (the executors are the frozen scripted ones: ``rule-planner``'s)
``static``        QR, DS and AG of the fixed graph QR,R,DS,AG (the planner is never asked)
``monolithic``    the single Search-R1-style agent (search or answer, turn by turn)
================  =====================================================================================

The run folder holds ``config.json``, ``metrics.csv`` (every ``--log-every`` steps: episodes, mean F1
and reward over the last 200 episodes, the share of each top-level workflow, rounds and retrieval
calls, steps per second; SB3's TensorBoard logs too when tensorboard is installed), ``model.zip`` (saved
every ``--checkpoint-every`` steps and at the end; a rerun
with the same folder resumes from it, and may raise ``--steps``) and ``eval/``
(predictions, trajectories and metrics of the trained team on held-out questions).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

import jade_env  # noqa: F401
from baselines.agents import make_agent
from baselines.discrete_env import CandidateActionEnv, TrainedTeam
from jade_env.errors import JadeError
from jade_env.roles.ids import ROLES, TOP_LEVEL_WORKFLOWS

PARADIGMS = {
    # paradigm: (id suffix, roles the policy plays)
    "joint": ("", ROLES),
    "decoupled": ("-Decoupled", ("planner",)),
    "static": ("-Static", ("qr", "ds", "ag")),
    "monolithic": ("-Monolithic", ("agent",)),
}
WORKFLOWS = [",".join(w) for w in TOP_LEVEL_WORKFLOWS]


@dataclass
class Args:
    paradigm: str = "joint"
    env: str = "JadeRAG-Synthetic-v0"
    steps: int = 20_000
    seed: int = 0
    out: str = "runs/train"
    allow_ds: bool = True
    env_kwargs: str = '{"n": 2000, "synthetic": {"seed": 0}}'
    eval_kwargs: str = '{"n": 300, "synthetic": {"seed": 1}}'
    learning_rate: float = 3e-4
    n_steps: int = 512
    batch_size: int = 128
    ent_coef: float = 0.01
    log_every: int = 1_000
    checkpoint_every: int = 5_000
    executor_checkpoint: str = ""  # decoupled: a trained model.zip plays the executors, frozen (default: the scripted ones)


def paradigm_env_id(env: str, paradigm: str) -> str:
    if paradigm not in PARADIGMS:
        raise JadeError(f"unknown paradigm {paradigm!r}; expected one of {', '.join(PARADIGMS)}")
    base = env.removesuffix("-v0")
    for suffix in ("-Decoupled", "-Static", "-Monolithic"):
        base = base.removesuffix(suffix)
    return f"{base}{PARADIGMS[paradigm][0]}-v0"


def frozen_executors(args: Args):
    """The executors of the decoupled paradigm: the scripted ones, or a trained checkpoint, never updated."""
    if not args.executor_checkpoint:
        return make_agent("rule-planner")
    from sb3_contrib import MaskablePPO

    try:
        model = MaskablePPO.load(args.executor_checkpoint, device="cpu")
    except Exception as err:  # a missing, corrupt or foreign file
        raise JadeError(f"cannot load the executor checkpoint {args.executor_checkpoint}: {err}") from None
    if model.observation_space.shape != CandidateActionEnv.observation_shape():
        raise JadeError(f"{args.executor_checkpoint} was trained on observations of shape {model.observation_space.shape}, "
                        f"not {CandidateActionEnv.observation_shape()}")
    return TrainedTeam(model, roles=ROLES, allow_ds=args.allow_ds)


def make_env(args: Args, kwargs: dict, executors=None) -> CandidateActionEnv:
    env_id = paradigm_env_id(args.env, args.paradigm)
    if args.paradigm == "decoupled":
        kwargs = {**kwargs, "executor": executors if executors is not None else frozen_executors(args)}
    return CandidateActionEnv(gym.make(env_id, **kwargs), allow_ds=args.allow_ds)


def train(args: Args) -> dict:
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import BaseCallback

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "config.json"
    if config_path.exists():  # a rerun resumes; only --steps may grow
        old = {k: v for k, v in json.loads(config_path.read_text()).items() if k != "steps"}
        if old != {k: v for k, v in asdict(args).items() if k != "steps"}:
            raise JadeError(f"{out} holds a run with another configuration; use a new --out folder (only --steps may change)")
    config_path.write_text(json.dumps(asdict(args), indent=2))
    executors = frozen_executors(args) if args.paradigm == "decoupled" else None
    env = make_env(args, json.loads(args.env_kwargs), executors)

    # the policy: one MLP over (role, question, candidates) for every role it plays = the shared backbone
    checkpoint = out / "model.zip"
    done_steps = 0
    if checkpoint.exists():
        try:
            model = MaskablePPO.load(checkpoint, env=env)
        except Exception as err:  # corrupt file, or spaces that do not fit this env
            raise JadeError(f"cannot resume from {checkpoint}: {err}") from None
        done_steps = model.num_timesteps
    else:
        tensorboard = str(out / "tensorboard") if importlib.util.find_spec("tensorboard") else None  # when installed
        model = MaskablePPO("MlpPolicy", env, learning_rate=args.learning_rate, n_steps=args.n_steps, batch_size=args.batch_size,
                            gamma=1.0, gae_lambda=0.95, ent_coef=args.ent_coef, seed=args.seed, verbose=0,
                            policy_kwargs={"net_arch": [128, 128]}, tensorboard_log=tensorboard)

    class Log(BaseCallback):
        """Metrics over time, from the info of each finished episode."""

        def __init__(self) -> None:
            super().__init__()
            self.f1, self.reward = deque(maxlen=200), deque(maxlen=200)
            self.workflows, self.rounds, self.calls = deque(maxlen=200), deque(maxlen=200), deque(maxlen=200)
            self.episodes, self.started = 0, time.perf_counter()
            self.file = (out / "metrics.csv").open("a", newline="")
            self.writer = csv.writer(self.file)
            if self.file.tell() == 0:
                self.writer.writerow(["step", "episodes", "f1", "reward", "rounds", "retrieval_calls", "steps_per_s", *WORKFLOWS])

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if info["episode_end"]:
                    self.episodes += 1
                    self.f1.append(info["metrics"]["f1"])
                    self.reward.append(sum(json.loads(info["transition_rewards"])))
                    self.workflows.append(info["workflow"])  # "monolithic" for that paradigm: no workflow share
                    self.rounds.append(info["counters"]["rounds"])
                    self.calls.append(info["counters"]["retrieval_calls"])
            if args.log_every and self.num_timesteps % args.log_every == 0 and self.f1:
                shares = Counter(self.workflows)
                rate = (self.num_timesteps - done_steps) / (time.perf_counter() - self.started)
                self.writer.writerow([self.num_timesteps, self.episodes, np.mean(self.f1), np.mean(self.reward), np.mean(self.rounds),
                                      np.mean(self.calls), rate, *(shares[w] / len(self.workflows) for w in WORKFLOWS)])
                self.file.flush()
                if args.log_every:
                    print(f"step {self.num_timesteps:>7}  episodes {self.episodes:>6}  F1 {np.mean(self.f1):.3f}  {rate:.0f} steps/s",
                          flush=True)
            if args.checkpoint_every and self.num_timesteps % args.checkpoint_every == 0:
                self.model.save(checkpoint)  # a killed run resumes from here
            return True

        def _on_training_end(self) -> None:
            self.file.close()

    remaining = max(args.steps - done_steps, 0)
    if remaining:
        model.learn(total_timesteps=remaining, callback=Log(), reset_num_timesteps=False)
        model.save(checkpoint)

    # final evaluation on held-out questions, through jade-rag evaluate's code path
    from baselines.evaluate import evaluate_agent

    roles = PARADIGMS[args.paradigm][1]
    fallback = executors if executors is not None else make_agent("rule-planner")
    metrics = evaluate_agent(paradigm_env_id(args.env, args.paradigm) if args.paradigm != "decoupled" else args.env,
                             lambda examples: TrainedTeam(model, roles=roles, allow_ds=args.allow_ds, fallback=fallback),
                             out / "eval", agent_name=f"compact-{args.paradigm}", env_kwargs=json.loads(args.eval_kwargs),
                             progress=False)
    env.close()
    return metrics


def parse(argv: list[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for field, default in asdict(Args()).items():
        kind = type(default)
        if kind is bool:
            parser.add_argument(f"--{field.replace('_', '-')}", type=lambda s: s.lower() in ("1", "true", "yes"), default=default)
        else:
            parser.add_argument(f"--{field.replace('_', '-')}", type=kind, default=default)
    return Args(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    result = train(parse())
    print(json.dumps({k: result[k] for k in ("f1", "em", "rounds_mean", "retrieval_calls_mean", "workflow_distribution")}))
