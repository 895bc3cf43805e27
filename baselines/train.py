"""Train a compact shared-backbone team policy with masked PPO, in one of the paradigms of the JADE paper.

    python -m baselines.train --paradigm joint --spec mismatched-qr --steps 60000 --seed 0 --out runs/joint-0

One file, top to bottom, in the CleanRL manner: the arguments, the environment of the paradigm, the one
shared start (behaviour cloning), the loop (sb3-contrib's MaskablePPO over
:class:`baselines.discrete_env.CandidateActionEnv`), the logging, the final evaluation through
``jade-rag evaluate``'s code path. The paradigms differ only in which roles the network plays and trains
(the others are the frozen executors of ``--spec``, played inside the env) and in a fixed workflow:

==============  ===================  ==============================  =========================================
paradigm        the paper's row      roles the network trains        workflow
==============  ===================  ==============================  =========================================
``joint``       JADE                 every role                      chosen by the (trained) planner
``decoupled``   MAO-ARAG             planner                         chosen by the trained planner
``adaptive``    Adaptive-RAG         planner, routing only           AG, R,AG or QDS
``static``      MMOA-RAG             QR, DS, AG                      QR,R,DS,AG
``rrr``         RRR                  QR                              QR,R,AG
``bgm``         BGM                  DS                              R,DS,AG
``monolithic``  Search-R1            the single search agent         <search>/<answer> turns
==============  ===================  ==============================  =========================================

**One start for every arm.** Before PPO, the network is behaviour-cloned to the spec on episodes of the
paradigm's env in which the spec plays every role, with soft targets that match the exploration
(``1 - epsilon`` on the spec's choice, ``epsilon`` spread over the valid candidates; the planner's target is
uniform unless ``--planner-start rule``, so that routing is what both arms learn), and its critic is fitted
to those episodes' Monte-Carlo returns. The start depends on (env, workflow, spec, epsilon, seed)
only, so ``joint`` and ``decoupled`` runs of one seed start from the same weights (``start_sha256`` in
``summary.json``). While training, the frozen executors explore with ``epsilon`` too; at evaluation every
role is greedy.

The run folder holds ``config.json``, ``metrics.csv`` (every ``--log-every`` steps, over the last 200
episodes: F1, return, rounds, retrieval calls, the share of each top-level workflow, F1 and workflow shares
per question kind, steps per second), ``start.zip`` and ``model.zip`` (saved every ``--checkpoint-every``
steps, through a temporary file, so that a kill during a save leaves the previous checkpoint; a rerun with the
same folder resumes from it, may raise ``--steps`` but not lower it below the steps done, and first drops the rows
of ``metrics.csv`` and ``curve.csv`` logged after that checkpoint, which it trains again), ``eval/`` (predictions,
trajectories and metrics on held-out questions; evaluated again whenever the final weights differ from those it evaluated, whose sha256
``eval/config.json`` keeps) and ``summary.json`` (held-out F1 overall and per kind, workflow shares per kind, how
often each trained role chose other than the spec would). The config stores no path of the folder itself, so a
run folder can be moved; one process at a time writes it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import io
import json
import shutil
import time
from collections import Counter, defaultdict, deque
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import jade_env  # noqa: F401
from baselines.discrete_env import CandidateActionEnv, TrainedTeam
from baselines.executor_specs import SPECS, ExecutorSpec, SpecExecutor
from jade_env.errors import JadeError, boolean_option, json_object
from jade_env.registration import check_make_kwargs, make_checked
from jade_env.roles.ids import ROLES, TOP_LEVEL_WORKFLOWS
from jade_env.run_folder import RunLock, atomic_file, atomic_write, config_differences

WORKFLOWS = [",".join(w) for w in TOP_LEVEL_WORKFLOWS]


@dataclass(frozen=True)
class Paradigm:
    roles: tuple[str, ...]  # the roles the network plays and trains; the frozen executors play the others
    workflow: str | None = None  # a fixed top-level workflow (the planner is never asked)
    workflows: tuple[str, ...] | None = None  # the planner's choices, when restricted
    monolithic: bool = False


PARADIGMS: dict[str, Paradigm] = {
    "joint": Paradigm(ROLES),
    "decoupled": Paradigm(("planner",)),
    "adaptive": Paradigm(("planner",), workflows=("AG", "R,AG", "QDS")),
    "static": Paradigm(("qr", "ds", "ag"), workflow="QR,R,DS,AG"),
    "rrr": Paradigm(("qr",), workflow="QR,R,AG"),
    "bgm": Paradigm(("ds",), workflow="R,DS,AG"),
    "monolithic": Paradigm(("agent",), monolithic=True),
}


def _arg(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class Args:
    """Every setting of a run; the command line of ``jade-rag train`` and ``python -m baselines.train`` is made from it."""

    paradigm: str = _arg("joint", "which roles the network trains (the table in baselines.train)", choices=tuple(PARADIGMS))
    env: str = _arg("JadeRAG-Synthetic-v0", "a registered id; the paradigm picks its variant")
    steps: int = _arg(20_000, "PPO environment steps (0: the start alone is evaluated; a rerun of the same folder resumes and may "
                      "raise it)")
    seed: int = _arg(0, "seed of the network, the exploration and the first reset")
    out: str = _arg("runs/train", "the run folder (config, metrics.csv, start.zip, model.zip, eval/, summary.json)")
    spec: str = _arg("matched", "the frozen executors, and the behaviour every arm starts from (baselines.executor_specs)",
                     choices=tuple(SPECS))
    epsilon: float = _arg(0.3, "exploration of the frozen executors while training, and of the start's soft targets")
    planner_start: str = _arg("uniform", "the start's planner: uniform (no plan: both arms learn to route) or rule (the scripted plan)",
                              choices=("uniform", "rule"))
    bc_episodes: int = _arg(600, "episodes of the spec the start is cloned from (0: no cloning, a uniform start)")
    bc_epochs: int = _arg(30, "passes over those episodes")
    allow_ds: bool = _arg(True, "whether the planner may choose workflows with DS")
    env_kwargs: str = _arg('{"n": 2000, "synthetic": {"seed": 0}}', "gym.make keywords of the training env (JSON)")
    eval_kwargs: str = _arg("", "gym.make keywords of the held-out evaluation (JSON); empty: derived from --env-kwargs "
                            "(Synthetic: 300 questions of the world with the next seed; a data file: its own questions)")
    learning_rate: float = _arg(3e-4, "Adam learning rate of PPO")
    n_steps: int = _arg(1024, "environment steps per PPO update")
    batch_size: int = _arg(128, "PPO minibatch size")
    ent_coef: float = _arg(0.01, "entropy bonus")
    log_every: int = _arg(1_000, "steps between rows of metrics.csv and progress lines (0: none)")
    eval_every: int = _arg(5_000, "steps between held-out evaluations for the learning curve (curve.csv; 0: none)")
    curve_episodes: int = _arg(100, "held-out questions of each learning-curve evaluation (the first N of the held-out split)")
    wandb: bool = _arg(False, "also log every metric to Weights & Biases (pip install wandb; WANDB_MODE=offline works offline)")
    checkpoint_every: int = _arg(5_000, "steps between checkpoints of model.zip")
    executor_checkpoint: str = _arg("", "a trained model.zip that plays the frozen executors instead of the spec")


def add_arguments(parser: argparse.ArgumentParser, required: tuple[str, ...] = ()) -> None:
    """One option per field of :class:`Args`, with its type, default, choices and help (shared by every command line)."""
    for f in fields(Args):
        kind = {"bool": boolean_option, "int": int, "float": float}.get(f.type if isinstance(f.type, str) else f.type.__name__, str)
        flag = {"nargs": "?", "const": True} if kind is boolean_option else {}  # --wandb alone is --wandb true
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=f.default, choices=f.metadata.get("choices"),
                            required=f.name in required, help=f.metadata["help"] + ("" if f.name in required else " (default: %(default)s)"),
                            metavar=None if f.metadata.get("choices") else f.name.upper(), **flag)


def paradigm_of(args: Args) -> Paradigm:
    if args.paradigm not in PARADIGMS:
        raise JadeError(f"unknown paradigm {args.paradigm!r}; expected one of {', '.join(PARADIGMS)}")
    if args.spec not in SPECS:
        raise JadeError(f"unknown executor spec {args.spec!r}; expected one of {', '.join(SPECS)}")
    if args.planner_start not in ("uniform", "rule"):
        raise JadeError(f"planner_start must be 'uniform' or 'rule', got {args.planner_start!r}")
    return PARADIGMS[args.paradigm]


def check_numbers(args: Args) -> None:
    """One line for a number no run can use (before anything is written): PPO's sizes and rates, and the intervals."""
    at_least = {"steps": 0, "n_steps": 1, "batch_size": 1, "bc_episodes": 0, "bc_epochs": 1, "log_every": 0, "eval_every": 0,
                "checkpoint_every": 0, "curve_episodes": 1}
    for name, low in at_least.items():
        value = getattr(args, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise JadeError(f"--{name.replace('_', '-')} must be an integer >= {low}, got {value!r}")
    if not (isinstance(args.learning_rate, int | float) and 0 < args.learning_rate < float("inf")):
        raise JadeError(f"--learning-rate must be a number above 0, got {args.learning_rate!r}")
    if not (isinstance(args.ent_coef, int | float) and 0 <= args.ent_coef < float("inf")):
        raise JadeError(f"--ent-coef must be a number >= 0, got {args.ent_coef!r}")


def env_id_of(env: str, paradigm: Paradigm) -> str:
    """The base id of ``env`` (any paradigm suffix dropped), or its Monolithic id."""
    base = env.removesuffix("-v0")
    for suffix in ("-Decoupled", "-Static", "-Monolithic"):
        base = base.removesuffix(suffix)
    return f"{base}{'-Monolithic' if paradigm.monolithic else ''}-v0"


def frozen_executors(args: Args, epsilon: float, seed: int):
    """The executors the network does not play: the spec (exploring with ``epsilon``), or a trained checkpoint."""
    if not args.executor_checkpoint:
        return SpecExecutor(args.spec, epsilon=epsilon, seed=seed, allow_ds=args.allow_ds)
    from sb3_contrib import MaskablePPO

    try:
        model = MaskablePPO.load(args.executor_checkpoint, device="cpu")
    except Exception as err:  # a missing, corrupt or foreign file
        raise JadeError(f"cannot load the executor checkpoint {args.executor_checkpoint}: {err}") from None
    if model.observation_space.shape != CandidateActionEnv.observation_shape():
        raise JadeError(f"{args.executor_checkpoint} was trained on observations of shape {model.observation_space.shape}, "
                        f"not {CandidateActionEnv.observation_shape()}")
    return TrainedTeam(model, roles=ROLES, allow_ds=args.allow_ds)


def make_env(args: Args, kwargs: dict, roles: tuple[str, ...], executors=None) -> CandidateActionEnv:
    """The paradigm's env, the network playing ``roles`` and ``executors`` the rest (inside the env)."""
    paradigm = paradigm_of(args)
    kwargs = {**kwargs, **({"workflow": paradigm.workflow} if paradigm.workflow else {})}
    if not paradigm.monolithic and set(roles) != set(ROLES):
        kwargs = {**kwargs, "controlled_roles": list(roles), "executor": executors}
    return CandidateActionEnv(make_checked(env_id_of(args.env, paradigm), **kwargs), allow_ds=args.allow_ds,
                              workflows=paradigm.workflows)


def clone_the_spec(model, args: Args, env_kwargs: dict) -> None:
    """The one start: behaviour cloning to the spec (soft targets), then the critic on Monte-Carlo returns."""
    import torch
    import torch.nn.functional as F

    paradigm, spec = paradigm_of(args), ExecutorSpec.named(args.spec)
    env = make_env(args, env_kwargs, ("agent",) if paradigm.monolithic else ROLES)  # the spec plays every role
    rng = np.random.default_rng(args.seed)
    obs_rows, masks, targets, returns = [], [], [], []
    obs, _ = env.reset(seed=args.seed)
    for _ in range(args.bc_episodes):
        done, rewards = False, []
        while not done:
            text_obs = env.text_observation
            target = spec.soft_targets(text_obs["role"], text_obs, env.candidates, args.epsilon, args.planner_start)
            obs_rows.append(obs)
            masks.append(env.action_masks())
            targets.append(target)
            obs, reward, terminated, truncated, _ = env.step(int(rng.choice(len(target), p=target)))
            rewards.append(reward)
            done = terminated or truncated
        returns += list(np.cumsum(rewards[::-1])[::-1])  # gamma = 1: the return of each step is what is still to come
        obs, _ = env.reset()
    env.close()
    x = torch.as_tensor(np.array(obs_rows), dtype=torch.float32)
    m = torch.as_tensor(np.array(masks))
    y = torch.as_tensor(np.array(targets), dtype=torch.float32)
    g = torch.as_tensor(np.array(returns), dtype=torch.float32)
    policy = model.policy
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(args.seed)
    for _ in range(args.bc_epochs):
        for batch in torch.randperm(len(x), generator=generator).split(256):
            latent_pi, latent_vf = policy.mlp_extractor(policy.extract_features(x[batch], policy.pi_features_extractor))
            logits = policy.action_net(latent_pi).masked_fill(~m[batch], -1e8)
            policy_loss = -(y[batch] * F.log_softmax(logits, dim=-1)).sum(-1).mean()
            value_loss = F.mse_loss(policy.value_net(latent_vf).squeeze(-1), g[batch])
            optimizer.zero_grad()
            (policy_loss + 0.5 * value_loss).backward()
            optimizer.step()


def weights_sha256(model) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.policy.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def save_model(model, path: Path) -> None:
    """``model.save`` through a temporary file: a kill during the save leaves the previous checkpoint loadable."""
    with atomic_file(path) as f:
        model.save(f)


def resume_logs(out: Path, done_steps: int) -> int:
    """Cut ``metrics.csv`` and ``curve.csv`` back to the rows of at most ``done_steps`` (the checkpoint a rerun resumes
    from; 0: no checkpoint, the run starts again), so that a killed run's later rows are not written twice; the
    episodes counted by the last row kept (0 if none)."""
    episodes = 0
    for name in ("metrics.csv", "curve.csv"):
        path = out / name
        if not path.exists():
            continue
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
        kept = rows[:1] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= done_steps and (done_steps or name != "curve.csv")]
        if len(kept) != len(rows):
            print(f"{path}: {len(rows) - len(kept)} row(s) after the last checkpoint (step {done_steps}) dropped; those steps are "
                  "trained again", flush=True)
            text = io.StringIO()
            csv.writer(text).writerows(kept)
            atomic_write(path, text.getvalue())
        if name == "metrics.csv" and len(kept) > 1:
            episodes = int(kept[-1][1])
    return episodes


def run_config(args: Args) -> dict:
    """The config as the run folder stores it: ``out`` is the folder itself (``"."``), so the folder can be moved."""
    return {**asdict(args), "out": "."}


def eval_kwargs_of(args: Args) -> dict:
    """The held-out evaluation's keywords: ``--eval-kwargs``, or derived from the training env's data."""
    if args.eval_kwargs.strip():
        return json_object(args.eval_kwargs, "--eval-kwargs")
    train_kwargs = json_object(args.env_kwargs, "--env-kwargs")
    if _dataset_of(env_id_of(args.env, paradigm_of(args))) == "synthetic":
        world = dict(train_kwargs.get("synthetic") or {})
        kept = {k: v for k, v in train_kwargs.items() if k != "sample_seed"}
        return {**kept, "n": 300, "synthetic": {**world, "seed": int(world.get("seed", 0)) + 1}}
    print("note: no --eval-kwargs: the evaluation runs on the training file's own questions (pass --eval-kwargs "
          "'{\"data_path\": \"DEV_FILE\"}' for a held-out split)", flush=True)
    return train_kwargs


def heldout_kwargs(args: Args, paradigm: Paradigm) -> dict:
    """The held-out env's keywords: the evaluation's data and the paradigm's fixed workflow, if it has one."""
    return {**json.loads(args.eval_kwargs), **({"workflow": paradigm.workflow} if paradigm.workflow else {})}


def train(args: Args) -> dict:
    """Check every argument and build both envs, then train in the run folder (nothing is written before that)."""
    paradigm = paradigm_of(args)
    check_numbers(args)
    env_kwargs = json_object(args.env_kwargs, "--env-kwargs")
    args = replace(args, env_kwargs=json.dumps(env_kwargs, sort_keys=True))  # compared and stored as one spelling
    env_id = env_id_of(args.env, paradigm)
    check_make_kwargs(env_id, env_kwargs)
    args = replace(args, eval_kwargs=json.dumps(eval_kwargs_of(args)))  # the config records what was evaluated on
    check_make_kwargs(env_id, json.loads(args.eval_kwargs))
    if args.wandb and importlib.util.find_spec("wandb") is None:
        start_wandb(args, Path(args.out))  # the one message saying how to install it, before any file is written
    heldout = make_checked(env_id, **heldout_kwargs(args, paradigm))  # the held-out data loads (a missing file fails here)
    executors = frozen_executors(args, epsilon=args.epsilon, seed=args.seed + 1) if not paradigm.monolithic else None
    env = make_env(args, env_kwargs, paradigm.roles, executors)
    with RunLock(args.out, f"baselines.train --paradigm {args.paradigm}"):  # one writer per run folder
        return _train(args, env, heldout)


def _train(args: Args, env: CandidateActionEnv, heldout: gym.Env) -> dict:
    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import BaseCallback

    paradigm = paradigm_of(args)
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "config.json"
    if config_path.exists():  # a rerun resumes; only --steps may grow (and the folder may have moved)
        held = {k: v for k, v in json.loads(config_path.read_text()).items() if k not in ("steps", "out")}
        if "env_kwargs" in held:  # a config written before env_kwargs was stored in one spelling
            held["env_kwargs"] = json.dumps(json.loads(held["env_kwargs"]), sort_keys=True)
        now = {k: v for k, v in run_config(args).items() if k not in ("steps", "out")}
        if held != now:
            differ = config_differences(held, now, label=lambda k: f"--{k.replace('_', '-')}")
            raise JadeError(f"{out} holds a run with another configuration ({differ}); use a new --out folder (only --steps "
                            "may change)")
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # a small network: one thread is fastest, and parallel runs do not oversubscribe the cores
    env_kwargs = json.loads(args.env_kwargs)
    kinds = [e.type for e in env.unwrapped.examples]

    # the policy: one MLP over (role, context, question, candidates) for every role it plays = the shared backbone
    checkpoint, start = out / "model.zip", out / "start.zip"
    tensorboard = str(out / "tensorboard") if importlib.util.find_spec("tensorboard") else None  # when installed
    done_steps = 0
    if checkpoint.exists():
        try:
            model = MaskablePPO.load(checkpoint, env=env)
        except Exception as err:  # corrupt file, or spaces that do not fit this env
            raise JadeError(f"cannot resume from {checkpoint}: {err}") from None
        done_steps = model.num_timesteps
        if args.steps < done_steps:
            raise JadeError(f"--steps {args.steps} is below the {done_steps} steps {checkpoint} has trained; give at least "
                            f"{done_steps} (a rerun may raise --steps, not lower it)")
        model.tensorboard_log = tensorboard  # this folder's, wherever the run was saved from
    logged_episodes = resume_logs(out, done_steps)  # rows written after the checkpoint are dropped: they are trained again
    atomic_write(config_path, json.dumps(run_config(args), indent=2))
    if not checkpoint.exists():
        model = MaskablePPO("MlpPolicy", env, learning_rate=args.learning_rate, n_steps=args.n_steps, batch_size=args.batch_size,
                            gamma=1.0, gae_lambda=0.95, ent_coef=args.ent_coef, seed=args.seed, verbose=0,
                            policy_kwargs={"net_arch": [128, 128]}, tensorboard_log=tensorboard)
        if args.bc_episodes:
            clone_the_spec(model, args, env_kwargs)
        save_model(model, start)
    start_sha = weights_sha256(MaskablePPO.load(start)) if start.exists() else ""

    # the learning curve: greedy held-out F1 every --eval-every steps, beside reference agents on the same questions
    fallback = frozen_executors(args, epsilon=0.0, seed=0) if not paradigm.monolithic else None  # the spec, greedy
    curve = HeldOutCurve(args, paradigm, out, heldout, fallback) if args.eval_every else None
    wandb_run = start_wandb(args, out) if args.wandb else None

    class Log(BaseCallback):
        """Metrics over time, from the info of each finished episode: overall and per question kind."""

        def __init__(self) -> None:
            super().__init__()
            self.window: deque[tuple[float, float, str, int, int, str]] = deque(maxlen=200)
            self.episodes, self.started = logged_episodes, time.perf_counter()  # counted on from the checkpoint's
            self.returns: dict[int, float] = defaultdict(float)  # per sub-env: the learner's rewards so far this episode
            self.file = (out / "metrics.csv").open("a", newline="")
            self.writer = csv.writer(self.file)
            self.kinds = sorted(set(kinds))
            if self.file.tell() == 0:
                self.writer.writerow(["step", "episodes", "f1", "reward", "rounds", "retrieval_calls", "steps_per_s", *WORKFLOWS,
                                      *(f"f1:{k}" for k in self.kinds), *(f"share:{k}:{w}" for k in self.kinds for w in WORKFLOWS)])

        def _on_step(self) -> bool:
            for i, (info, reward, done) in enumerate(zip(self.locals["infos"], self.locals["rewards"], self.locals["dones"], strict=True)):
                self.returns[i] += float(reward)  # the return is what the learner was paid (not the frozen executors' turns)
                if info["episode_end"]:
                    self.episodes += 1
                    self.window.append((info["metrics"]["f1"], self.returns[i], info["workflow"],
                                        info["counters"]["rounds"], info["counters"]["retrieval_calls"], kinds[info["question_index"]]))
                if done:
                    self.returns[i] = 0.0
            if args.log_every and self.num_timesteps % args.log_every == 0 and self.window:
                f1, reward, workflow, rounds, calls, kind = zip(*self.window, strict=True)
                shares = Counter(workflow)
                by_kind: dict[str, list[int]] = defaultdict(list)
                for i, k in enumerate(kind):
                    by_kind[k].append(i)
                rate = (self.num_timesteps - done_steps) / (time.perf_counter() - self.started)
                self.writer.writerow([self.num_timesteps, self.episodes, np.mean(f1), np.mean(reward), np.mean(rounds), np.mean(calls), rate,
                                      *(shares[w] / len(workflow) for w in WORKFLOWS),
                                      *(np.mean([f1[i] for i in by_kind[k]]) if by_kind[k] else "" for k in self.kinds),
                                      *(sum(workflow[i] == w for i in by_kind[k]) / len(by_kind[k]) if by_kind[k] else ""
                                        for k in self.kinds for w in WORKFLOWS)])
                self.file.flush()
                logged = {"train/f1": float(np.mean(f1)), "train/return": float(np.mean(reward)), "train/rounds": float(np.mean(rounds)),
                          "train/retrieval_calls": float(np.mean(calls)), "train/steps_per_s": rate}
                for name, value in logged.items():
                    self.logger.record(name, value)  # TensorBoard (when installed), through stable-baselines3's logger
                if wandb_run is not None:
                    wandb_run.log(logged, step=self.num_timesteps)
                print(f"step {self.num_timesteps:>7}  episodes {self.episodes:>6}  F1 {np.mean(f1):.3f}  {rate:.0f} steps/s", flush=True)
            if curve is not None and self.num_timesteps % args.eval_every == 0:
                heldout = curve.evaluate(self.model, self.num_timesteps)
                self.logger.record("heldout/f1", heldout["f1"])
                if wandb_run is not None:
                    wandb_run.log({"heldout/f1": heldout["f1"], "heldout/em": heldout["em"]}, step=self.num_timesteps)
            if args.checkpoint_every and self.num_timesteps % args.checkpoint_every == 0:
                save_model(self.model, checkpoint)  # a killed run resumes from here
            return True

        def _on_training_end(self) -> None:
            self.file.close()

    remaining = max(args.steps - done_steps, 0)
    if remaining:
        if curve is not None and done_steps == 0:
            curve.evaluate(model, 0)  # the start, before any PPO update
        model.learn(total_timesteps=remaining, callback=Log(), reset_num_timesteps=False)
    save_model(model, checkpoint)
    if wandb_run is not None:
        wandb_run.finish()
    env.close()
    heldout.close()
    model_sha = weights_sha256(model)
    eval_config = out / "eval" / "config.json"
    if eval_config.exists() and json.loads(eval_config.read_text()).get("agent_kwargs", {}).get("model_sha256") != model_sha:
        print(f"{out / 'eval'} evaluated other weights: evaluating {checkpoint} again", flush=True)
        shutil.rmtree(out / "eval")

    # final evaluation on held-out questions, through jade-rag evaluate's code path: every role greedy
    from baselines.evaluate import evaluate_agent

    spec = ExecutorSpec.named(args.spec)
    agent = DriftRecorder(TrainedTeam(model, roles=paradigm.roles, allow_ds=args.allow_ds, fallback=fallback,
                                      workflows=paradigm.workflows), spec)
    metrics = evaluate_agent(env_id_of(args.env, paradigm), lambda examples: agent, out / "eval", agent_name=f"compact-{args.paradigm}",
                             agent_kwargs={"model_sha256": model_sha}, env_kwargs=heldout_kwargs(args, paradigm), progress=False)
    summary = {"config": run_config(args), "start_sha256": start_sha, "model_sha256": model_sha,
               "seconds": time.perf_counter() - started, "f1": metrics["f1"], "em": metrics["em"],
               "workflow_distribution": metrics["workflow_distribution"], "executor_drift": agent.drift(), **per_kind(out / "eval")}
    atomic_write(out / "summary.json", json.dumps(summary, indent=2, sort_keys=True))
    return metrics


class HeldOutCurve:
    """Greedy F1 of the current weights on the first ``--curve-episodes`` held-out questions, appended to ``curve.csv``,
    and once per run folder the reference agents' F1 on the same questions (``curve_reference.json``), the flat
    lines of the learning curve: the rule-planner team, closed-book (no retrieval) and the oracle's upper bound."""

    REFERENCES = ("rule-planner", "closed-book", "oracle")

    def __init__(self, args: Args, paradigm: Paradigm, out: Path, env: gym.Env, fallback: Any) -> None:
        from baselines.evaluate import run_episode

        self.run_episode, self.args, self.paradigm = run_episode, args, paradigm
        kwargs = json.loads(args.eval_kwargs)
        self.env, self.fallback = env, fallback  # the held-out env and the greedy frozen executors, owned by the caller
        self.indices = range(min(args.curve_episodes, len(self.env.unwrapped.examples)))
        self.path = out / "curve.csv"
        reference = out / "curve_reference.json"
        if not reference.exists():
            from baselines.agents import make_agent

            team = gym.make(env_id_of(args.env, PARADIGMS["joint"]), **kwargs)  # F1 is comparable across the paradigms' envs
            scores = {name: self._f1(team, make_agent(name, team.unwrapped.examples))[0] for name in self.REFERENCES}
            team.close()
            atomic_write(reference, json.dumps({"questions": len(self.indices), **scores}, indent=2))

    def _f1(self, env: gym.Env, agent: Any) -> tuple[float, float]:
        results = [self.run_episode(env, agent, i, seed=0)[0]["metrics"] for i in self.indices]
        return float(np.mean([m["f1"] for m in results])), float(np.mean([m["em"] for m in results]))

    def evaluate(self, model: Any, step: int) -> dict[str, float]:
        agent = TrainedTeam(model, roles=self.paradigm.roles, allow_ds=self.args.allow_ds, fallback=self.fallback,
                            workflows=self.paradigm.workflows)
        f1, em = self._f1(self.env, agent)
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["step", "heldout_f1", "heldout_em", "questions"])
            writer.writerow([step, f1, em, len(self.indices)])
        return {"f1": f1, "em": em}


def start_wandb(args: Args, out: Path) -> Any:
    """A Weights & Biases run named after the run folder, with the run's config (``--wandb``)."""
    try:
        import wandb
    except ImportError:
        raise JadeError("--wandb logs to Weights & Biases, which is not installed: pip install wandb "
                        "(set WANDB_MODE=offline to log without a network)") from None
    return wandb.init(project="jade_env", name=out.resolve().name, config=run_config(args), dir=str(out))


class DriftRecorder:
    """An agent wrapper that counts, per trained role, the turns in which it chose other than the spec would."""

    def __init__(self, agent: TrainedTeam, spec: ExecutorSpec) -> None:
        self.agent, self.spec = agent, spec
        self.turns: Counter[str] = Counter()
        self.moved: Counter[str] = Counter()

    def act(self, role: str, obs: dict[str, str]) -> str:
        text = self.agent.act(role, obs)
        if role in self.agent.roles:
            candidates = self.agent.featurizer.generator(role, obs)
            self.turns[role] += 1
            self.moved[role] += text != candidates.texts[self.spec.choose(role, obs, candidates)]
        return text

    def drift(self) -> dict[str, float]:
        return {role: self.moved[role] / n for role, n in sorted(self.turns.items())}


def per_kind(eval_dir: Path) -> dict:
    """Held-out F1 and top-level workflow shares per question kind, from the evaluation's trajectories."""
    from jade_env.data.splits import load_split
    from jade_env.wrappers import read_trajectories

    config = json.loads((eval_dir / "config.json").read_text())
    kwargs = config["env_kwargs"]
    examples = load_split(kwargs.get("dataset", _dataset_of(config["env_id"])), kwargs.get("data_path"), kwargs.get("split"),
                          kwargs.get("n"), kwargs.get("sample_seed"), kwargs.get("data_format"), kwargs.get("synthetic"))
    kind_of = {e.id: e.type for e in examples}
    f1: dict[str, list[float]] = defaultdict(list)
    shares: dict[str, Counter[str]] = defaultdict(Counter)
    for record in read_trajectories(eval_dir / "trajectories.jsonl"):
        kind = kind_of.get(record["question_id"], "")
        f1[kind].append(record["metrics"]["f1"])
        shares[kind][record["workflow"]] += 1
    return {"f1_by_kind": {k: float(np.mean(v)) for k, v in sorted(f1.items())},
            "n_by_kind": {k: len(v) for k, v in sorted(f1.items())},
            "workflows_by_kind": {k: {w: n / sum(c.values()) for w, n in sorted(c.items())} for k, c in sorted(shares.items())}}


def _dataset_of(env_id: str) -> str:
    return gym.spec(env_id).kwargs["dataset"]


def parse(argv: list[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return Args(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    result = train(parse())
    print(json.dumps({k: result[k] for k in ("f1", "em", "rounds_mean", "retrieval_calls_mean", "workflow_distribution")}))
