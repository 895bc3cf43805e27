"""``jade-rag score`` end to end, on real gold files and on malformed inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jade_env.cli import main
from jade_env.predictions import read_predictions

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "jade_env" / "examples"


def score_json(capsys, gold: Path, pred: Path, *extra: str) -> dict:
    assert main(["score", "--gold", str(gold), "--pred", str(pred), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_bundled_example_table(capsys) -> None:
    assert main(["score", "--gold", str(EXAMPLES / "gold.jsonl"), "--pred", str(EXAMPLES / "predictions.jsonl")]) == 0
    captured = capsys.readouterr()
    lines = dict(line.split(None, 1) for line in captured.out.strip().splitlines())
    assert lines["n"] == "8" and lines["n_missing"] == "1"
    assert float(lines["em"]) == pytest.approx(2 / 8)  # Canberra, Yes.
    assert "1 gold question(s) have no prediction" in captured.err


def test_hotpotqa_official_prediction_json(capsys, shared_data: Path, tmp_path: Path) -> None:
    gold = shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json"
    records = json.loads(gold.read_text())
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"answer": {d["_id"]: d["answer"] for d in records}, "sp": {}}))
    r = score_json(capsys, gold, pred)
    assert r["em"] == 1.0 and r["f1"] == 1.0 and r["n"] == 103 and r["n_missing"] == 0


def test_jsonl_predictions_against_nq_open_with_extra_ids(capsys, shared_data: Path, tmp_path: Path) -> None:
    gold = shared_data / "nq" / "NQ-open.efficientqa.dev.1.1.jsonl"
    from jade_env.data import load_examples

    examples = load_examples(gold)
    pred = tmp_path / "pred.jsonl"
    lines = [json.dumps({"id": e.id, "prediction": e.answers[-1]}) for e in examples[:900]]
    lines.append(json.dumps({"id": "not-a-question", "prediction": "x"}))
    pred.write_text("\n".join(lines) + "\n")
    assert main(["score", "--gold", str(gold), "--pred", str(pred), "--json"]) == 0
    captured = capsys.readouterr()
    r = json.loads(captured.out)
    assert r["n"] == 1800 and r["n_missing"] == 900 and r["n_extra"] == 1
    assert r["em"] == pytest.approx(0.5)
    assert "1 predicted id(s) not in" in captured.err and "'not-a-question'" in captured.err


def test_flashrag_gold_and_variants(capsys, shared_data: Path, tmp_path: Path) -> None:
    gold = shared_data / "2wikimultihopqa" / "2wikimultihopqa_dev_first100.jsonl"
    from jade_env.data import load_examples

    examples = load_examples(gold)
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps({"id": e.id, "prediction": "yes"}) + "\n" for e in examples))
    default = score_json(capsys, gold, pred)
    authors = score_json(capsys, gold, pred, "--variant", "jade_authors")
    n_yes = sum(e.answers[0].lower() == "yes" for e in examples)
    assert default["em"] == pytest.approx(n_yes / 100)
    assert authors["n_f1"] == 100 - sum(e.answers[0].lower() in ("yes", "no") for e in examples)
    assert authors["f1"] == 0.0


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jade_env.cli", *args], capture_output=True, text=True)


def test_console_script_end_to_end() -> None:
    out = run_cli("score", "--gold", str(EXAMPLES / "gold.jsonl"), "--pred", str(EXAMPLES / "predictions.jsonl"), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["n"] == 8


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "ex-1", "prediction": "a"}\n{"id": "ex-2", "prediction": ', ":2: invalid JSON"),
        ('{"id": "ex-1", "prediction": "a"}\n{"id": "ex-1", "prediction": "b"}\n', ":2: duplicate id 'ex-1'"),
        ('{"id": "ex-1", "prediction": 42}\n', "\"prediction\" is int 42; expected a string"),
        ('{"id": "ex-1", "prediction": null}\n', "\"prediction\" is missing; expected a string"),
        ('{"id": 7, "prediction": "a"}\n', "\"id\" is int 7; expected a non-empty string"),
        ('{"id": "ex-1"}\n', "has no \"prediction\" field"),
        ('["ex-1", "a"]\n', ":1: expected a JSON object"),
        ('{"answer": {"ex-1": ["a"]}, "sp": {}}', "id 'ex-1' in \"answer\": prediction is list; expected a string"),
        ('{"ex-1": "a", "ex-2": 3}', "id 'ex-2' at the top level: prediction is int"),
        ("", "the file is empty"),
        ('{"id": "ex-1", "prediction": "a", "rounds": "two"}\n', "'rounds' is str"),
        ('{"id": "ex-1", "prediction": "a", "rounds": -5}\n', "'rounds' is int -5; expected a finite number >= 0 (a cost)"),
        ('{"": "a", "ex-1": "b"}', "an empty id at the top level"),
        ('{"id": "ex-1",\n "prediction": "a"}\n', 'one record {"id", "prediction"} written over several lines'),  # not {id: text}
        ('{"prediction": "a"}\n', ':1: "id" is missing'),
        ('{"qid": "ex-1", "prediction": "a"}\n{"id": "ex-2", "prediction": "b"}\n', ':1: "id" is missing'),
        ('{"answer": {"ex-1": "a", "ex-1": "b"}}', "id 'ex-1' appears twice in one object"),
        ('{"ex-1": "a", "ex-1": "b"}', "id 'ex-1' appears twice in one object"),
        # a bad first line is a bad JSONL line, named, not "a JSON object of predictions"
        ('{"id": "ex-1", "prediction": "a", "rounds": ' + "9" * 5000 + '}\n{"id": "ex-2", "prediction": "b"}\n',
         ":1: unreadable JSON (ValueError: Exceeds the limit"),
        ('{"id": "ex-1", "predic\n{"id": "ex-2", "prediction": "b"}\n', ":1: invalid JSON (Unterminated string starting at column 16)"),
        ('{"id": "ex-1", "prediction": "a\x01"}\n', ":1: invalid JSON (Invalid control character at column 32)"),
    ],
)
def test_malformed_predictions_give_one_clear_line(tmp_path: Path, content: str, message: str) -> None:
    pred = tmp_path / "pred.jsonl"
    pred.write_text(content)
    out = run_cli("score", "--gold", str(EXAMPLES / "gold.jsonl"), "--pred", str(pred))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    err_lines = out.stderr.strip().splitlines()
    assert len(err_lines) == 1, out.stderr
    assert str(pred) in err_lines[0] and message in err_lines[0]


def test_a_first_line_over_the_line_limit_is_named_as_such(tmp_path: Path) -> None:
    pred = tmp_path / "pred.jsonl"
    pred.write_text('{"id": "ex-1", "prediction": "' + "y" * (65 << 20) + '"}\n')
    out = run_cli("score", "--gold", str(EXAMPLES / "gold.jsonl"), "--pred", str(pred))
    assert out.returncode == 2 and f"{pred}:1: the line is longer than 64 MiB" in out.stderr, out.stderr


def test_non_utf8_and_missing_files(tmp_path: Path) -> None:
    pred = tmp_path / "pred.jsonl"
    pred.write_bytes(b'{"id": "ex-1", "prediction": "a"}\n{"id": "ex-2", "prediction": "\xff"}\n')
    out = run_cli("score", "--gold", str(EXAMPLES / "gold.jsonl"), "--pred", str(pred))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert ":2: byte 64 (0xff) is not valid UTF-8" in out.stderr
    out = run_cli("score", "--gold", str(tmp_path / "nope.json"), "--pred", str(EXAMPLES / "predictions.jsonl"))
    assert out.returncode == 2 and "Traceback" not in out.stderr and "nope.json" in out.stderr
    out = run_cli("score", "--gold", str(EXAMPLES / "gold.jsonl"), "--pred", str(tmp_path))
    assert out.returncode == 2 and "is a directory" in out.stderr


def test_malformed_gold_is_reported_with_file_and_record(tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "q1", "question": "Q?", "golden_answers": ["a"]}\n{"id": "q2", "question": "Q2?", "golden_answers": []}\n')
    out = run_cli("score", "--gold", str(gold), "--pred", str(EXAMPLES / "predictions.jsonl"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert str(gold) in out.stderr and "q2" in out.stderr


def test_read_predictions_keeps_costs() -> None:
    preds = read_predictions(EXAMPLES / "predictions.jsonl")
    assert preds["ex-4"].costs == {"rounds": 2.0, "retrieval_calls": 2.0, "tokens": 431.0}
    assert preds["ex-1"].prediction == "Canberra"


QUICK_FORMS = [
    ["score", "--gold", "g.json", "--pred", "p.json"],
    ["score", "--pred", "p.json", "--gold", "g.json", "--json"],
    ["score", "--gold", "g.json", "--pred", "p.json", "--variant", "squad", "--gold-format", "hotpotqa", "--json"],
    ["score", "--json", "--variant", "jade_authors", "--gold", "a b.jsonl", "--pred", "ü.jsonl"],
]
#: forms the quick parser leaves to argparse (which parses or rejects them)
ARGPARSE_FORMS = [
    ["score", "--gold=g.json", "--pred", "p.json"],
    ["score", "--gold", "g.json", "--pred", "p.json", "--gold", "h.json"],
    ["score", "--gold", "g.json", "--pred", "p.json", "--variant", "nope"],
    ["score", "--gold", "g.json"],
    ["score", "--gold", "g.json", "--pred"],
    ["score", "--gold", "-", "--pred", "p.json"],
    ["score", "--gold", "g.json", "--pred", "p.json", "--jso"],
    ["score", "--gold", "g.json", "--pred", "p.json", "extra"],
    ["score", "-h"],
    ["--version", "score"],
    [],
]


@pytest.mark.parametrize("argv", QUICK_FORMS + ARGPARSE_FORMS, ids=lambda a: " ".join(a) or "empty")
def test_quick_argument_parsing_gives_what_argparse_gives(argv: list[str]) -> None:
    """`jade-rag score` parses its plain form without argparse, to the same values; every other form goes to argparse."""
    from jade_env.cli import build_parser
    from jade_env.commands.score import quick_args

    quick = quick_args(argv)
    if argv in ARGPARSE_FORMS:
        assert quick is None
        return
    assert quick is not None and vars(quick) == vars(build_parser("score").parse_args(argv))


def test_plain_score_call_imports_no_argparse(shared_data: Path, tmp_path: Path) -> None:
    """The whole process of the plain call: scored, and none of argparse, dataclasses, typing or hashlib imported."""
    gold = shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json"
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"answer": {d["_id"]: d["answer"] for d in json.loads(gold.read_text())}, "sp": {}}))
    code = ("import sys; from jade_env.cli import main; status = main(['score', '--gold', sys.argv[1], '--pred', sys.argv[2], '--json']); "
            "heavy = sorted({'argparse', 'dataclasses', 'typing', 'hashlib', 'inspect', 'shutil'} & set(sys.modules)); "
            "print(status, heavy, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, str(gold), str(pred)], capture_output=True, text=True, cwd=REPO, check=True)
    assert json.loads(out.stdout)["f1"] == 1.0
    assert out.stderr.strip().splitlines()[-1] == "0 []"
