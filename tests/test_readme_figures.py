"""The README's reference-agent table is what the code gives: every agent on every real file of ../shared/data.

The table is written by ``python benchmarks/reference_agents.py``; a change to the data loaders, the analyzer or the
executors that moves a figure fails here until the table is measured again (the 2Wiki column once stayed stale for
a week after sentences were joined with a space).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from baselines.agents import AGENTS
from baselines.evaluate import evaluate

README = Path(__file__).resolve().parents[1] / "README.md"
FILES = {  # the README's column -> (env id, file under ../shared/data)
    "HotpotQA dev (103)": ("JadeRAG-HotpotQA-v0", "hotpotqa/hotpot_dev_distractor_v1_100.json"),
    "2Wiki dev (100)": ("JadeRAG-2Wiki-v0", "2wikimultihopqa/2wikimultihopqa_dev_first100.jsonl"),
    "MuSiQue train (100)": ("JadeRAG-MuSiQue-v0", "musique/musique_train.json"),
}


def readme_table() -> dict[str, dict[str, str]]:
    """agent -> column -> "F1 (EM)" cell, from the table under "## Reference agents"."""
    section = README.read_text().split("## Reference agents", 1)[1]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    table = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != len(header):
            break
        table[re.sub(r" \(upper bound\)$", "", cells[0])] = dict(zip(header[1:], cells[1:], strict=True))
    return table


@pytest.mark.parametrize("column", list(FILES))
def test_the_readme_reference_figures_are_what_the_agents_score(column: str, shared_data: Path, tmp_path: Path) -> None:
    env_id, name = FILES[column]
    if not (shared_data / name).exists():
        pytest.skip(f"{name} is not in ../shared/data")
    table = readme_table()
    assert set(table) == set(AGENTS)
    for agent in AGENTS:
        metrics = evaluate(env_id, agent, tmp_path / agent, env_kwargs={"data_path": str(shared_data / name)}, progress=False)
        assert f"{metrics['f1'] * 100:.1f} ({metrics['em'] * 100:.1f})" == table[agent][column], (agent, column)
