"""Random actions for fuzzing the JadeRAG envs, and the check that a copy of a running env continues exactly.

:func:`random_action` is what ``benchmarks/fuzz_env.py`` and the tests send into the envs. About half of the
actions are valid outputs of the acting role (so that episodes go deep: decompositions, sub-plans, document
selections), the rest is junk: arbitrary Unicode (control characters, emoji, other scripts), empty strings,
a megabyte of text, nested and unclosed tags, wrong tags, document ids out of range, 50 sub-questions.
Everything is drawn from the given :class:`random.Random`, so a seed gives the same actions.

:func:`check_copies` takes a copy of an env at a random step of many episodes (``copy.deepcopy``, or a
``pickle`` round trip, or any function) and compares the two remaining trajectories byte for byte.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

VALID: dict[str, tuple[str, ...]] = {
    "planner": ("<workflow>QDS</workflow>", "<workflow>QDP</workflow>", "<workflow>R,AG</workflow>", "<workflow>R,DS,AG</workflow>",
                "<workflow>QR,R,DS,AG</workflow>", "<workflow>AG</workflow>", "<workflow>QR,AG</workflow>"),
    "qds": ("<q1>Who made it?</q1><q2>Where was #1 born?</q2>", "<q1>When did it open?</q1>"),
    "qdp": ("<q1>When was the first born?</q1><q2>When was the second born?</q2>",),
    "qr": ("<query>some search words</query>", "<query>founder birthplace</query>"),
    "ds": ("<id>Document0,Document2</id>", "<id></id>", "<id>Document1</id>"),
    "ag": ("<answer>an answer</answer>", "<answer>yes</answer>"),
    "as": ("<answer>the final answer</answer>",),
    "agent": ("<search>who directed</search>", "Let me think. <search>born in</search>", "<answer>an answer</answer>"),
}
ALL_VALID: tuple[str, ...] = tuple(a for actions in VALID.values() for a in actions)


def junk(rng: random.Random) -> str:
    """One malformed output."""
    kind = rng.randrange(9)
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
    return rng.choice(ALL_VALID)  # a valid output of some other role


def random_action(rng: random.Random, role: str, fields: str = "{}") -> str:
    """A random action for ``role``: half the time one of its valid outputs (using the observation's ``fields``)."""
    if rng.random() < 0.5 and role in VALID:
        if role == "ds":
            try:
                n = len(json.loads(fields).get("documents", []))
            except (json.JSONDecodeError, AttributeError):
                n = 0
            keep = sorted(rng.sample(range(n), rng.randrange(n + 1))) if n else []
            return "<id>" + ",".join(f"Document{i}" for i in keep) + "</id>"
        return rng.choice(VALID[role])
    return junk(rng)


def random_trajectory(env: Any, rng: random.Random, obs: dict[str, str], max_steps: int = 40) -> list[str]:
    """Random actions until the episode ends (at most ``max_steps``); one JSON line per step (obs, reward, ends, info)."""
    out = []
    for _ in range(max_steps):
        obs, reward, terminated, truncated, info = env.step(random_action(rng, obs["role"], obs["fields"]))
        out.append(json.dumps([obs, reward, terminated, truncated, info], sort_keys=True))
        if terminated or truncated:
            break
    return out


def check_copies(make: Callable[[], Any], clone: Callable[[Any], Any], episodes: int, seed: int = 0) -> tuple[int, int]:
    """For each episode, ``clone(env)`` at a random step; returns (episodes compared, copies that diverged).

    The copy is taken after 0-3 random actions; when the episode ends sooner, it is replayed from its seed
    to the step before its end and copied there, so every episode is compared. ``make`` builds the env (a
    ``gym.make`` result or an unwrapped JadeRAG env).
    """
    env = make()
    rng = random.Random(seed)
    diverged = 0
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        actions: list[str] = []
        for _ in range(rng.randrange(0, 4)):
            actions.append(random_action(rng, obs["role"], obs["fields"]))
            obs, _, terminated, truncated, _ = env.step(actions[-1])
            if terminated or truncated:  # same seed, same actions: the same episode, stopped one step earlier
                obs, _ = env.reset(seed=seed + episode)
                for action in actions[:-1]:
                    obs, *_ = env.step(action)
                break
        twin = clone(env)
        twin_obs = twin.unwrapped.observe(twin.unwrapped.episode)  # what the copy itself shows
        tail = rng.randrange(2**31)
        original = random_trajectory(env, random.Random(tail), obs)
        copied = random_trajectory(twin, random.Random(tail), twin_obs)
        diverged += twin_obs != obs or original != copied
    env.close()
    return episodes, diverged
