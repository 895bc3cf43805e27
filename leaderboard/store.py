"""The leaderboard database (SQLite): submissions and their scores, written in one transaction each.

``submit`` validates first (nothing touches the database for a bad submission), scores with
:func:`jade_env.scoring.score_corpus` against the track's questions (a missing id scores 0), then
inserts in one ``BEGIN IMMEDIATE`` transaction. The same files submitted again are recognised by
their content hash and not stored twice. Two processes submitting at once both land (the second waits
for the lock) or one fails cleanly with "database is locked"; a corrupt file is reported, never
repaired or overwritten. The database stores contact addresses, so a new one is created readable by
its owner only (0600, and SQLite gives its journal files the same mode), in a folder created 0700.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from jade_env.errors import JadeError
from jade_env.predictions import COST_FIELDS
from jade_env.scoring import score_corpus
from leaderboard.submission import Submission
from leaderboard.tracks import Track

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    track TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    method TEXT NOT NULL,
    paradigm TEXT NOT NULL,
    model TEXT NOT NULL,
    metadata TEXT NOT NULL,
    submitted TEXT NOT NULL,
    n INTEGER NOT NULL,
    n_missing INTEGER NOT NULL,
    em REAL NOT NULL, f1 REAL NOT NULL, precision REAL NOT NULL, recall REAL NOT NULL, sub_em REAL NOT NULL,
    rounds REAL, retrieval_calls REAL, tokens REAL,
    predictions TEXT NOT NULL,
    UNIQUE (track, content_hash)
)
"""
COLUMNS = ("id", "track", "method", "paradigm", "model", "submitted", "n", "n_missing", "em", "f1", "precision", "recall", "sub_em",
           "rounds", "retrieval_calls", "tokens")


def default_db() -> Path:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "jade_env" / "leaderboard.sqlite"


@contextmanager
def connect(path: str | os.PathLike, create: bool = True):
    """The database at ``path``; ``create=False`` (list, render, remove) needs one that exists and holds the leaderboard's
    table, and changes nothing in a file that is not a leaderboard database."""
    path = Path(path)
    if not path.exists():
        if not create:
            raise JadeError(f"{path}: no leaderboard database here")
        _create_private(path)
    try:
        db = sqlite3.connect(path, timeout=10.0, isolation_level=None)
        db.execute("PRAGMA busy_timeout=10000")
        if create:
            db.execute(SCHEMA)
        elif db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'submissions'").fetchone() is None:
            db.close()
            raise JadeError(f"{path}: not a leaderboard database (it has no submissions table); it was left untouched")
    except sqlite3.OperationalError as err:
        raise JadeError(f"{path}: the database is locked or unwritable ({err}); try again") from None
    except sqlite3.DatabaseError as err:
        raise JadeError(f"{path}: not a leaderboard database or corrupt ({err}); it was left untouched") from None
    try:
        yield db
    except sqlite3.OperationalError as err:
        raise JadeError(f"{path}: {err}; nothing was written") from None
    except sqlite3.DatabaseError as err:
        raise JadeError(f"{path}: corrupt database ({err}); nothing was written") from None
    finally:
        db.close()


def _create_private(path: Path) -> None:
    """An empty database file (SQLite reads an empty file as an empty database) that only its owner can read."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the mode applies to the folder it creates, not to existing ones
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as err:
        raise JadeError(f"{path}: cannot create the database ({err.strerror})") from None


def score(track: Track, submission: Submission) -> dict:
    golds = {e.id: e.answers for e in track.examples()}
    preds = submission.predictions
    return score_corpus(golds, {q: p.prediction for q, p in preds.items()},
                        costs={q: {name: getattr(p, name) for name in COST_FIELDS if getattr(p, name) is not None}
                               for q, p in preds.items()})  # a cost not reported stays out: its mean is None, not 0


def submit(db_path: str | os.PathLike, track: Track, submission: Submission) -> tuple[int, bool, dict]:
    """Store a validated submission; returns (id, created, scores). Idempotent on the content hash."""
    scores = score(track, submission)
    predictions = "\n".join(p.model_dump_json() for p in submission.predictions.values())
    with connect(db_path) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT id FROM submissions WHERE track = ? AND content_hash = ?",
                             (track.slug, submission.content_hash)).fetchone()
            if row is not None:
                db.execute("ROLLBACK")
                return int(row[0]), False, scores
            m = submission.metadata
            cur = db.execute(
                "INSERT INTO submissions (track, content_hash, method, paradigm, model, metadata, submitted, n, n_missing, em, f1, "
                "precision, recall, sub_em, rounds, retrieval_calls, tokens, predictions) VALUES (" + ", ".join("?" * 18) + ")",
                (track.slug, submission.content_hash, m.method, m.paradigm, m.model, m.model_dump_json(),
                 datetime.now(timezone.utc).isoformat(timespec="seconds"), scores["n"], scores["n_missing"], scores["em"], scores["f1"],
                 scores["precision"], scores["recall"], scores["sub_em"], scores.get("rounds_mean"), scores.get("retrieval_calls_mean"),
                 scores.get("tokens_mean"), predictions),
            )
            db.execute("COMMIT")
            return int(cur.lastrowid), True, scores
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


def rows(db_path: str | os.PathLike, track: str | None = None) -> list[dict]:
    """Every stored submission (of ``track``), best F1 first: its scores and, under ``"metadata"``, every submitted field."""
    with connect(db_path, create=False) as db:
        query = (f"SELECT {', '.join(COLUMNS)}, metadata FROM submissions" + (" WHERE track = ?" if track else "")
                 + " ORDER BY track, f1 DESC, id")
        return [{**dict(zip(COLUMNS, r[:-1], strict=True)), "metadata": _metadata(r[-1])}
                for r in db.execute(query, (track,) if track else ())]


def _metadata(text: str) -> dict:
    """The stored metadata JSON; an unreadable one (a database written by hand) is shown as empty, never a crash."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def remove(db_path: str | os.PathLike, submission_id: int) -> None:
    with connect(db_path, create=False) as db:
        db.execute("BEGIN IMMEDIATE")
        deleted = db.execute("DELETE FROM submissions WHERE id = ?", (submission_id,)).rowcount
        db.execute("COMMIT")
    if not deleted:
        raise JadeError(f"{db_path}: no submission with id {submission_id}")


def metadata_of(db_path: str | os.PathLike, submission_id: int) -> dict:
    with connect(db_path, create=False) as db:
        row = db.execute("SELECT metadata FROM submissions WHERE id = ?", (submission_id,)).fetchone()
    return json.loads(row[0]) if row else {}
