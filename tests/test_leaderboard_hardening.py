"""Leaderboard hardening (issue 15): finite numbers only, no control characters, escaped Markdown, a private database."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
from pathlib import Path

import pytest

from jade_env.errors import JadeError
from leaderboard.render import markdown_cell, render
from leaderboard.store import rows, submit
from leaderboard.submission import SubmissionError, load_submission
from leaderboard.tracks import get_track

TRACK = get_track("synthetic")
META = {"method": "gold", "paradigm": "reference", "model": "none", "parameters": None, "training_data": "none",
        "code_link": "https://example.org/x", "contact": "team@example.org", "seed": 0, "track": "synthetic"}


@pytest.fixture(scope="module")
def lines() -> list[str]:
    """A real submission: the gold answer of every question of the track, with cost counters."""
    return [json.dumps({"id": e.id, "prediction": e.answer, "rounds": 1, "retrieval_calls": 1, "tokens": 50}) for e in TRACK.examples()]


def files(tmp: Path, lines: list[str], meta: dict | None = None, raw_first: str | None = None) -> tuple[Path, Path]:
    pred, meta_path = tmp / "predictions.jsonl", tmp / "submission.json"
    pred.write_text("\n".join(([raw_first] if raw_first else []) + lines[1 if raw_first else 0:]) + "\n", encoding="utf-8")
    meta_path.write_text(json.dumps(meta or META), encoding="utf-8")
    return pred, meta_path


@pytest.fixture
def db(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "lb.sqlite"
    submit(path, TRACK, load_submission(TRACK, *files(tmp_path, lines)))
    return path


NUMBERS = ["1e999", "-1e999", "Infinity", "-Infinity", "NaN", "1e16", "9" * 4000, "9" * 5000, "[" * 50_000 + "]" * 50_000, "true", '"3"']


@pytest.mark.parametrize("value", NUMBERS, ids=lambda v: v[:12])
@pytest.mark.parametrize("field", ["rounds", "retrieval_calls", "tokens"])
def test_costs_must_be_finite_bounded_numbers(db: Path, tmp_path: Path, lines: list[str], field: str, value: str) -> None:
    first = json.loads(lines[0])
    raw = json.dumps({**first, field: 0}).replace(f'"{field}": 0', f'"{field}": {value}')
    before = db.read_bytes()
    with pytest.raises(SubmissionError) as err:
        load_submission(TRACK, *files(tmp_path, lines, {**META, "method": "bad"}, raw_first=raw))
    assert "predictions.jsonl:1:" in str(err.value) and "Traceback" not in str(err.value)
    assert db.read_bytes() == before


CONTROLS = ["\x00", "\n", "\r", "\t", "\x1b[31m", "\x7f", "\x85", "\u2028", "\u2029", "\u202e", "\u2066"]


@pytest.mark.parametrize("char", CONTROLS, ids=lambda c: f"U+{ord(c[0]):04X}")
@pytest.mark.parametrize("field", ["method", "model", "training_data", "contact", "command", "code_link"])
def test_metadata_texts_are_one_printable_line(tmp_path: Path, lines: list[str], field: str, char: str) -> None:
    value = f"https://example.org/a{char}b" if field == "code_link" else f"name{char}| injected | row |"
    with pytest.raises(SubmissionError, match=f"field {field}: "):
        load_submission(TRACK, *files(tmp_path, lines, {**META, field: value}))
    if field == "method":  # the --name override goes through the same check
        with pytest.raises(SubmissionError, match="field method: "):
            load_submission(TRACK, *files(tmp_path, lines), name=value)


@pytest.mark.parametrize("text", ["a\x00b", "a\x1bb", "a\x85b", "lone \ud800 surrogate"], ids=["NUL", "ESC", "NEL", "surrogate"])
def test_predictions_with_control_characters_are_refused(tmp_path: Path, lines: list[str], text: str) -> None:
    first = json.loads(lines[0])
    with pytest.raises(SubmissionError, match="predictions.jsonl:1: field prediction"):
        load_submission(TRACK, *files(tmp_path, lines, raw_first=json.dumps({**first, "prediction": text})))


def test_a_utf8_bom_is_accepted_in_both_files(tmp_path: Path, lines: list[str]) -> None:
    pred, meta = files(tmp_path, lines)
    plain = load_submission(TRACK, pred, meta)
    pred.write_bytes(b"\xef\xbb\xbf" + pred.read_bytes())
    meta.write_bytes(b"\xef\xbb\xbf" + meta.read_bytes())
    with_bom = load_submission(TRACK, pred, meta)
    assert with_bom.predictions == plain.predictions and with_bom.metadata == plain.metadata


def test_rendering_rows_stored_before_validation_cannot_inject(db: Path, tmp_path: Path) -> None:
    """Rows written straight into the database (as by an older version) with NUL, newlines, pipes and inf."""
    with sqlite3.connect(db) as conn:
        (template,) = conn.execute("SELECT * FROM submissions").fetchall()
        names = [d[1] for d in conn.execute("PRAGMA table_info(submissions)")]
        evil = ["nul\x00byte", "two\nlines | x | y | z | w | v |\n| injected | row | 1 | 2 | 3 | 4 | 5 |", "pipe | cell", "*bold* `code` [l](u)",
                "<script>alert(1)</script>", "esc\x1b[31mred", "rtl\u202eevil"]
        for i, name in enumerate(evil):
            row = dict(zip(names, template, strict=True), id=None, content_hash=f"h{i}", method=name, paradigm=name if i == 2 else "other",
                       retrieval_calls=float("inf") if i == 1 else 1.0)
            conn.execute(f"INSERT INTO submissions ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", list(row.values()))
    conn.close()
    page, md = render(rows(db), tmp_path / "site")
    html_text, markdown = page.read_text(encoding="utf-8"), md.read_text(encoding="utf-8")
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", html_text)
    assert "<script>alert" not in html_text and not re.search(r'[>"]-?(inf|nan)\b', html_text, re.IGNORECASE)
    assert "| 100.0 | 100.0 | 100.0 | – | 0 |" in markdown  # the stored inf shows as no number, not as 0 or inf
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 1 + len(evil)  # header, rule, the first submission and one line per row: nothing injected
    for line in table[2:]:
        assert len(re.findall(r"(?<!\\)\|", line)) == 12, line  # 11 cells: escaped pipes do not split a cell
    assert not re.search("[\x00-\x1f]", markdown.replace("\n", ""))
    assert markdown_cell("a | b\nc") == "a \\| b c" and markdown_cell("*x* <b>") == "\\*x\\* &lt;b&gt;"


def test_the_database_and_its_folder_are_private(tmp_path: Path, lines: list[str]) -> None:
    folder = tmp_path / "new" / "leaderboard"
    db = folder / "lb.sqlite"
    submit(db, TRACK, load_submission(TRACK, *files(tmp_path, lines)))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():  # the database and any journal SQLite left
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("INSERT INTO submissions SELECT NULL, track, 'h2', method, paradigm, model, metadata, submitted, n, n_missing, em, f1, "
                     "precision, recall, sub_em, rounds, retrieval_calls, tokens, predictions FROM submissions")
        journals = [p for p in folder.iterdir() if p != db]
        assert journals and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in journals)  # SQLite gives journals the file's mode
    conn.close()
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    submit(existing / "lb.sqlite", TRACK, load_submission(TRACK, *files(tmp_path, lines)))
    assert stat.S_IMODE((existing / "lb.sqlite").stat().st_mode) == 0o600
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755  # a folder it did not create keeps its mode
    with pytest.raises(JadeError, match="no leaderboard database here"):
        rows(tmp_path / "nowhere" / "lb.sqlite")
    assert not (tmp_path / "nowhere").exists()
