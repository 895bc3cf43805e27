"""The leaderboard: validation, storage in SQLite, idempotence, bad input that changes nothing, the page in a real browser."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from baselines.evaluate import evaluate
from jade_env.cli import main

SYN = {"n": 500, "synthetic": {"seed": 0}}  # the questions of the "synthetic" track


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    evaluate("JadeRAG-Synthetic-v0", "rule-planner", out, env_kwargs=SYN, progress=False)
    return out


def metadata(tmp: Path, **overrides) -> Path:
    meta = {"method": "rule-planner", "paradigm": "reference", "model": "rules", "parameters": None, "training_data": "none",
            "code_link": "https://example.org/jade_env", "contact": "team@example.org", "seed": 0, "track": "synthetic", **overrides}
    path = tmp / "submission.json"
    path.write_text(json.dumps(meta))
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jade_env.cli", "leaderboard", *args], capture_output=True, text=True)


def test_submit_stores_scores_equal_to_jade_rag_score_and_is_idempotent(run_dir: Path, tmp_path: Path, capsys) -> None:
    db = tmp_path / "lb.sqlite"
    pred = run_dir / "predictions.jsonl"
    out = cli("submit", "--db", str(db), "--track", "synthetic", "--predictions", str(pred), "--metadata", str(metadata(tmp_path)))
    assert out.returncode == 0, out.stderr
    assert "submission 1 stored" in out.stdout
    again = cli("submit", "--db", str(db), "--track", "synthetic", "--predictions", str(pred), "--metadata", str(metadata(tmp_path)))
    assert "already stored" in again.stdout
    row = sqlite3.connect(db).execute("SELECT em, f1, sub_em, n, n_missing, retrieval_calls FROM submissions").fetchall()
    assert len(row) == 1
    gold = tmp_path / "gold.jsonl"
    from leaderboard.tracks import get_track

    gold.write_text("".join(json.dumps({"id": e.id, "question": e.question, "golden_answers": list(e.answers)}) + "\n"
                            for e in get_track("synthetic").examples()))
    assert main(["score", "--gold", str(gold), "--pred", str(pred), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    em, f1, sub_em, n, n_missing, calls = row[0]
    assert (em, f1, sub_em, n, n_missing) == (scored["em"], scored["f1"], scored["sub_em"], scored["n"], scored["n_missing"])
    assert calls == pytest.approx(scored["retrieval_calls_mean"])


def test_the_same_predictions_written_otherwise_are_the_same_submission(run_dir: Path, tmp_path: Path) -> None:
    """Line order, CRLF line ends and a BOM do not make a second row: the hash is of the parsed predictions."""
    db, meta = tmp_path / "lb.sqlite", str(metadata(tmp_path))
    lines = (run_dir / "predictions.jsonl").read_text().splitlines()
    other = tmp_path / "other.jsonl"
    other.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(reversed(lines)).encode() + b"\r\n")
    first = cli("submit", "--db", str(db), "--track", "synthetic", "--predictions", str(run_dir / "predictions.jsonl"), "--metadata", meta)
    assert "submission 1 stored" in first.stdout, first.stderr
    again = cli("submit", "--db", str(db), "--track", "synthetic", "--predictions", str(other), "--metadata", meta)
    assert again.returncode == 0 and "already stored" in again.stdout, again.stdout + again.stderr
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM submissions").fetchone() == (1,)


def test_a_cost_not_reported_is_shown_as_such_and_kept_off_the_pareto_front(run_dir: Path, tmp_path: Path) -> None:
    """Predictions without cost counters are not free: their costs are stored as NULL, shown "–", and the row is neither on
    the Pareto front nor beating the rows that report them; a cost given on some lines only is refused."""
    db = tmp_path / "lb.sqlite"
    records = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    bare = tmp_path / "bare.jsonl"
    bare.write_text("".join(json.dumps({"id": r["id"], "prediction": r["prediction"]}) + "\n" for r in records))
    assert cli("submit", "--db", str(db), "--track", "synthetic", "--predictions", str(run_dir / "predictions.jsonl"),
               "--metadata", str(metadata(tmp_path))).returncode == 0
    out = cli("submit", "--db", str(db), "--track", "synthetic", "--predictions", str(bare),
              "--metadata", str(metadata(tmp_path, method="no costs reported")))
    assert out.returncode == 0, out.stderr
    assert sqlite3.connect(db).execute("SELECT rounds, retrieval_calls, tokens FROM submissions WHERE id = 2").fetchone() == (None,) * 3
    assert cli("render", "--db", str(db), "--out", str(tmp_path / "site")).returncode == 0
    table = {line.split(" | ")[0].lstrip("| ").split("](")[0].lstrip("["): line
             for line in (tmp_path / "site" / "leaderboard.md").read_text().splitlines() if line.startswith("| ")}
    assert table["no costs reported"].endswith("| – | 0 | 0 |  |")  # retrieval calls, missing, seed, not on the front
    assert table["rule-planner"].endswith("★ |")  # the same answers with their costs: still the front
    partial = tmp_path / "partial.jsonl"
    partial.write_text("".join(json.dumps({k: v for k, v in r.items() if i or k != "retrieval_calls"}) + "\n"
                               for i, r in enumerate(records)))
    refused = cli("validate", "--track", "synthetic", "--predictions", str(partial), "--metadata", str(metadata(tmp_path)))
    assert refused.returncode == 2
    assert f"retrieval_calls is given on {len(records) - 1} of {len(records)} predictions; give it on every line, or on none" in refused.stderr


def test_reading_commands_change_no_other_database_and_bad_output_folders_are_one_line(run_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    before = other.read_bytes()
    for command in (["list"], ["render", "--out", str(tmp_path / "site")], ["remove", "1"]):
        out = cli(*command[:1], "--db", str(other), *command[1:])
        assert out.returncode == 2 and "not a leaderboard database (it has no submissions table); it was left untouched" in out.stderr
    assert other.read_bytes() == before
    db = tmp_path / "lb.sqlite"
    assert cli("submit", "--db", str(db), "--track", "synthetic", "--predictions", str(run_dir / "predictions.jsonl"),
               "--metadata", str(metadata(tmp_path))).returncode == 0
    (tmp_path / "afile").write_text("")
    out = cli("render", "--db", str(db), "--out", str(tmp_path / "afile" / "sub"))
    assert out.returncode == 2 and "afile is a file, so the folder cannot be created there" in out.stderr and "Traceback" not in out.stderr


def test_missing_ids_score_zero_and_are_counted(run_dir: Path, tmp_path: Path) -> None:
    half = tmp_path / "half.jsonl"
    half.write_text("".join((run_dir / "predictions.jsonl").read_text().splitlines(keepends=True)[:250]))
    db = tmp_path / "lb.sqlite"
    out = cli("submit", "--db", str(db), "--track", "synthetic", "--predictions", str(half), "--name", "half")
    assert out.returncode == 0 and "250 missing of 500" in out.stdout


def bad_inputs(run_dir: Path, tmp: Path) -> list[tuple[list[str], str]]:
    lines = (run_dir / "predictions.jsonl").read_text().splitlines()
    cases = []

    def file(name: str, content: str | bytes) -> str:
        path = tmp / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(path)

    good_meta = str(metadata(tmp))
    cases.append((["--predictions", file("truncated.jsonl", "\n".join(lines[:3]) + "\n" + lines[3][:20]), "--metadata", good_meta],
                  ":4: invalid JSON"))
    cases.append((["--predictions", file("types.jsonl", lines[0].replace('"rounds": ', '"rounds": "x", "r": ')), "--metadata", good_meta],
                  "field rounds"))
    cases.append((["--predictions", file("dup.jsonl", "\n".join([lines[0], lines[0]])), "--metadata", good_meta], "duplicate id"))
    cases.append((["--predictions", file("outside.jsonl", json.dumps({"id": "not-in-track", "prediction": "x"})), "--metadata", good_meta],
                  "is not a question of track"))
    big = tmp / "big.jsonl"
    with big.open("wb") as f:
        f.truncate(100 * 1024 * 1024)
    cases.append((["--predictions", str(big), "--metadata", good_meta], "at most 20,971,520 bytes"))
    rec = json.loads(lines[0])
    rec["prediction"] = "bell\x07here"
    cases.append((["--predictions", file("control.jsonl", json.dumps(rec)), "--metadata", good_meta], "control characters"))
    extra = tmp / "extra.json"
    extra.write_text(json.dumps({**json.loads(Path(good_meta).read_text()), "extra": 1}))
    cases.append((["--predictions", str(run_dir / "predictions.jsonl"), "--metadata", str(extra)], "field extra"))
    missing = tmp / "missing.json"
    meta = json.loads(Path(good_meta).read_text())
    del meta["paradigm"]
    missing.write_text(json.dumps(meta))
    cases.append((["--predictions", str(run_dir / "predictions.jsonl"), "--metadata", str(missing)], "field paradigm"))
    cases.append((["--predictions", str(run_dir / "predictions.jsonl"), "--metadata", str(tmp / "nofile.json")], "nofile.json: no such file"))
    cases.append((["--predictions", str(run_dir / "predictions.jsonl"), "--metadata", str(tmp)], "is a folder; expected a file"))
    cases.append((["--predictions", str(tmp), "--metadata", good_meta], "is a folder; expected a file"))
    both = ["--predictions", file("both.jsonl", '{"id": 3}'), "--metadata", str(missing)]  # every problem of both files
    cases.append((both, "field paradigm"))
    cases.append((both, "both.jsonl:1: field id"))
    return cases


def test_the_track_command_reproduces_the_board_run(run_dir: Path, tmp_path: Path) -> None:
    """``jade-rag evaluate --track synthetic`` builds exactly the track's env: the seed's predictions, byte for byte."""
    out = tmp_path / "track"
    assert main(["evaluate", "--track", "synthetic", "--agent", "rule-planner", "--out", str(out), "--quiet"]) == 0
    assert (out / "predictions.jsonl").read_bytes() == (run_dir / "predictions.jsonl").read_bytes()
    assert json.loads((out / "metrics.json").read_text())["split_hash"] == json.loads((run_dir / "metrics.json").read_text())["split_hash"]
    listed = cli("tracks").stdout
    assert "run: jade-rag evaluate --track synthetic --agent AGENT" in listed and "run: jade-rag evaluate --track hotpotqa-dev" in listed
    for argv, message in [(["--limit", "5"], "evaluates every question of the track"),
                          (["--env-kwargs", '{"top_k": 3}'], "track synthetic pins top_k=5"),
                          (["--env-kwargs", '{"corpus": "per_question", "strict_format": false}'],
                           "may only give cache_dir, replay_cache, not corpus, strict_format"),
                          (["--env-kwargs", '{"retriever": "lucene"}'], "not retriever (use --env JadeRAG-Synthetic-v0"),
                          (["--track", "synthetik"], "did you mean 'synthetic'?")]:
        res = subprocess.run([sys.executable, "-m", "jade_env.cli", "evaluate", "--track", "synthetic", "--agent", "rule-planner",
                              "--out", str(tmp_path / "refused"), *argv], capture_output=True, text=True)
        assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not (tmp_path / "refused").exists()


def test_predictions_of_another_synthetic_world_are_refused_with_what_to_run(tmp_path: Path) -> None:
    """The classic mistake: the first 500 questions of a 1,000-question world look like the track's, but are not."""
    wrong = tmp_path / "wrong"
    evaluate("JadeRAG-Synthetic-v0", "rule-planner", wrong, env_kwargs={"n": 1000}, limit=500, progress=False)
    res = cli("validate", "--track", "synthetic", "--predictions", str(wrong / "predictions.jsonl"))
    assert res.returncode == 2
    assert "500 prediction id(s) are not questions of track 'synthetic' (made on the Synthetic world s0-n1000)" in res.stderr
    assert "jade-rag evaluate --track synthetic --agent AGENT" in res.stderr


def test_every_bad_input_leaves_the_database_byte_identical(run_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "lb.sqlite"
    assert cli("submit", "--db", str(db), "--track", "synthetic", "--predictions", str(run_dir / "predictions.jsonl"),
               "--name", "first").returncode == 0
    before = db.read_bytes()
    for args, message in bad_inputs(run_dir, tmp_path):
        out = cli("submit", "--db", str(db), "--track", "synthetic", *args)
        assert out.returncode == 2, (args, out.stdout)
        assert message in out.stderr and "Traceback" not in out.stderr, (message, out.stderr)
        assert db.read_bytes() == before
    out = cli("submit", "--db", str(db), "--track", "no-such-track", "--predictions", str(run_dir / "predictions.jsonl"))
    assert out.returncode == 2 and "does not exist; tracks: synthetic" in out.stderr and db.read_bytes() == before


def test_locked_and_corrupt_databases(run_dir: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not sqlite" * 100)
    before = corrupt.read_bytes()
    out = cli("submit", "--db", str(corrupt), "--track", "synthetic", "--predictions", str(run_dir / "predictions.jsonl"), "--name", "x")
    assert out.returncode == 2 and "corrupt" in out.stderr and corrupt.read_bytes() == before
    db = tmp_path / "locked.sqlite"
    assert cli("submit", "--db", str(db), "--track", "synthetic", "--predictions", str(run_dir / "predictions.jsonl"),
               "--name", "a").returncode == 0
    before = db.read_bytes()  # read before locking: closing any descriptor of the file drops this process's POSIX locks
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        out = cli("submit", "--db", str(db), "--track", "synthetic", "--predictions", str(run_dir / "predictions.jsonl"), "--name", "b")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert out.returncode == 2 and "locked" in out.stderr
    assert db.read_bytes() == before


def test_two_processes_submitting_at_once_both_land(run_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "lb.sqlite"
    procs = [subprocess.Popen([sys.executable, "-m", "jade_env.cli", "leaderboard", "submit", "--db", str(db), "--track", "synthetic",
                               "--predictions", str(run_dir / "predictions.jsonl"), "--name", f"proc-{i}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 2


def test_list_remove_render_and_escaping(run_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "lb.sqlite"
    for name, paradigm in [("<script>alert(1)</script>", "reference"), ("second", "joint")]:
        assert cli("submit", "--db", str(db), "--track", "synthetic", "--predictions", str(run_dir / "predictions.jsonl"),
                   "--metadata", str(metadata(tmp_path, method=name, paradigm=paradigm))).returncode == 0
    listed = cli("list", "--db", str(db))
    assert "second" in listed.stdout and "<script>" in listed.stdout
    out = cli("render", "--db", str(db), "--out", str(tmp_path / "site"))
    assert out.returncode == 0
    page = (tmp_path / "site" / "index.html").read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;" in (tmp_path / "site" / "leaderboard.md").read_text()
    assert cli("remove", "--db", str(db), "1").returncode == 0
    assert "second" in cli("list", "--db", str(db)).stdout and "alert" not in cli("list", "--db", str(db)).stdout
    assert cli("remove", "--db", str(db), "99").returncode == 2


def test_page_in_a_real_headless_browser(run_dir: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on this machine (Debian package chromium); .ci/run installs it")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    db = tmp_path / "lb.sqlite"
    half = tmp_path / "half.jsonl"
    half.write_text("".join((run_dir / "predictions.jsonl").read_text().splitlines(keepends=True)[:200]))
    for name, paradigm, pred in [("<script>alert(1)</script>", "reference", run_dir / "predictions.jsonl"),
                                 ("half-run", "joint", half)]:
        assert cli("submit", "--db", str(db), "--track", "synthetic", "--predictions", str(pred),
                   "--metadata", str(metadata(tmp_path, method=name, paradigm=paradigm))).returncode == 0
    assert cli("render", "--db", str(db), "--out", str(tmp_path / "site")).returncode == 0
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                                                    "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page()
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto((tmp_path / "site" / "index.html").as_uri())
        rows = page.locator("#synthetic table.board tbody tr")
        assert rows.count() == 2
        assert page.locator("#synthetic td.text").first.text_content() in ("<script>alert(1)</script>", "half-run")
        f1_header = page.locator("#synthetic th", has_text="F1").first
        f1_header.click()  # descending
        first = rows.nth(0).locator("td").first.text_content()
        f1_header.click()  # ascending
        assert rows.nth(0).locator("td").first.text_content() != first
        assert {rows.nth(0).locator("td").first.text_content(), first} == {"<script>alert(1)</script>", "half-run"}
        page.select_option("#paradigm", "joint")
        assert page.locator("#synthetic tbody tr:visible").count() == 1
        assert page.locator("#synthetic tbody tr:visible td").first.text_content() == "half-run"
        page.select_option("#paradigm", "all")
        link = page.locator("#synthetic td.text a").first  # the code link: an http(s) URL, so a link
        assert link.get_attribute("href") == "https://example.org/jade_env"
        row = page.locator("#synthetic tbody tr", has_text="half-run")
        row.locator("details summary").click()
        assert "team@example.org" in row.locator("td.details").inner_text() and "training data" in row.locator("td.details").inner_text()
        assert page.locator("#synthetic tbody td", has_text="97.9").count() >= 1  # scores in percent
        assert page.locator("#synthetic svg text.label").count() == 2  # every point labelled
        assert page.locator("#synthetic tbody td", has_text="\u2605").count() >= 1  # the Pareto front is marked
        assert "jade-rag evaluate --track synthetic" in page.locator("#synthetic p.meta").inner_text()
        page.screenshot(path=str(tmp_path / "site" / "screenshot.png"), full_page=True)
        browser.close()
    assert dialogs == []  # the escaped method name ran nothing
    shutil.copy(tmp_path / "site" / "screenshot.png", Path(__file__).resolve().parents[1] / ".pytest-leaderboard-screenshot.png")
