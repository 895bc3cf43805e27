"""Check that ``jade-rag score`` equals the official HotpotQA and SQuAD v1.1 evaluation scripts.

The official scripts are not part of this repository (their code is not ours to copy). Fetch them
from their projects and pass their paths:

* ``hotpot_evaluate_v1.py`` from the HotpotQA repository (github.com/hotpotqa/hotpot); it needs ``ujson``;
* ``evaluate-v1.1.py``, the official SQuAD v1.1 script (distributed with SQuAD v1.1).

Usage::

    python benchmarks/check_official_scorers.py --hotpot-script PATH/hotpot_evaluate_v1.py \\
        --squad-script PATH/evaluate-v1.1.py --gold ../shared/data/hotpotqa/hotpot_dev_distractor_v1_100.json \\
        [--alias-gold ../shared/data/nq/NQ-open.dev.jsonl]

For several prediction sets built from the gold file (the gold answers themselves; every answer
"yes"; every answer "no"; empty strings; "noanswer"; the gold padded with words; the first word of
the gold; answers shifted by one question; half of the ids missing), it runs both official scripts
and ``jade-rag score --json`` and compares EM, F1 (and, for HotpotQA, precision and recall) to 1e-9.
With ``--alias-gold`` (a file with several answers per question) it also checks the maximum over
aliases against the SQuAD script, which takes the maximum over its gold answers.
Exits 1 on any mismatch and prints a table either way.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TOLERANCE = 1e-9
SECTION = "## Scorer versus the official scripts"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_section  # noqa: E402


def prediction_sets(ids: list[str], answers: list[str]) -> dict[str, dict[str, str]]:
    n = len(ids)
    return {
        "gold": dict(zip(ids, answers, strict=True)),
        "all-yes": {i: "yes" for i in ids},
        "all-no": {i: "No." for i in ids},
        "empty": {i: "" for i in ids},
        "noanswer": {i: "noanswer" for i in ids},
        "padded": {i: f"The {a} indeed, I think" for i, a in zip(ids, answers, strict=True)},
        "first-word": {i: (a.split() or [""])[0] for i, a in zip(ids, answers, strict=True)},
        "shifted": {ids[k]: answers[(k + 1) % n] for k in range(n)},
        "half-missing": {i: a for i, a in list(zip(ids, answers, strict=True))[: n // 2]},
        "yes-it-is": {i: "yes it is " + a for i, a in zip(ids, answers, strict=True)},
    }


def run_ours(gold: Path, pred: Path, variant: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "jade_env.cli", "score", "--gold", str(gold), "--pred", str(pred), "--json", "--variant", variant],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def run_hotpot(script: Path, gold: Path, pred: Path) -> dict:
    out = subprocess.run([sys.executable, str(script), str(pred), str(gold)], capture_output=True, text=True, check=True)
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


def run_squad(script: Path, squad_gold: Path, pred: Path) -> dict:
    out = subprocess.run([sys.executable, str(script), str(squad_gold), str(pred)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def squad_gold_file(ids: list[str], aliases: list[list[str]], path: Path) -> None:
    qas = [{"id": i, "question": "", "answers": [{"text": a, "answer_start": 0} for a in al]} for i, al in zip(ids, aliases, strict=True)]
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "all", "paragraphs": [{"context": "", "qas": qas}]}]}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hotpot-script", type=Path, required=True)
    parser.add_argument("--squad-script", type=Path, required=True)
    parser.add_argument("--gold", type=Path, required=True, help="an official-format HotpotQA JSON file")
    parser.add_argument("--alias-gold", type=Path, help="a question file with answer aliases, e.g. NQ-open JSONL")
    args = parser.parse_args()

    from jade_env.data import load_examples

    rows: list[tuple[str, str, str, float, float]] = []
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        gold_records = json.loads(args.gold.read_text())
        ids = [d["_id"] for d in gold_records]
        answers = [d["answer"] for d in gold_records]
        squad_gold = tmpdir / "squad_gold.json"
        squad_gold_file(ids, [[a] for a in answers], squad_gold)
        for name, preds in prediction_sets(ids, answers).items():
            hp_pred = tmpdir / f"{name}.hotpot.json"
            hp_pred.write_text(json.dumps({"answer": preds, "sp": {i: [] for i in ids}}))
            sq_pred = tmpdir / f"{name}.squad.json"
            sq_pred.write_text(json.dumps(preds))
            official = run_hotpot(args.hotpot_script, args.gold, hp_pred)
            ours = run_ours(args.gold, hp_pred, "hotpotqa")
            for ours_key, theirs_key in (("em", "em"), ("f1", "f1"), ("precision", "prec"), ("recall", "recall")):
                rows.append((name, "hotpot", ours_key, ours[ours_key], float(official[theirs_key])))
            official = run_squad(args.squad_script, squad_gold, sq_pred)
            ours = run_ours(args.gold, sq_pred, "squad")
            rows.append((name, "squad", "em", ours["em"] * 100, official["exact_match"]))
            rows.append((name, "squad", "f1", ours["f1"] * 100, official["f1"]))

        if args.alias_gold:
            examples = load_examples(args.alias_gold)
            a_ids = [e.id for e in examples]
            a_aliases = [list(e.answers) for e in examples]
            alias_squad = tmpdir / "alias_squad_gold.json"
            squad_gold_file(a_ids, a_aliases, alias_squad)
            last = [al[-1] for al in a_aliases]  # the last alias: exercises the maximum over aliases
            for name, preds in prediction_sets(a_ids, last).items():
                sq_pred = tmpdir / f"alias-{name}.json"
                sq_pred.write_text(json.dumps(preds))
                official = run_squad(args.squad_script, alias_squad, sq_pred)
                ours = run_ours(args.alias_gold, sq_pred, "squad")
                rows.append((f"aliases:{name}", "squad", "em", ours["em"] * 100, official["exact_match"]))
                rows.append((f"aliases:{name}", "squad", "f1", ours["f1"] * 100, official["f1"]))

    print(f"{'predictions':<22} {'script':<7} {'metric':<10} {'jade-rag':>20} {'official':>20} {'|diff|':>10}")
    for name, script, metric, ours_v, theirs_v in rows:
        diff = abs(ours_v - theirs_v)
        failures += diff > TOLERANCE * max(1.0, abs(theirs_v))
        print(f"{name:<22} {script:<7} {metric:<10} {ours_v:>20.15f} {theirs_v:>20.15f} {diff:>10.1e}")
    print(f"{len(rows)} comparisons, {failures} mismatches beyond {TOLERANCE}")
    sets = sorted({name for name, *_ in rows})
    worst = max(abs(o - t) for _, _, _, o, t in rows)
    body = "\n".join([
        SECTION, "",
        f"Measured {datetime.date.today().isoformat()}; command: `python benchmarks/check_official_scorers.py "
        f"--hotpot-script hotpot_evaluate_v1.py --squad-script evaluate-v1.1.py --gold {args.gold.name}"
        + (f" --alias-gold {args.alias_gold.name}`" if args.alias_gold else "`") + " (the official scripts fetched from their projects).",
        "",
        f"{len(rows)} comparisons of `jade-rag score` with the official HotpotQA script (answer EM, F1, precision, recall) and "
        f"the official SQuAD v1.1 script (EM, F1, `--variant squad`) over {len(sets)} prediction sets ({', '.join(sets)}): "
        f"**{failures} mismatches** beyond {TOLERANCE}; largest difference {worst:.1e}.",
    ]) + "\n"
    write_section(SECTION, body)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
