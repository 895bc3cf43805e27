"""The decoupled-versus-joint experiment at compact scale, and the paper's Table 2 rows, as grids of runs.

    jade-rag ablate --grid main ds table2 --seeds 0 1 2 --jobs 2 --out runs/ablation

Grids (each cell is one :mod:`baselines.train` run, ``summary.json`` in its folder; a cell already done is
not run again, so grids that share a cell share its run):

==========  ==========================================================================================
``main``    {``matched`` (control), ``mismatched-qr``} x {``decoupled``, ``joint``} x seeds: the
            strategic-operational mismatch and co-adaptation (the paper's ablation); the matched spec is
            also the stronger-frozen-executor row (the paper's Table 4)
``ds``      ``mismatched-ds`` x {``decoupled``, ``joint``} x {DS allowed, not} x seeds (the paper's Table 3)
``table2``  the nine rows of the paper's Table 2 on the ``--spec`` start (default ``mismatched-qr``): LLM
            without RAG (AG alone), vanilla RAG (R,AG), RRR (trained QR in QR,R,AG), BGM (trained DS in
            R,DS,AG), MMOA-RAG (QR, DS, AG trained in QR,R,DS,AG), Adaptive-RAG (a question-complexity
            router to AG / R,AG / QDS: by rule, and trained), Search-R1 (the monolithic agent), MAO-ARAG
            (decoupled), JADE (joint); untrained rows are evaluated once (they have no seed)
==========  ==========================================================================================

Every run trains on a Synthetic world of ``--train-n`` questions seeded ``100 + seed`` and is evaluated on
``--eval-n`` questions of another world (seed 999). The outputs, in ``--out``: one folder per cell,
``ablation.json`` (every run: its cell, seed, held-out F1 overall and per question kind, the drift of each
trained role from its spec, the workflow shares per kind, the exact command), ``ablation.md`` (the tables
with their reading) and ``fig4_workflows_by_kind.png`` (the share of each workflow per question kind over
training, per arm: the paper's Figure 4).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

GRIDS = ("main", "ds", "table2")
EVAL_WORLD = 999


@dataclass(frozen=True)
class Cell:
    """One run of a grid: a paradigm (or a reference agent) under a spec, with DS allowed or not, one seed."""

    paradigm: str
    spec: str
    seed: int
    allow_ds: bool = True
    reference: str = ""  # an untrained row: "closed-book", "vanilla-rag" or "adaptive-rule"

    @property
    def name(self) -> str:
        what = self.reference or self.paradigm
        return f"{what}-{self.spec}-{'ds' if self.allow_ds else 'nods'}" + ("" if self.reference else f"-s{self.seed}")


@dataclass
class Settings:
    """What every cell of an ``ablate`` run shares."""

    out: str = "runs/ablation"
    steps: int = 20_000
    epsilon: float = 0.3
    train_n: int = 1_000
    eval_n: int = 400
    bc_episodes: int = 300
    table2_spec: str = "mismatched-qr"
    jobs: int = 2
    seeds: tuple[int, ...] = field(default=(0, 1, 2))


TABLE2: tuple[tuple[str, str, str], ...] = (
    # (row, paradigm or reference, kind)
    ("LLM without RAG", "closed-book", "reference"),
    ("vanilla RAG", "vanilla-rag", "reference"),
    ("RRR (trained rewriter)", "rrr", "trained"),
    ("BGM (trained selector)", "bgm", "trained"),
    ("MMOA-RAG (static joint)", "static", "trained"),
    ("Adaptive-RAG (rule router)", "adaptive-rule", "reference"),
    ("Adaptive-RAG (trained router)", "adaptive", "trained"),
    ("Search-R1 (monolithic)", "monolithic", "trained"),
    ("MAO-ARAG (decoupled)", "decoupled", "trained"),
    ("JADE (joint)", "joint", "trained"),
)


def cells_of(grid: str, settings: Settings) -> list[Cell]:
    seeds = settings.seeds
    if grid == "main":
        return [Cell(p, spec, s) for spec in ("matched", "mismatched-qr") for p in ("decoupled", "joint") for s in seeds]
    if grid == "ds":
        return [Cell(p, "mismatched-ds", s, ds) for p in ("decoupled", "joint") for ds in (True, False) for s in seeds]
    if grid == "table2":
        out = []
        for _, what, kind in TABLE2:
            if kind == "reference":
                out.append(Cell("", settings.table2_spec, 0, reference=what))
            else:
                out += [Cell(what, settings.table2_spec, s) for s in seeds]
        return out
    raise ValueError(f"unknown grid {grid!r}; expected one of {', '.join(GRIDS)}")


def command_of(cell: Cell, settings: Settings) -> str:
    """The command that runs ``cell`` alone."""
    if cell.reference:
        return f"jade-rag ablate --grid table2 --out {settings.out}  # the reference row {cell.reference}: no training"
    return (f"python -m baselines.train --paradigm {cell.paradigm} --spec {cell.spec} --seed {cell.seed} --steps {settings.steps} "
            f"--epsilon {settings.epsilon} --bc-episodes {settings.bc_episodes} --allow-ds {cell.allow_ds} "
            f"--env-kwargs '{json.dumps(train_kwargs(settings, cell.seed))}' --eval-kwargs '{json.dumps(eval_kwargs(settings))}' "
            f"--log-every 1000 --out {settings.out}/{cell.name}")


def train_kwargs(settings: Settings, seed: int) -> dict[str, Any]:
    return {"n": settings.train_n, "synthetic": {"seed": 100 + seed}}


def eval_kwargs(settings: Settings) -> dict[str, Any]:
    return {"n": settings.eval_n, "synthetic": {"seed": EVAL_WORLD}}


def run_cell(cell: Cell, settings: Settings) -> dict[str, Any]:
    """Run (or reuse) one cell; returns its record for ablation.json."""
    folder = Path(settings.out) / cell.name
    summary_path = folder / "summary.json"
    reused = summary_path.exists()
    if not reused:
        if cell.reference:
            _evaluate_reference(cell, settings, folder)
        else:
            from baselines.train import Args, train

            train(Args(paradigm=cell.paradigm, spec=cell.spec, seed=cell.seed, steps=settings.steps, epsilon=settings.epsilon,
                       bc_episodes=settings.bc_episodes, allow_ds=cell.allow_ds, out=str(folder), log_every=1_000,
                       env_kwargs=json.dumps(train_kwargs(settings, cell.seed)), eval_kwargs=json.dumps(eval_kwargs(settings))))
    summary = json.loads(summary_path.read_text())
    return {**asdict(cell), "cell": cell.name, "f1": summary["f1"], "em": summary["em"], "f1_by_kind": summary["f1_by_kind"],
            "workflows_by_kind": summary["workflows_by_kind"], "executor_drift": summary.get("executor_drift", {}),
            "start_sha256": summary.get("start_sha256", ""), "seconds": summary.get("seconds"), "reused": reused,
            "command": command_of(cell, settings)}


class AdaptiveRouter:
    """Adaptive-RAG's router by rule: a question the decomposer can split goes to QDS, any other to R,AG."""

    def __init__(self, executors) -> None:
        self.executors = executors

    def act(self, role: str, obs: dict[str, str]) -> str:
        if role != "planner":
            return self.executors.act(role, obs)
        from jade_env.executors.decomposer import split_question
        from jade_env.roles.prompts import fields_of

        if fields_of(obs).get("depth", 0) == 0 and len(split_question(obs["question"], serial=True)) >= 2:
            return "<workflow>QDS</workflow>"
        return "<workflow>R,AG</workflow>"


def _evaluate_reference(cell: Cell, settings: Settings, folder: Path) -> None:
    from baselines.evaluate import evaluate_agent
    from baselines.executor_specs import SpecExecutor
    from baselines.train import per_kind

    executors = SpecExecutor(cell.spec, epsilon=0.0)
    workflow = {"closed-book": "AG", "vanilla-rag": "R,AG", "adaptive-rule": None}[cell.reference]
    agent = AdaptiveRouter(executors) if cell.reference == "adaptive-rule" else executors
    kwargs = {**eval_kwargs(settings), **({"workflow": workflow} if workflow else {})}
    started = time.perf_counter()
    metrics = evaluate_agent("JadeRAG-Synthetic-v0", lambda examples: agent, folder / "eval", agent_name=cell.reference,
                             env_kwargs=kwargs, progress=False)
    summary = {"f1": metrics["f1"], "em": metrics["em"], "workflow_distribution": metrics["workflow_distribution"],
               "seconds": time.perf_counter() - started, **per_kind(folder / "eval")}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))


def run_grids(grids: list[str], settings: Settings) -> dict[str, Any]:
    """Run every cell of ``grids`` (``settings.jobs`` at a time); write ablation.json, ablation.md and the figure."""
    unique = list(dict.fromkeys(c for g in grids for c in cells_of(g, settings)))
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with ProcessPoolExecutor(max(settings.jobs, 1)) as pool:
        records = list(pool.map(run_cell, unique, [settings] * len(unique)))
    result = {"settings": asdict(settings), "grids": grids, "minutes": (time.perf_counter() - started) / 60, "runs": records}
    (out / "ablation.json").write_text(json.dumps(result, indent=2))
    (out / "ablation.md").write_text(report(result))
    if "main" in grids:
        plot_workflows_by_kind(result, out / "fig4_workflows_by_kind.png")
    return result


# ------------------------------------------------------------------------------------------------ the report
def _f1s(runs: list[dict], **match: Any) -> list[float]:
    return [r["f1"] * 100 for r in runs if all(r[k] == v for k, v in match.items())]


def _cell(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{np.mean(values):.1f} ± {np.std(values):.1f} [{min(values):.1f}, {max(values):.1f}]"


def report(result: dict[str, Any]) -> str:
    """The tables of ``result`` in Markdown, each with what it shows (mean ± std [min, max] over seeds, F1 in %)."""
    runs, grids = result["runs"], result["grids"]
    lines: list[str] = []
    if "main" in grids:
        kinds = sorted({k for r in runs for k in r["f1_by_kind"]})
        lines += ["### Decoupled versus joint (the paper's ablation; the matched row is its Table 4 analogue)", "",
                  "| frozen executors (start) | decoupled (MAO-ARAG) | joint (JADE) | joint - decoupled | seed ranges overlap |",
                  "|---|---:|---:|---:|---|"]
        for spec in ("matched", "mismatched-qr"):
            dec, joint = _f1s(runs, paradigm="decoupled", spec=spec, allow_ds=True), _f1s(runs, paradigm="joint", spec=spec, allow_ds=True)
            if dec and joint:
                overlap = "yes" if max(dec) >= min(joint) and max(joint) >= min(dec) else "no"
                lines.append(f"| {spec} | {_cell(dec)} | {_cell(joint)} | {np.mean(joint) - np.mean(dec):+.1f} | {overlap} |")
        lines += ["", "Per question kind (mean over seeds):", "",
                  "| spec | arm | " + " | ".join(kinds) + " |", "|---|---|" + "---:|" * len(kinds)]
        for spec in ("matched", "mismatched-qr"):
            for arm in ("decoupled", "joint"):
                sel = [r for r in runs if r["paradigm"] == arm and r["spec"] == spec and r["allow_ds"] and not r["reference"]]
                if sel:
                    lines.append(f"| {spec} | {arm} | " + " | ".join(f"{np.mean([r['f1_by_kind'].get(k, 0) for r in sel]) * 100:.1f}"
                                                               for k in kinds) + " |")
        lines += ["", "How far each trained role moved from its spec (share of held-out turns where its greedy choice differs, "
                  "mean over seeds; the planner's start is uniform, so its number measures its distance from the scripted plan):", ""]
        for spec in ("matched", "mismatched-qr"):
            sel = [r for r in runs if r["paradigm"] == "joint" and r["spec"] == spec and r["allow_ds"]]
            if sel:
                roles = sorted({k for r in sel for k in r["executor_drift"]})
                lines.append(f"- joint, {spec}: " + ", ".join(f"{role} {np.mean([r['executor_drift'].get(role, 0) for r in sel]):.2f}"
                                                           for role in roles))
        lines.append("")
    if "ds" in grids:
        lines += ["### Document selection on and off (the paper's Table 3), spec mismatched-ds", "",
                  "| arm | DS allowed | DS not allowed | DS effect |", "|---|---:|---:|---:|"]
        for arm in ("decoupled", "joint"):
            on = _f1s(runs, paradigm=arm, spec="mismatched-ds", allow_ds=True)
            off = _f1s(runs, paradigm=arm, spec="mismatched-ds", allow_ds=False)
            if on and off:
                lines.append(f"| {arm} | {_cell(on)} | {_cell(off)} | {np.mean(on) - np.mean(off):+.1f} |")
        lines.append("")
    if "table2" in grids:
        spec = result["settings"]["table2_spec"]
        lines += [f"### The paper's Table 2 at compact scale (Synthetic; frozen executors and start: {spec})", "",
                  "| method | F1 | runs |", "|---|---:|---:|"]
        for row, what, kind in TABLE2:
            match = {"reference": what} if kind == "reference" else {"paradigm": what, "spec": spec, "allow_ds": True, "reference": ""}
            values = _f1s(runs, **match)
            lines.append(f"| {row} | {_cell(values)} | {len(values)} |")
        lines.append("")
    return "\n".join(lines) + "\n"


#: the lines of the figure: a decomposition (serial or parallel), or one round of any direct workflow
PLAN_GROUPS: dict[str, tuple[str, ...]] = {"one round (a direct workflow)": ("AG", "R,AG", "R,DS,AG", "QR,AG", "QR,R,AG", "QR,R,DS,AG"),
                                           "QDS (serial decomposition)": ("QDS",), "QDP (parallel decomposition)": ("QDP",)}


def plot_workflows_by_kind(result: dict[str, Any], path: Path) -> None:
    """The share of one-round, serial and parallel plans per question kind over training, per arm (mean over seeds)."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(result["settings"]["out"])
    kinds = ("1-hop", "bridge", "3-hop", "comparison")
    panels = [(spec, arm) for spec in ("matched", "mismatched-qr") for arm in ("decoupled", "joint")]
    fig, axes = plt.subplots(len(kinds), len(panels), figsize=(3.6 * len(panels), 2.3 * len(kinds)), dpi=110, sharex=True, sharey=True)
    for col, (spec, arm) in enumerate(panels):
        folders = [out / r["cell"] for r in result["runs"] if r["paradigm"] == arm and r["spec"] == spec and r["allow_ds"]
                   and not r["reference"]]
        tables = [list(csv.DictReader((f / "metrics.csv").open())) for f in folders if (f / "metrics.csv").exists()]
        if not tables:
            continue
        length = min(len(t) for t in tables)
        steps = [float(r["step"]) for r in tables[0][:length]]
        for row, kind in enumerate(kinds):
            ax = axes[row][col]
            for (label, workflows), color in zip(PLAN_GROUPS.items(), ("tab:blue", "tab:red", "tab:green"), strict=True):
                series = np.array([[sum(float(r.get(f"share:{kind}:{w}") or 0) for w in workflows) for r in t[:length]] for t in tables])
                ax.plot(steps, series.mean(0), label=label, color=color, marker="o" if len(steps) < 5 else None)
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(f"{arm}, {spec} executors", fontsize=9)
            if col == 0:
                ax.set_ylabel(f"{kind} questions\nshare of episodes", fontsize=8)
            if row == len(kinds) - 1:
                ax.set_xlabel("training steps", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle("The planner's choice per question kind over training (training episodes, last 200; mean over seeds)", fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    plt.close(fig)
