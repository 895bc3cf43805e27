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
