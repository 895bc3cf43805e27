"""Run folders (issue 15): bad lines kept aside and counted, every episode in the metrics, one writer at a time,
atomic writes, checkpoints that survive a kill during their save, re-evaluation after a resume, movable folders."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from baselines.evaluate import evaluate
from jade_env.errors import JadeError
from jade_env.run_folder import LOCK_NAME, RunLock, atomic_file, atomic_write, json_line

SYN_KW = {"n": 200, "synthetic": {"seed": 4}}
N = 30
FILES = ("predictions.jsonl", "trajectories.jsonl", "metrics.json")
REPO = Path(__file__).resolve().parents[1]


def run(out: Path) -> dict:
    return evaluate("JadeRAG-Synthetic-v0", "rule-planner", out, env_kwargs=SYN_KW, limit=N, progress=False)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    run(out)
    return out


def damaged_copy(clean: Path, tmp_path: Path, name: str, edit) -> tuple[Path, list[bytes]]:
    """A copy of the clean run folder whose ``name`` has its lines edited by ``edit(lines) -> lines``; returns (folder, the lines)."""
    out = tmp_path / "run"
    shutil.copytree(clean, out)
    lines = edit((out / name).read_bytes().splitlines(keepends=True))
    (out / name).write_bytes(b"".join(lines))
    return out, lines


def assert_same_as_clean(out: Path, clean: Path) -> None:
    for name in FILES:
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name


def assert_nothing_lost(out: Path, name: str, lines: list[bytes]) -> None:
    """Every line the damaged file held is in the file or, byte for byte, in its side file."""
    kept = set((out / name).read_bytes().splitlines())
    rejected = (out / f"{name}.rejected").read_bytes().splitlines() if (out / f"{name}.rejected").exists() else []
    for line in lines:
        assert line.rstrip(b"\n") in kept or line.rstrip(b"\n") in rejected, line[:60]


@pytest.mark.parametrize("name", ["predictions.jsonl", "trajectories.jsonl"])
@pytest.mark.parametrize("position", [0, 9, N // 2, N - 1])
def test_a_bad_line_anywhere_is_moved_aside_and_the_run_completes_unchanged(clean: Path, tmp_path: Path, name: str,
                                                                             position: int) -> None:
    def edit(lines: list[bytes]) -> list[bytes]:
        return lines[:position] + [lines[position][:25] + b"\xff garbage\n"] + lines[position + 1:]

    out, lines = damaged_copy(clean, tmp_path, name, edit)
    with pytest.warns(UserWarning, match=rf"{name}: 1 bad line\(s\) moved to {name}.rejected, {N - 1} kept \(line {position + 1}: "):
        metrics = run(out)
    assert metrics["n"] == N  # every recorded episode, not those before the bad line
    assert_same_as_clean(out, clean)
    assert_nothing_lost(out, name, lines)


@pytest.mark.parametrize("line", [b"[1, 2]\n", b"null\n", b"42\n", b'"text"\n', b'{"id": 3}\n', b"{}\n"])
def test_a_json_line_that_is_not_a_valid_record_is_a_bad_line(clean: Path, tmp_path: Path, line: bytes) -> None:
    for name in ("predictions.jsonl", "trajectories.jsonl"):
        out, lines = damaged_copy(clean, tmp_path / name, name, lambda ls: ls[:5] + [line] + ls[5:])
        with pytest.warns(UserWarning, match="1 bad line"):
            run(out)
        assert_same_as_clean(out, clean)
        assert (out / f"{name}.rejected").read_bytes() == line


def test_repeated_ids_and_lines_of_a_killed_writer(clean: Path, tmp_path: Path) -> None:
    """Two writers' worth of lines (every id twice) and a torn last line: one line per id is kept, the rest set aside."""
    out, lines = damaged_copy(clean, tmp_path, "predictions.jsonl", lambda ls: ls + ls + [ls[0][:30]])
    with pytest.warns(UserWarning, match=rf"{N + 1} bad line"):
        run(out)
    assert_same_as_clean(out, clean)
    assert_nothing_lost(out, "predictions.jsonl", lines)


def test_a_prediction_line_lost_with_its_trajectory_kept_is_rebuilt(clean: Path, tmp_path: Path) -> None:
    out, _ = damaged_copy(clean, tmp_path, "predictions.jsonl", lambda ls: ls[:7] + ls[8:])
    run(out)
    assert_same_as_clean(out, clean)
    assert not (out / "predictions.jsonl.rejected").exists()


def test_a_prediction_without_its_trajectory_is_kept_aside_and_its_episode_runs_again(clean: Path, tmp_path: Path) -> None:
    out, _ = damaged_copy(clean, tmp_path, "trajectories.jsonl", lambda ls: ls[:7] + ls[8:])
    with pytest.warns(UserWarning, match="1 line\\(s\\) without a valid trajectory moved to predictions.jsonl.rejected"):
        run(out)
    assert_same_as_clean(out, clean)
    assert (out / "predictions.jsonl.rejected").read_bytes() == (clean / "predictions.jsonl").read_bytes().splitlines(keepends=True)[7]


@pytest.mark.parametrize("name", ["predictions.jsonl", "trajectories.jsonl"])
@pytest.mark.parametrize("seed", range(4))
def test_bits_flipped_inside_valid_lines_are_found(clean: Path, tmp_path: Path, name: str, seed: int) -> None:
    """A flip that keeps the line valid JSON: the trajectory's checksum, or the prediction's disagreement with it, tells."""
    rng = random.Random(seed)

    def edit(lines: list[bytes]) -> list[bytes]:
        data = bytearray(b"".join(lines))
        for _ in range(5):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data).splitlines(keepends=True)

    out, lines = damaged_copy(clean, tmp_path, name, edit)
    with pytest.warns(UserWarning, match="moved to"):
        run(out)
    assert_same_as_clean(out, clean)
    assert_nothing_lost(out, name, lines)


def test_a_second_writer_gets_one_clear_error_and_the_folder_stays_valid(clean: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    with RunLock(out, "a test holding the folder"):
        cmd = [sys.executable, "-m", "jade_env.cli", "evaluate", "--env", "JadeRAG-Synthetic-v0", "--agent", "rule-planner",
               "--env-kwargs", json.dumps(SYN_KW), "--limit", str(N), "--quiet", "--out", str(out)]
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert f"is in use by a test holding the folder (pid {os.getpid()}" in second.stderr
        with pytest.raises(JadeError, match="is in use by"):  # in-process too
            run(out)
    assert not (out / "predictions.jsonl").exists()
    run(out)
    assert_same_as_clean(out, clean)
    assert (out / LOCK_NAME).read_text() == ""  # released


def test_a_lock_left_by_a_killed_process_is_taken_over(clean: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    script = textwrap.dedent(f"""
        import os, signal
        from jade_env.run_folder import RunLock, atomic_file
        lock = RunLock({str(out)!r}, "a writer that is killed").__enter__()
        with atomic_file({str(out / "metrics.json")!r}) as f:
            f.write(b"half of a file")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert "a writer that is killed" in (out / LOCK_NAME).read_text() and list(out.glob("metrics.json.*.tmp"))
    with pytest.warns(UserWarning, match="taking over the lock of a writer that is killed"):
        run(out)
    assert_same_as_clean(out, clean)
    assert not list(out.glob("*.tmp"))  # its temporary file was removed under the lock


def test_a_folder_that_cannot_be_written_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(JadeError, match="a-file: cannot write a run folder here"):
        run(tmp_path / "a-file")


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    atomic_write(path, '{"a": 1}')
    with pytest.raises(RuntimeError), atomic_file(path) as f:
        f.write(b'{"a": 2, "b"')
        raise RuntimeError("disk full")
    assert path.read_text() == '{"a": 1}' and list(tmp_path.iterdir()) == [path]


def test_json_line_writes_lone_surrogates_escaped_and_reads_back_the_same(tmp_path: Path) -> None:
    record = {"action": "<answer>x\ud800</answer>", "text": "ünïcode ✓"}
    line = json_line(record)
    assert line.endswith("\n") and "\\ud800" in line
    path = tmp_path / "t.jsonl"
    path.write_text(line, encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8")) == record
    assert json_line({"text": "ünïcode"}) == '{"text": "ünïcode"}\n'  # readable text stays as it is


# ----------------------------------------------------------------------------- checkpoints (baselines/train.py)
sb3 = pytest.importorskip("sb3_contrib", reason="the rl extra is not installed")

TRAIN = {"env_kwargs": json.dumps({"n": 200, "synthetic": {"seed": 0}}), "eval_kwargs": json.dumps({"n": 30, "synthetic": {"seed": 1}}),
         "n_steps": 128, "batch_size": 64, "log_every": 128, "bc_episodes": 20, "bc_epochs": 2, "paradigm": "joint"}


def kill_during_saves(checkpoint: Path, kills: int = 2, attempts: int = 40) -> int:
    """SIGKILL a process that saves ``checkpoint`` over and over, at the moment a save's temporary file exists; kills that left one."""
    script = textwrap.dedent(f"""
        import sys
        from sb3_contrib import MaskablePPO
        from baselines.train import save_model
        model = MaskablePPO.load({str(checkpoint)!r})
        print("ready", flush=True)
        while True:
            save_model(model, sys.argv[1])
    """)
    torn = 0
    for _ in range(attempts):
        seen = set(checkpoint.parent.glob(f"{checkpoint.name}.*.tmp"))
        saver = subprocess.Popen([sys.executable, "-c", script, str(checkpoint)], cwd=REPO, stdout=subprocess.PIPE)
        assert saver.stdout.readline() == b"ready\n"
        while set(checkpoint.parent.glob(f"{checkpoint.name}.*.tmp")) == seen:
            pass
        saver.send_signal(signal.SIGKILL)
        assert saver.wait(timeout=30) == -signal.SIGKILL
        torn += len(set(checkpoint.parent.glob(f"{checkpoint.name}.*.tmp")) - seen)
        sb3.MaskablePPO.load(checkpoint)  # loadable after every kill
        if torn >= kills:
            break
    return torn


def test_a_kill_during_a_checkpoint_save_leaves_the_previous_checkpoint_loadable(tmp_path: Path) -> None:
    from baselines.train import Args, train, weights_sha256

    folder = tmp_path / "run"
    train(Args(steps=128, out=str(folder), **TRAIN))
    before = weights_sha256(sb3.MaskablePPO.load(folder / "model.zip"))
    assert kill_during_saves(folder / "model.zip") >= 2  # kills that landed mid-save: their torn archives lie beside the checkpoint
    model = sb3.MaskablePPO.load(folder / "model.zip")
    assert model.num_timesteps == 128 and weights_sha256(model) == before
    train(Args(steps=256, out=str(folder), **TRAIN))  # the run resumes from it
    assert sb3.MaskablePPO.load(folder / "model.zip").num_timesteps == 256
    assert not list(folder.glob("*.tmp"))  # the dead savers' temporary files were removed under the run lock
    assert weights_sha256(sb3.MaskablePPO.load(folder / "model.zip")) != weights_sha256(model)


def test_a_resumed_run_drops_the_rows_logged_after_its_checkpoint(tmp_path: Path) -> None:
    """A run killed after its checkpoint at step S logged rows past S: the rerun trains those steps again, so their rows
    are dropped first (they were written twice), and the episode count goes on from the last row kept. Without any
    checkpoint the run starts over, and so do its logs."""
    import csv

    from baselines.train import Args, train

    folder = tmp_path / "run"
    train(Args(steps=256, out=str(folder), checkpoint_every=128, eval_every=128, curve_episodes=5, **TRAIN))
    model = sb3.MaskablePPO.load(folder / "model.zip")
    model.num_timesteps = 128  # as if killed after the checkpoint at 128, with the rows of 256 already written
    model.save(folder / "model.zip")
    train(Args(steps=384, out=str(folder), checkpoint_every=128, eval_every=128, curve_episodes=5, **TRAIN))
    for name, want in (("metrics.csv", [128, 256, 384]), ("curve.csv", [0, 128, 256, 384])):
        rows = list(csv.reader((folder / name).open()))[1:]
        assert [int(r[0]) for r in rows] == want, name
    episodes = [int(r[1]) for r in list(csv.reader((folder / "metrics.csv").open()))[1:]]
    assert episodes == sorted(episodes) and len(set(episodes)) == 3
    (folder / "model.zip").unlink()  # no checkpoint: the run and its logs start again
    train(Args(steps=128, out=str(folder), checkpoint_every=128, eval_every=128, curve_episodes=5, **TRAIN))
    assert [int(r[0]) for r in list(csv.reader((folder / "curve.csv").open()))[1:]] == [0, 128]
    assert [int(r[0]) for r in list(csv.reader((folder / "metrics.csv").open()))[1:]] == [128]


def test_a_resume_with_more_steps_evaluates_again_and_the_folder_can_move(tmp_path: Path) -> None:
    from baselines.train import Args, train, weights_sha256

    first = tmp_path / "first"
    train(Args(steps=128, out=str(first), **TRAIN))
    old_eval = json.loads((first / "eval" / "config.json").read_text())["agent_kwargs"]["model_sha256"]
    moved = tmp_path / "moved"
    first.rename(moved)
    assert json.loads((moved / "config.json").read_text())["out"] == "."
    metrics = train(Args(steps=256, out=str(moved), **TRAIN))  # a moved folder resumes: no "another configuration"
    sha = weights_sha256(sb3.MaskablePPO.load(moved / "model.zip"))
    assert sha != old_eval
    assert json.loads((moved / "eval" / "config.json").read_text())["agent_kwargs"]["model_sha256"] == sha
    assert json.loads((moved / "summary.json").read_text())["model_sha256"] == sha
    fresh = tmp_path / "fresh-eval"
    from baselines.discrete_env import TrainedTeam
    from baselines.evaluate import evaluate_agent
    from baselines.train import PARADIGMS, env_id_of, frozen_executors

    args = Args(steps=256, out=str(moved), **TRAIN)
    agent = TrainedTeam(sb3.MaskablePPO.load(moved / "model.zip"), roles=PARADIGMS["joint"].roles, allow_ds=True,
                        fallback=frozen_executors(args, epsilon=0.0, seed=0))
    again = evaluate_agent(env_id_of(args.env, PARADIGMS["joint"]), lambda examples: agent, fresh, agent_name="compact-joint",
                           agent_kwargs={"model_sha256": sha}, env_kwargs=json.loads(args.eval_kwargs), progress=False)
    assert (fresh / "predictions.jsonl").read_bytes() == (moved / "eval" / "predictions.jsonl").read_bytes()
    assert again["f1"] == metrics["f1"]
