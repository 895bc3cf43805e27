"""Fuzz run: many random actions into the environments; nothing may raise, every observation stays valid.

    python benchmarks/fuzz_env.py --actions 10000 [--seed 0]

Actions mix arbitrary Unicode (control characters, emoji, scripts), empty strings, one-megabyte
strings, nested and unclosed tags, wrong tags, document ids out of range, 50 sub-questions, and
valid outputs (so that episodes go deep). They go, in turn, to the team env, the static and
monolithic envs on Synthetic, and the HotpotQA team env over the real dev file. Reported: actions
sent, episodes ended, invalid outputs penalised, exceptions (must be 0), the longest episode (must
stay within the step cap), and the run time. The summary goes to the ``## Fuzz run`` section of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
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

VALID = ["<workflow>QDS</workflow>", "<workflow>QDP</workflow>", "<workflow>R,DS,AG</workflow>", "<workflow>QR,R,DS,AG</workflow>",
         "<workflow>AG</workflow>", "<q1>Who is it?</q1><q2>Where is #1?</q2>", "<query>some search words</query>",
         "<id>Document0,Document2</id>", "<id></id>", "<answer>an answer</answer>", "<search>who directed</search>"]


def random_action(rng: random.Random) -> str:
    kind = rng.randrange(12)
    if kind == 0:
        return ""
    if kind == 1:
        text = "".join(chr(rng.randrange(0, 0x2FFFF)) for _ in range(rng.randrange(1, 300)))
        return text.encode("utf-8", "replace").decode("utf-8", "replace")  # lone surrogates become "?"
    if kind == 2:
        return rng.choice("ab<>/") * 1_000_000
    if kind == 3:
        return "".join(f"<q{i}>s{i}?</q{i}>" for i in range(1, 51))
    if kind == 4:
        return f"<id>Document{rng.randrange(-3, 10**7)},Document{rng.randrange(0, 9)}</id>"
    if kind == 5:
        return "<answer><answer>x</answer>" if rng.random() < 0.5 else "<workflow>R,AG"
    if kind == 6:
        return f"<{rng.choice(['workflow', 'query', 'answer', 'id', 'q1', 'search', 'foo'])}>{rng.random()}</{rng.choice(['workflow', 'x'])}>"
    if kind == 7:
        return "\x00\x01\x02\x1b[31m\u202e\ufeff🙂" * rng.randrange(1, 50)
    return rng.choice(VALID)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import gymnasium as gym

    import jade_env  # noqa: F401

    syn = {"n": 300, "synthetic": {"seed": 1}}
    envs = [gym.make("JadeRAG-Synthetic-v0", **syn), gym.make("JadeRAG-Synthetic-Static-v0", **syn),
            gym.make("JadeRAG-Synthetic-Monolithic-v0", **syn)]
    dev = HERE.parent.parent / "shared" / "data" / "hotpotqa" / "hotpot_dev_distractor_v1_100.json"
    if dev.exists():
        envs.append(gym.make("JadeRAG-HotpotQA-v0", data_path=str(dev), corpus="per_question"))
    rng = random.Random(args.seed)
    sent = episodes = invalid = errors = 0
    longest = 0
    started = time.perf_counter()
    per_env = args.actions // len(envs)
    for env in envs:
        obs, info = env.reset(seed=args.seed)
        length = 0
        cap = getattr(env.unwrapped, "config", None)
        cap = cap.max_steps if cap is not None else env.unwrapped.max_turns
        for _ in range(per_env):
            try:
                obs, reward, terminated, truncated, info = env.step(random_action(rng))
                assert env.observation_space.contains(obs), "observation outside the space"
                assert info["valid"] or (info["message"] and info["penalty"] < 0), "invalid output without message/penalty"
            except Exception:
                errors += 1
                traceback.print_exc()
                obs, info = env.reset()
                continue
            sent += 1
            length += 1
            invalid += not info["valid"]
            if terminated or truncated:
                episodes += 1
                longest = max(longest, length)
                assert length <= cap, f"episode of {length} steps beyond the cap {cap}"
                length = 0
                obs, info = env.reset()
        env.close()
    seconds = time.perf_counter() - started
    body = "\n".join([
        SECTION, "",
        f"Measured {datetime.date.today().isoformat()} on {machine()}; "
        f"command: `python benchmarks/fuzz_env.py --actions {args.actions} --seed {args.seed}`.",
        "",
        f"{sent:,} random actions over {len(envs)} envs (team, static and monolithic on Synthetic; team on the HotpotQA dev file "
        f"with per-question corpora): {episodes:,} episodes ended, {invalid:,} outputs penalised as invalid, **{errors} exceptions**, "
        f"longest episode {longest} steps (within the step cap), {seconds:.1f} s.",
    ]) + "\n"
    write_section(SECTION, body)
    print(body)
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
