"""Fuzz run: many random actions into the environments, single and vectorised; nothing may raise.

    python benchmarks/fuzz_env.py [--actions 10000] [--vector-steps 2000] [--seed 0]

Actions come from :func:`jade_env.fuzzing.random_action`: valid outputs of the acting role mixed with
arbitrary Unicode, empty strings, one-megabyte strings, nested and unclosed tags, wrong tags, document ids
out of range and 50 sub-questions.

1. Single envs: the actions go, in turn, to the team, static and monolithic envs on Synthetic and the
   HotpotQA team env over the real dev file (per-question corpora). Reported: actions, episodes ended,
   invalid outputs penalised, exceptions (must be 0), the longest episode (within the step cap).
2. Vector envs: every paradigm (team, decoupled, static, monolithic) in the three vectorisation modes
   (``vector_entry_point``, ``sync``, ``async``), 4 sub-envs, ``--vector-steps`` steps each. Reported per
   combination: steps, episodes ended, invalid outputs, exceptions, steps whose info keys differ from the
   first step's (must be 0), and whether the three modes gave the same trajectory (a digest of every
   observation, reward, end flag and question id).
3. Copies: for every paradigm, ``--copy-episodes`` episodes; at a random step of each, the env is copied
   with ``copy.deepcopy`` and with a ``pickle`` round trip, and the copy's remaining trajectory (random
   actions from the same seed) is compared byte for byte with the original's (:func:`jade_env.fuzzing.check_copies`).

The summary goes to the ``## Fuzz run`` section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import random
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from results import machine, write_section  # noqa: E402

SECTION = "## Fuzz run"
SYN = {"n": 300, "synthetic": {"seed": 1}}
PARADIGMS = {"team": "JadeRAG-Synthetic-v0", "decoupled": "JadeRAG-Synthetic-Decoupled-v0", "static": "JadeRAG-Synthetic-Static-v0",
             "monolithic": "JadeRAG-Synthetic-Monolithic-v0"}
MODES = ("vector_entry_point", "sync", "async")


def fuzz_single(actions: int, seed: int) -> dict:
    import gymnasium as gym

    from jade_env.fuzzing import random_action

    envs = [gym.make("JadeRAG-Synthetic-v0", **SYN), gym.make("JadeRAG-Synthetic-Static-v0", **SYN),
            gym.make("JadeRAG-Synthetic-Monolithic-v0", **SYN)]
    dev = HERE.parent.parent / "shared" / "data" / "hotpotqa" / "hotpot_dev_distractor_v1_100.json"
    if dev.exists():
        envs.append(gym.make("JadeRAG-HotpotQA-v0", data_path=str(dev), corpus="per_question"))
    rng = random.Random(seed)
    out = {"envs": len(envs), "sent": 0, "episodes": 0, "invalid": 0, "errors": 0, "longest": 0}
    for env in envs:
        obs, info = env.reset(seed=seed)
        length = 0
        cap = getattr(env.unwrapped.config, "max_steps", None) or env.unwrapped.config.max_turns
        for _ in range(actions // len(envs)):
            try:
                obs, reward, terminated, truncated, info = env.step(random_action(rng, obs["role"], obs["fields"]))
                assert env.observation_space.contains(obs), "observation outside the space"
                assert info["valid"] or (info["message"] and info["penalty"] < 0), "invalid output without message/penalty"
            except Exception:
                out["errors"] += 1
                traceback.print_exc()
                obs, info = env.reset()
                continue
            out["sent"] += 1
            length += 1
            out["invalid"] += not info["valid"]
            if terminated or truncated:
                out["episodes"] += 1
                out["longest"] = max(out["longest"], length)
                assert length <= cap, f"episode of {length} steps beyond the cap {cap}"
                length = 0
                obs, info = env.reset()
        env.close()
    return out


def fuzz_vector(env_id: str, mode: str, steps: int, seed: int, num_envs: int = 4) -> dict:
    import gymnasium as gym

    from jade_env.fuzzing import random_action

    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode,
                        vector_kwargs={"context": "spawn"} if mode == "async" else None, **SYN)
    rng = random.Random(seed)
    digest = hashlib.sha256()
    out = {"steps": 0, "episodes": 0, "invalid": 0, "errors": 0, "key_changes": 0}
    started = time.perf_counter()
    obs, infos = envs.reset(seed=seed)
    keys = set(infos)
    for _ in range(steps):
        actions = [random_action(rng, role, fields) for role, fields in zip(obs["role"], obs["fields"], strict=True)]
        try:
            obs, rewards, terminated, truncated, infos = envs.step(actions)
        except Exception:
            out["errors"] += 1
            traceback.print_exc()
            obs, infos = envs.reset()
            continue
        out["steps"] += 1
        out["key_changes"] += set(infos) != keys
        out["episodes"] += int((terminated | truncated).sum())
        out["invalid"] += int((~infos["valid"] & infos["_valid"]).sum())
        digest.update(json.dumps([list(obs["role"]), list(obs["fields"]), rewards.round(9).tolist(), terminated.tolist(),
                                  truncated.tolist(), list(infos["question_id"])]).encode())
    envs.close()
    out["seconds"] = time.perf_counter() - started
    out["digest"] = digest.hexdigest()[:12]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", type=int, default=10_000, help="actions sent to the single envs (default 10000)")
    parser.add_argument("--vector-steps", type=int, default=2_000, help="steps per paradigm and vector mode (default 2000)")
    parser.add_argument("--copy-episodes", type=int, default=200, help="episodes per paradigm for the copy check (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import jade_env  # noqa: F401

    started = time.perf_counter()
    single = fuzz_single(args.actions, args.seed)
    single_s = time.perf_counter() - started
    rows = []
    for name, env_id in PARADIGMS.items():
        runs = {mode: fuzz_vector(env_id, mode, args.vector_steps, args.seed) for mode in MODES}
        same = len({r["digest"] for r in runs.values()}) == 1
        for mode, r in runs.items():
            rows.append((name, mode, r, same))
            print(name, mode, r, "modes agree" if same else "MODES DIFFER", flush=True)
    import copy
    import pickle

    import gymnasium as gym

    from jade_env.fuzzing import check_copies

    copies = []
    for name, env_id in PARADIGMS.items():
        for how, clone in (("deepcopy", copy.deepcopy), ("pickle", lambda e: pickle.loads(pickle.dumps(e)))):
            compared, diverged = check_copies(lambda env_id=env_id: gym.make(env_id, **SYN), clone, args.copy_episodes, args.seed)
            copies.append((name, how, compared, diverged))
            print(name, how, compared, diverged, flush=True)
    errors = single["errors"] + sum(r["errors"] for _, _, r, _ in rows)
    changes = sum(r["key_changes"] for _, _, r, _ in rows)
    disagreements = sum(not same for _, _, _, same in rows)
    diverged = sum(d for *_, d in copies)
    command = (f"python benchmarks/fuzz_env.py --actions {args.actions} --vector-steps {args.vector_steps} "
               f"--copy-episodes {args.copy_episodes} --seed {args.seed}")
    lines = [
        SECTION, "",
        f"Measured {datetime.date.today().isoformat()} on {machine()}; command: `{command}`.", "",
        f"Single envs: {single['sent']:,} random actions over {single['envs']} envs (team, static and monolithic on Synthetic; team on "
        f"the HotpotQA dev file with per-question corpora): {single['episodes']:,} episodes ended, {single['invalid']:,} outputs "
        f"penalised as invalid, **{single['errors']} exceptions**, longest episode {single['longest']} steps (within the step cap), "
        f"{single_s:.1f} s.", "",
        f"Vector envs: 4 sub-envs, {args.vector_steps:,} steps per paradigm and mode, random valid and invalid actions.", "",
        "| paradigm | mode | steps | episodes ended | invalid outputs | exceptions | steps, other info keys | same trajectory, 3 modes | s |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for name, mode, r, same in rows:
        lines.append(f"| {name} | {mode} | {r['steps']:,} | {r['episodes']:,} | {r['invalid']:,} | {r['errors']} | {r['key_changes']} | "
                     f"{'yes' if same else 'NO'} ({r['digest']}) | {r['seconds']:.1f} |")
    lines += ["", f"Copies at a random step (0-3 random actions after reset) of {args.copy_episodes} episodes per paradigm; episodes "
              "that end sooner are replayed from their seed and copied one step before their end:", "",
              "| paradigm | copy | episodes compared | remaining trajectory differs |", "|---|---|---:|---:|"]
    lines += [f"| {name} | {how} | {compared} | {d} |" for name, how, compared, d in copies]
    lines += ["", f"Total: **{errors} exceptions**, {changes} steps whose info keys changed, {disagreements} runs whose trajectory "
              f"differs from another mode's, {diverged} copies that diverged."]
    body = "\n".join(lines) + "\n"
    write_section(SECTION, body)
    print(body)
    if errors or changes or disagreements or diverged:
        sys.exit(1)


if __name__ == "__main__":
    main()
