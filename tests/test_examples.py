"""The scripts of examples/ run as a user runs them (a subprocess each, small settings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script: str, *args: str, timeout: int = 300) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=EXAMPLES.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_maskable_ppo_in_a_few_lines() -> None:
    pytest.importorskip("sb3_contrib", reason="the rl extra is not installed")
    out = run("maskable_ppo.py", "--steps", "512")
    assert "workflow " in out and "F1 " in out


def test_the_pettingzoo_team() -> None:
    out = run("pettingzoo_team.py")
    assert "F1 " in out and "returns per agent" in out


def test_a_leaderboard_submission_end_to_end(tmp_path: Path) -> None:
    out = run("leaderboard_submission.py", "--out", str(tmp_path / "sub"))
    assert "valid: 500 predictions for track synthetic" in out and "submission 1 stored" in out
    page = (tmp_path / "sub" / "site" / "index.html").read_text(encoding="utf-8")
    assert "my rule-planner" in page and 'href="https://github.com/example/my-method"' in page


def test_your_own_model_through_an_openai_compatible_endpoint(tmp_path: Path) -> None:
    """The example against a real HTTP server on loopback (baselines.policies.chat_server over a tiny random model)."""
    pytest.importorskip("transformers", reason="the llm extra is not installed")
    import threading

    from baselines.policies import HFChatPolicy
    from baselines.policies.chat_server import make_server
    from baselines.policies.tiny import save_tiny_chat_model

    server = make_server(HFChatPolicy.from_pretrained(str(save_tiny_chat_model(tmp_path / "tiny")), constrain=False, max_new_tokens=24),
                         port=0, model_name="tiny")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = run("openai_endpoint.py", "--base-url", f"http://127.0.0.1:{server.server_address[1]}/v1", "--model", "tiny",
                  "--episodes", "2")
    finally:
        server.shutdown()
    assert out.count("episode ") == 2 and "invalid outputs per role: none" in out  # constrained: every output parses
