"""The environment core: every Synthetic id as registered, vector envs in three modes, one info schema,
copies and pickles mid-episode, and an import graph without cycles. None of it needs ../shared."""

from __future__ import annotations

import ast
import copy
import json
import pickle
import random
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from episodes import SYN, continuation_matches
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import api_test, parallel_api_test, seed_test

import jade_env
from jade_env.envs.info import INFO_KEYS, JSON_KEYS, decode
from jade_env.errors import JadeError
from jade_env.fuzzing import random_action
from jade_env.registration import registered_ids

REPO = Path(__file__).resolve().parents[1]
SYNTHETIC_IDS = [eid for eid, entry, _, _ in registered_ids() if entry.dataset == "synthetic"]
PARADIGM_IDS = ["JadeRAG-Synthetic-v0", "JadeRAG-Synthetic-Decoupled-v0", "JadeRAG-Synthetic-Static-v0", "JadeRAG-Synthetic-Monolithic-v0"]


@pytest.mark.parametrize("env_id", SYNTHETIC_IDS)
def test_check_env_on_every_synthetic_id_as_registered(env_id: str) -> None:
    env = gym.make(env_id)  # no keywords at all: the registered defaults must work
    check_env(env.unwrapped, skip_render_check=True)
    json.dumps(env.spec.kwargs)  # a spec that can be written down
    env.close()


def test_pettingzoo_tests_on_synthetic_without_shared_data() -> None:
    api_test(jade_env.team_env("synthetic", **SYN), num_cycles=60)
    seed_test(lambda: jade_env.team_env("synthetic", **SYN), num_cycles=60)
    parallel_api_test(jade_env.team_parallel_env("synthetic", **SYN), num_cycles=60)


def shape(value):
    """Keys and value types, recursively through dicts."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return type(value).__name__


@pytest.mark.parametrize("env_id", PARADIGM_IDS)
def test_one_info_schema_at_every_step(env_id: str) -> None:
    env = gym.make(env_id, **SYN)
    rng = random.Random(0)
    obs, info = env.reset(seed=0)
    expected = shape(info)
    assert list(info) == list(INFO_KEYS)
    for _ in range(150):
        obs, reward, terminated, truncated, info = env.step(random_action(rng, obs["role"], obs["fields"]))
        assert shape(info) == expected, "the same keys and types at every step, the last one included"
        for key in JSON_KEYS:
            assert isinstance(json.loads(info[key]), list)
        if terminated or truncated:
            assert info["episode_end"] and decode(info)["gold_answers"]
            obs, info = env.reset()
            assert shape(info) == expected
    env.close()


def play_vector(env_id: str, mode: str, steps: int, seed: int = 7, **kwargs) -> list[str]:
    """A run of random actions on 3 sub-envs; one canonical line per step (observations, rewards, ends, info)."""
    vector_kwargs = {"context": "spawn"} if mode == "async" else None
    envs = gym.make_vec(env_id, num_envs=3, vectorization_mode=mode, vector_kwargs=vector_kwargs, **SYN, **kwargs)
    rng = random.Random(seed)
    obs, infos = envs.reset(seed=seed)
    keys = set(infos)
    lines = []
    ended_at: list[set[int]] = [set(), set(), set()]
    for t in range(steps):
        actions = [random_action(rng, role, fields) for role, fields in zip(obs["role"], obs["fields"], strict=True)]
        obs, rewards, terminated, truncated, infos = envs.step(actions)
        assert set(infos) == keys, f"step {t}: info keys changed"
        for i in np.flatnonzero(terminated | truncated):
            ended_at[i].add(t)
        steps = infos["counters"]["steps"]
        lines.append(json.dumps([list(obs["role"]), list(obs["question"]), list(obs["fields"]), rewards.round(9).tolist(),
                                 terminated.tolist(), truncated.tolist(), list(infos["question_id"]), list(infos["prediction"]),
                                 {r: steps[r].tolist() for r in sorted(steps)}]))
    envs.close()
    assert len({frozenset(s) for s in ended_at}) > 1, "the sub-envs should end on different steps"
    return lines


# the Static id's graph QR,R,DS,AG always takes three steps: its episodes end together unless it decomposes
VECTOR_CASES = [(PARADIGM_IDS[0], {}), (PARADIGM_IDS[1], {}), (PARADIGM_IDS[2], {"workflow": "QDS"}), (PARADIGM_IDS[3], {})]


@pytest.mark.parametrize(("env_id", "kwargs"), VECTOR_CASES, ids=[c[0] for c in VECTOR_CASES])
def test_vector_envs_in_three_modes_agree_and_never_crash(env_id: str, kwargs: dict) -> None:
    runs = {mode: play_vector(env_id, mode, steps=40, **kwargs) for mode in ("vector_entry_point", "sync", "async")}
    assert runs["vector_entry_point"] == runs["sync"] == runs["async"]


def test_async_vector_env_carries_lone_surrogates_as_the_sync_one_does() -> None:
    """A model's odd token (a lone surrogate) is shown back in the next observation (the monolithic conversation, a
    sub-question): the async env's shared memory must carry it, not kill the worker."""
    actions = {"JadeRAG-Synthetic-Monolithic-v0": "thinking \ud800 <search>born</search>",
               "JadeRAG-Synthetic-v0": "<workflow>QDS</workflow>"}
    for env_id, first in actions.items():
        runs = {}
        for mode in ("sync", "async"):
            envs = gym.make_vec(env_id, num_envs=2, vectorization_mode=mode,
                                vector_kwargs={"context": "spawn"} if mode == "async" else None, **SYN)
            envs.reset(seed=0)
            obs = envs.step([first] * 2)[0]
            if env_id == "JadeRAG-Synthetic-v0":  # the decomposer's sub-question comes back as the planner's question
                obs = envs.step(["<q1>who \ud800 is it</q1>"] * 2)[0]
            runs[mode] = {k: list(v) for k, v in obs.items()}
            envs.close()
        assert runs["sync"] == runs["async"] and "\ud800" in json.dumps(runs["sync"], ensure_ascii=False), env_id


def test_batched_vector_env_serves_all_retrievals_in_one_call() -> None:
    envs = gym.make_vec("JadeRAG-Synthetic-Decoupled-v0", num_envs=4, vectorization_mode="vector_entry_point", **SYN)
    retriever = envs.unwrapped.env.retrievers.shared
    calls: list[int] = []
    search = retriever.search
    retriever.search = lambda queries, k: calls.append(len(queries)) or search(queries, k)
    envs.reset(seed=0)
    envs.step(["<workflow>QDP</workflow>"] * 4)  # the scripted QDP splits, then the planner is asked per sub-question
    envs.step(["<workflow>R,AG</workflow>"] * 4)
    assert calls == [4]  # four sub-questions' retrievals in one batched call
    envs.close()


@pytest.mark.parametrize("env_id", PARADIGM_IDS)
def test_deepcopy_mid_episode_continues_exactly(env_id: str) -> None:
    compared = continuation_matches(lambda: gym.make(env_id, **SYN), copy.deepcopy, episodes=200 if env_id == PARADIGM_IDS[0] else 40)
    assert compared >= 15


@pytest.mark.parametrize("env_id", PARADIGM_IDS)
def test_pickle_mid_episode_continues_exactly(env_id: str) -> None:
    assert continuation_matches(lambda: gym.make(env_id, **SYN), lambda e: pickle.loads(pickle.dumps(e)), episodes=30) >= 10


def test_copies_with_the_replay_cache(tmp_path: Path) -> None:
    def make():
        return gym.make("JadeRAG-Synthetic-v0", replay_cache=str(tmp_path / "replay.sqlite"), **SYN)
    assert continuation_matches(make, copy.deepcopy, episodes=20) >= 5
    assert continuation_matches(make, lambda e: pickle.loads(pickle.dumps(e)), episodes=20, seed=1) >= 5


def test_a_copy_shares_the_retrievers_and_the_split() -> None:
    env = gym.make("JadeRAG-Synthetic-v0", **SYN)
    env.reset(seed=0)
    twin = copy.deepcopy(env)
    assert twin.unwrapped.retrievers is env.unwrapped.retrievers and twin.unwrapped.examples is env.unwrapped.examples
    assert twin.unwrapped.episode is not env.unwrapped.episode and twin.unwrapped.np_random is not env.unwrapped.np_random


# ---------------------------------------------------------------------------------------------- the import graph
def imports_of(path: Path, package_root: Path) -> set[str]:
    """The project modules ``path`` imports (absolute imports of jade_env, baselines, leaderboard), at any depth."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] in ("jade_env", "baselines", "leaderboard"))
    return found


def module_graph() -> dict[str, set[str]]:
    files = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
             for pkg in ("jade_env", "baselines", "leaderboard") for p in (REPO / pkg).rglob("*.py")}
    graph = {}
    for module, path in files.items():
        graph[module] = {m for m in imports_of(path, REPO) if m in files and m != module}
    return graph


def test_no_cycle_in_the_import_graph_and_jade_env_never_imports_baselines() -> None:
    graph = module_graph()
    for module, deps in graph.items():
        if module.startswith("jade_env"):
            assert not any(d.startswith(("baselines", "leaderboard")) for d in deps), f"{module} imports {deps}"
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if dep.startswith(node + "."):
                continue  # a package importing its own submodules in __init__ is not a cycle
            if state.get(dep) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(stack[stack.index(dep):] + [dep])}")
            if dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_no_module_touches_another_modules_private_names() -> None:
    """An underscore name defined in one project module is used by no other (no hidden friend API)."""
    trees = {p: ast.parse(p.read_text()) for pkg in ("jade_env", "baselines", "leaderboard") for p in (REPO / pkg).rglob("*.py")}
    defined: dict[Path, set[str]] = {}
    for path, tree in trees.items():
        names = defined.setdefault(path, set())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name.startswith("_"):
                names.add(node.name)
            elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and node.attr.startswith("_")
                  and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id.startswith("_"):
                names.add(node.id)
    offenders = []
    for path, tree in trees.items():
        elsewhere = set().union(*(names for other, names in defined.items() if other != path)) - defined[path]
        for node in ast.walk(tree):
            used = []
            if isinstance(node, ast.Attribute) and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                used = [node.attr]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("jade_env", "baselines", "leaderboard"):
                used = [a.name for a in node.names]
            offenders += [f"{path.relative_to(REPO)}:{node.lineno} {n}" for n in used
                          if n.startswith("_") and not n.startswith("__") and n in elsewhere]
    assert not offenders, offenders


def test_a_time_limit_truncation_ends_with_the_score_of_the_best_answer_so_far() -> None:
    env = gym.make("JadeRAG-Synthetic-v0", max_episode_steps=4, **SYN)
    gold = env.unwrapped.examples[0].answers[0]
    obs, info = env.reset(options={"index": 0})
    assert info["prediction"] == "" and info["metrics"]["f1"] == 0.0
    actions = ["<workflow>QDP</workflow>", "<q1>x?</q1><q2>y?</q2>", "<workflow>AG</workflow>", f"<answer>{gold}</answer>"]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
    assert truncated and not terminated and not info["episode_end"]  # the TimeLimit, not the episode, ended it
    assert info["prediction"] == gold and info["metrics"]["f1"] == 1.0  # what the team had found: the first sub-answer


def test_pettingzoo_max_cycles_caps_the_agent_steps() -> None:
    env = jade_env.team_env("synthetic", max_cycles=2, **SYN)
    env.reset(seed=0, options={"index": 0})
    steps = 0
    for agent in env.agent_iter(max_iter=50):
        obs, reward, terminated, truncated, info = env.last()
        if terminated or truncated:
            assert truncated and info["episode_end"]
            env.step(None)
            continue
        env.step("<workflow>QDS</workflow>" if agent == "planner" else "<q1>a?</q1><q2>b?</q2>")
        steps += 1
    assert steps == 2
    with pytest.raises(ValueError, match="disagree"):
        jade_env.team_env("synthetic", max_cycles=2, max_steps=5, **SYN)


def _spoil(value: dict) -> None:
    """Overwrite every value of a returned dict in place, nested dicts included."""
    for key, item in value.items():
        if isinstance(item, dict):
            _spoil(item)
        else:
            value[key] = "spoiled"


@pytest.mark.parametrize("env_id", ["JadeRAG-Synthetic-v0", "JadeRAG-Synthetic-Monolithic-v0"])
def test_changing_a_returned_info_or_observation_changes_nothing_that_follows(env_id: str) -> None:
    """Infos start from a kept per-question dict and observations from a kept per-request one: what a caller does to
    the dicts it was given must not reach the next step, the next episode or another env."""
    from baselines.agents import make_agent

    team = make_agent("rule-planner")

    def act(obs: dict) -> str:
        if obs["role"] != "agent":
            return team.act(obs["role"], obs)
        documents = json.loads(obs["fields"])["documents"]  # the search agent: search once, then answer
        return f"<answer>{documents[0]['title']}</answer>" if documents else f"<search>{obs['question']}</search>"

    def play(env, spoil: bool) -> list:
        seen = []
        for seed in (0, 1, 0, 0, 2):  # seed 0 three times: the same questions and requests again
            obs, info = env.reset(seed=seed)
            done = False
            while True:
                seen.append(copy.deepcopy((obs, info)))
                if done:
                    break
                action = act(obs)
                if spoil:
                    _spoil(obs)
                    _spoil(info)
                obs, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
            if spoil:
                _spoil(obs)
                _spoil(info)
        return seen

    clean = play(gym.make(env_id, **SYN), spoil=False)
    assert play(gym.make(env_id, **SYN), spoil=True) == clean
    assert play(gym.make(env_id, **SYN), spoil=False) == clean  # nothing the spoiled env kept at module level leaked


def test_controlled_roles_that_a_workflow_skips_are_drawn_again_never_a_finished_reset() -> None:
    """Controlling roles the executors' workflows do not always reach (the scripted planner decomposes a third of the
    questions): every reset must still give the caller a turn (questions it would not act on are drawn again, the
    same way in every mode), a pinned question without a turn says so, and roles never reached are named."""
    env = gym.make("JadeRAG-Synthetic-v0", controlled_roles=["qds"], **SYN)
    obs, _ = env.reset(seed=4)
    for _ in range(40):
        assert obs["role"] == "qds"
        obs, _, terminated, truncated, _ = env.step("<q1>a</q1><q2>b</q2>")
        if terminated or truncated:
            obs, _ = env.reset()
    check_env(gym.make("JadeRAG-Synthetic-v0", controlled_roles=["qds"], **SYN).unwrapped)
    runs = {}
    for mode in ("vector_entry_point", "sync"):
        envs = gym.make_vec("JadeRAG-Synthetic-v0", num_envs=3, vectorization_mode=mode, controlled_roles=["qds"], **SYN)
        obs, _ = envs.reset(seed=0)
        lines = []
        for _ in range(12):
            obs, rewards, terminated, truncated, infos = envs.step(["<q1>a</q1><q2>b</q2>"] * 3)
            assert all(role == "qds" or end for role, end in zip(obs["role"], terminated | truncated, strict=True))
            lines.append(json.dumps([list(obs["question"]), rewards.tolist(), list(infos["question_id"])]))
        runs[mode] = lines
        envs.close()
    assert runs["vector_entry_point"] == runs["sync"]
    refused = []
    for i in range(30):  # a pinned question cannot be drawn again: the ones without a QDS turn say so
        try:
            assert env.reset(options={"index": i})[0]["role"] == "qds"
        except JadeError as err:
            refused.append(str(err))
    assert 0 < len(refused) < 30 and all("roles you control (qds), so there is nothing to play" in m for m in refused)
    with pytest.raises(JadeError, match="100 questions drawn in a row.*roles you control \\(ds\\)"):
        gym.make("JadeRAG-Synthetic-v0", controlled_roles=["ds"], **SYN).reset(seed=0)
    for bad, message in (([], "is empty"), ("planner", r"such as \['planner'\], got 'planner'"), (3, "got 3")):
        with pytest.raises(ValueError, match=message):
            gym.make("JadeRAG-Synthetic-v0", controlled_roles=bad, **SYN)


def test_batched_vector_env_takes_max_episode_steps_and_refuses_malformed_batches() -> None:
    """``make_vec`` passes ``max_episode_steps`` to a vector entry point: it cuts episodes as TimeLimit does in sync mode."""
    ends = {}
    for mode in ("vector_entry_point", "sync"):
        envs = gym.make_vec("JadeRAG-Synthetic-v0", num_envs=2, vectorization_mode=mode, max_episode_steps=2, **SYN)
        envs.reset(seed=0)
        ends[mode] = [[x.tolist() for x in envs.step(["<workflow>QDS</workflow>"] * 2)[1:4]] for _ in range(6)]
        envs.close()
    assert ends["vector_entry_point"] == ends["sync"] and any(any(truncated) for _, _, truncated in ends["sync"])
    # an episode that ends on its last allowed step is terminated and truncated both, as TimeLimit has it
    for env_id, action, limit in (("JadeRAG-Synthetic-Monolithic-v0", "<answer>x</answer>", 1),
                                  ("JadeRAG-Synthetic-v0", "<workflow>R,AG</workflow><answer>x</answer>", 2)):
        for mode in ("vector_entry_point", "sync"):
            envs = gym.make_vec(env_id, num_envs=2, vectorization_mode=mode, max_episode_steps=limit, **SYN)
            envs.reset(seed=0)
            ends[mode] = [[x.tolist() for x in envs.step([action] * 2)[1:4]] for _ in range(5)]
            envs.close()
        assert ends["vector_entry_point"] == ends["sync"], env_id
        assert any(all(done) for _, *done in ends["sync"]), env_id
    envs = gym.make_vec("JadeRAG-Synthetic-v0", num_envs=2, vectorization_mode="vector_entry_point", **SYN)
    envs.reset(seed=0)
    for bad, message in (("ab", "got 'ab'"), (None, "got None"), (["a"], "got 1 actions"), (["a"] * 3, "got 3 actions")):
        with pytest.raises(ValueError, match=f"step\\(\\) takes a sequence of 2 actions, one per sub-env, {message}"):
            envs.step(bad)
    with pytest.raises(ValueError, match="got 1 indices for 2 sub-envs"):
        envs.reset(options={"index": [1]})
    with pytest.raises(ValueError, match="max_episode_steps must be a positive integer"):
        gym.make_vec("JadeRAG-Synthetic-v0", num_envs=2, vectorization_mode="vector_entry_point", max_episode_steps=0, **SYN)


BAD_MAKE = [
    ("JadeRAG-Synthetic-v0", {"token_counter": 3}, "token_counter must be a function"),
    ("JadeRAG-Synthetic-v0", {"workflow": 3}, "workflow=3 is not a workflow; expected text such as 'QR,R,DS,AG'"),
    ("JadeRAG-Synthetic-v0", {"sub_workflow": ["R", 1]}, "sub_workflow=.* is not a workflow"),
    ("JadeRAG-Synthetic-v0", {"synthetic": 3}, "synthetic must be a dict of keywords or None, got 3"),
    ("JadeRAG-Synthetic-v0", {"cache_dir": 5}, "cache_dir must be a path .* or None, got 5"),
    ("JadeRAG-Synthetic-v0", {"workflow": "QDP", "controlled_roles": ["qr"]},
     r"workflow='QDP' fixes every plan, so the only roles that act are qdp, ag, as, and controlled_roles=\['qr'\] has none"),
    ("JadeRAG-Synthetic-v0", {"replay_cache": 5}, "replay_cache must be a path .* or None, got 5"),
    ("JadeRAG-Synthetic-v0", {"retriever_kwargs": {"k1": "x"}}, "k1 must be a number >= 0 and finite, got 'x'"),
    ("JadeRAG-Synthetic-v0", {"retriever_kwargs": {"b": 1.5}}, r"b must be a number in \[0, 1\], got 1.5"),
    ("JadeRAG-Synthetic-Monolithic-v0", {"free_rounds": -1}, "free_rounds"),
    ("JadeRAG-Synthetic-v0", {"retriever_kwargs": [1]}, "retriever_kwargs must be a dict of keywords or None"),
    ("JadeRAG-Synthetic-v0", {"executor": "nope"}, "executor='nope' is unknown"),  # refused even with no role left to it
    ("JadeRAG-Synthetic-Monolithic-v0", {"strict_format": "x"}, "strict_format must be True or False"),
    ("JadeRAG-Synthetic-v0", {"format_penalty": 1.0}, "format_penalty=1.0 would pay for an invalid output"),
    ("JadeRAG-Synthetic-v0", {"render_mode": "human"}, "render_mode='human' is not supported; expected None or one of ansi"),
]


@pytest.mark.parametrize(("env_id", "bad", "message"), BAD_MAKE, ids=[next(iter(b)) for _, b, _ in BAD_MAKE])
def test_a_bad_make_keyword_is_refused_at_make_naming_it(env_id: str, bad: dict, message: str) -> None:
    with pytest.raises(JadeError if "executor" in bad or isinstance(bad.get("retriever_kwargs"), dict) else ValueError, match=message):
        gym.make(env_id, **{**SYN, **bad})


def test_a_pinned_index_of_the_wrong_type_is_named_as_such() -> None:
    env = gym.make("JadeRAG-Synthetic-v0", **SYN)
    for index in ("3", 1.0, None, np.array(3)):
        with pytest.raises(ValueError, match="options\\['index'\\] must be an integer question index, got"):
            env.reset(options={"index": index})
    with pytest.raises(ValueError, match="options\\['index'\\]=99 is out of range; expected 0 <= index < 60"):
        env.reset(options={"index": 99})
