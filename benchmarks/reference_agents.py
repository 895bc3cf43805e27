"""The F1 of every reference agent on Synthetic and on the HotpotQA, 2Wiki and MuSiQue files of ../shared/data.

    python benchmarks/reference_agents.py [--out runs/reference] [--synthetic-n 500]

Each (agent, dataset) pair is one ``jade-rag evaluate`` run folder under ``--out`` (pooled corpus, BM25,
top 5, seed 0). Writes the ``## Reference agents`` table to benchmarks/RESULTS.md and an F1-versus-
retrieval-calls figure (``--out``/f1_vs_cost.png) from the same folders, with ``jade-rag compare``.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from results import machine, write_section  # noqa: E402

SECTION = "## Reference agents"
SHARED = HERE.parent.parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/reference"))
    parser.add_argument("--synthetic-n", type=int, default=500)
    args = parser.parse_args()
    from baselines.agents import AGENTS
    from baselines.commands.compare import plot
    from baselines.evaluate import evaluate

    datasets = {
        "Synthetic": ("JadeRAG-Synthetic-v0", {"n": args.synthetic_n, "synthetic": {"seed": 0}}),
        "HotpotQA dev (103)": ("JadeRAG-HotpotQA-v0", {"data_path": str(SHARED / "hotpotqa" / "hotpot_dev_distractor_v1_100.json")}),
        "2Wiki dev (100)": ("JadeRAG-2Wiki-v0", {"data_path": str(SHARED / "2wikimultihopqa" / "2wikimultihopqa_dev_first100.jsonl")}),
        "MuSiQue train (100)": ("JadeRAG-MuSiQue-v0", {"data_path": str(SHARED / "musique" / "musique_train.json")}),
    }
    table: dict[str, dict[str, dict]] = {}
    for agent in AGENTS:
        for name, (env_id, kwargs) in datasets.items():
            folder = args.out / f"{agent}--{env_id.removeprefix('JadeRAG-').removesuffix('-v0').lower()}"
            table.setdefault(agent, {})[name] = evaluate(env_id, agent, folder, env_kwargs=kwargs, progress=False)
    lines = [SECTION, "", f"Measured {datetime.date.today().isoformat()} on {machine()}; command: "
             f"`python benchmarks/reference_agents.py --out {args.out} --synthetic-n {args.synthetic_n}`. F1 (EM) in %, "
             "pooled corpus of each file, BM25 top 5; `oracle` is an upper bound (gold decompositions and passages), not a method.",
             "", "| agent | " + " | ".join(datasets) + " | retrieval calls (Synthetic) |", "|---|" + "---:|" * (len(datasets) + 1)]
    for agent, by_dataset in table.items():
        cells = [f"{m['f1'] * 100:.1f} ({m['em'] * 100:.1f})" for m in by_dataset.values()]
        lines.append(f"| {agent} | " + " | ".join(cells) + f" | {by_dataset['Synthetic'].get('retrieval_calls_mean', 0):.2f} |")
    body = "\n".join(lines) + "\n"
    write_section(SECTION, body)
    rows = [dict(m, run=agent) for agent, by_dataset in table.items() for n, m in by_dataset.items() if n == "Synthetic"]
    plot(rows, "retrieval_calls", args.out / "f1_vs_cost.png")
    print(body)
    print(f"figure: {args.out / 'f1_vs_cost.png'}")


if __name__ == "__main__":
    main()
