"""The GPU recipe: an SFT warm start, then joint versus decoupled token-level PPO of SmolLM2 on Synthetic; one table.

    python benchmarks/lm_ppo_recipe.py --size h200 --out runs/lm_ppo_recipe    # one H200: SmolLM2, bf16, 32 sub-envs
    python benchmarks/lm_ppo_recipe.py --size tiny --out /tmp/lm_ppo_recipe     # CPU, a tiny random model (the test)
    python benchmarks/lm_ppo_recipe.py --size h200 --setting authors_code        # the released JADE code's setting

``--setting paper`` (the default): the paper's environment and ``--scheme paper``; ``--setting authors_code``: the
environment's ``preset="authors_code"`` and ``--scheme authors_code`` (reward on every transition, GAE within each),
for the SFT data as for PPO.

Steps: (1) the rule-planner team's turns on the training questions of Synthetic become an SFT dataset
(:mod:`baselines.sft_dataset`); (2) for each of ``joint`` and ``decoupled``, :mod:`baselines.ppo_lm` starts
from the same model, runs the same SFT steps, then PPO (``--scheme paper``), and evaluates greedily on
held-out questions of the same world before and after; (3) ``table.md`` and ``table.json`` in ``--out``:
per mode, the SFT loss, held-out F1 before and after PPO, the invalid rate after, the rollout F1 of the
first and last update, and wall seconds. ``--size h200`` is sized to finish in under 8 minutes on one
H200 (an estimate: it has not been run on one yet; see benchmarks/RESULTS.md); ``--size smollm2-cpu``
is the same recipe at CPU size with the real model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from baselines.ppo_lm import Args, train  # noqa: E402
from baselines.sft_dataset import export_sft_dataset  # noqa: E402

WORLD = {"synthetic": {"seed": 0}, "max_steps": 12}
SMALL_BUDGETS = {"qds": 24, "qdp": 24, "qr": 12, "ds": 12, "ag": 12, "as": 12}
SIZES: dict[str, dict] = {
    # one H200: bf16, 32 sub-envs batched, 6 updates of 32 episodes per mode after 40 SFT steps
    "h200": {"model": "smollm2", "device": "cuda", "dtype": "bfloat16", "train_questions": 512, "eval_questions": 64,
             "sft_steps": 40, "sft_batch_size": 32, "updates": 6, "num_envs": 32, "epochs": 2, "minibatch_size": 16,
             "lr": 2e-6, "value_lr": 1e-4},
    # the real model at CPU size (minutes)
    "smollm2-cpu": {"model": "smollm2", "train_questions": 64, "eval_questions": 8, "sft_steps": 8, "sft_batch_size": 4,
                    "updates": 2, "num_envs": 4, "epochs": 1, "minibatch_size": 4},
    # a tiny random model on CPU: seconds (the test)
    "tiny": {"model": "tiny", "train_questions": 8, "eval_questions": 2, "sft_steps": 2, "sft_batch_size": 4, "updates": 1,
             "num_envs": 2, "epochs": 1, "minibatch_size": 4, "max_new_tokens": SMALL_BUDGETS, "threads": 1},
}


def model_path(name: str) -> str:
    if name != "smollm2":
        return name
    from baselines.policies.packaged_models import find_model, missing_reason

    folder = find_model("smollm2")
    if folder is None:
        raise SystemExit(missing_reason("smollm2"))
    return str(folder)


SETTINGS = ("paper", "authors_code")


def recipe(size: str, out: Path, setting: str = "paper") -> list[dict]:
    if setting not in SETTINGS:
        raise ValueError(f"setting {setting!r} is unknown; expected one of {', '.join(SETTINGS)}")
    settings = dict(SIZES[size])
    settings["model"] = model_path(settings["model"])
    sft_questions = settings["train_questions"]
    world = {**WORLD, "preset": setting}
    env_kwargs = {**world, "n": settings["train_questions"] + settings["eval_questions"]}
    started = time.time()
    sft = export_sft_dataset("JadeRAG-Synthetic-v0", "rule-planner", out / "sft.jsonl", range(sft_questions), env_kwargs)
    rows = []
    for mode in ("joint", "decoupled"):
        t0 = time.time()
        result = train(Args(env_kwargs=world, scheme=setting, sft_data=sft["path"], mode=mode, out=str(out / mode), **settings))
        sft_losses = json.loads((out / mode / "sft.json").read_text())["losses"]
        after = result.evaluation.get("after", {})
        rows.append({"mode": mode, "sft_loss_first": sft_losses[0], "sft_loss_last": sft_losses[-1],
                     "f1_before": result.evaluation.get("before", {}).get("f1"), "f1_after": after.get("f1"),
                     "invalid_after": after.get("invalid", {}).get("all"),
                     "rollout_f1_first": result.history[0]["f1"], "rollout_f1_last": result.history[-1]["f1"],
                     "seconds": round(time.time() - t0, 1)})
    table = ["| mode | SFT loss first → last | held-out F1 before PPO | after | invalid after | rollout F1 first → last update | s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append(f"| {r['mode']} | {r['sft_loss_first']:.3f} → {r['sft_loss_last']:.3f} | {r['f1_before']:.3f} | {r['f1_after']:.3f} "
                     f"| {r['invalid_after']:.3f} | {r['rollout_f1_first']:.3f} → {r['rollout_f1_last']:.3f} | {r['seconds']} |")
    summary = {"size": size, "setting": setting, "settings": settings, "sft": sft, "rows": rows, "seconds": round(time.time() - started, 1)}
    (out / "table.json").write_text(json.dumps(summary, indent=2))
    (out / "table.md").write_text("\n".join(table) + f"\n\nsize {size}, setting {setting}; total {summary['seconds']} s\n")
    print("\n".join(table))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="h200")
    parser.add_argument("--setting", choices=SETTINGS, default="paper", help="the paper's or the released code's (default paper)")
    parser.add_argument("--out", default="runs/lm_ppo_recipe")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    recipe(args.size, out, args.setting)


if __name__ == "__main__":
    main()
