"""Submissions: ``predictions.jsonl`` plus ``submission.json``, validated with pydantic at the edge.

``predictions.jsonl`` is what ``jade-rag evaluate`` writes: one line per question id with
``prediction`` (a string of at most 2,000 characters, no control characters other than tab and
newline) and the cost counters ``rounds``, ``retrieval_calls``, ``tokens`` (finite numbers from 0 to
:data:`MAX_COST`: ``1e999``, ``Infinity`` and ``NaN`` are refused). Each counter is given on every line or on
none; one given on none is not reported: stored as NULL, shown as "–", and off the Pareto front (never as free).
The content hash is of the parsed predictions and metadata, so the same submission written with other line ends,
line order or a BOM is recognised as stored.
``submission.json`` holds the metadata: ``method``, ``paradigm`` (one of :data:`PARADIGMS`), ``model``,
``parameters`` (an integer or null), ``training_data``, ``code_link`` (http(s) URL or empty),
``contact``, ``seed``, ``track``, and optionally ``command`` (how to reproduce); no other field. Its
texts are single lines: no control character (newline and tab included), line or paragraph separator,
bidirectional override or lone surrogate, since they are shown on the page and in the Markdown table.
Every violation is reported with its line or field, all of them at once; a file over
:data:`MAX_FILE_BYTES` is refused before it is read. A UTF-8 BOM at the start of either file is accepted.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from jade_env.errors import JadeError, json_problem
from jade_env.predictions import COST_FIELDS
from leaderboard.tracks import Track

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_PREDICTION_CHARS = 2_000
PARADIGMS = ("joint", "decoupled", "static", "monolithic", "reference", "other")
MAX_COST = 1e15
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")  # a prediction may hold tabs and newlines
# in a single-line text: every C0/C1 control, line and paragraph separators, bidirectional embeddings, overrides and
# isolates (which reorder what a reader sees), and lone surrogates (which SQLite cannot store as UTF-8)
_NOT_IN_A_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_BOM = b"\xef\xbb\xbf"
_SYNTHETIC_ID = re.compile(r"^syn-(s\d+-n\d+)(?:-[0-9a-f]+)?-\d+$")  # jade_env.data.synthetic's ids: syn-s<seed>-n<size>[-digest]-<i>


def _single_line(value: str) -> str:
    found = _NOT_IN_A_LINE.search(value)
    if found:
        raise ValueError(f"contains the control character U+{ord(found.group()):04X} at position {found.start()}; "
                         "expected one line of printable text")
    return value


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"is {value}; expected a finite number")
    return value


class SubmissionError(JadeError):
    """A submission that cannot be accepted; its message lists every problem, one per line."""


class PredictionLine(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(min_length=1, max_length=200)
    prediction: str = Field(max_length=MAX_PREDICTION_CHARS)
    rounds: float | int | None = Field(default=None, ge=0, le=MAX_COST)  # None: not reported (shown "–", never as free)
    retrieval_calls: float | int | None = Field(default=None, ge=0, le=MAX_COST)
    tokens: float | int | None = Field(default=None, ge=0, le=MAX_COST)

    @field_validator("prediction")
    @classmethod
    def no_control_characters(cls, value: str) -> str:
        if _CONTROL.search(value):
            raise ValueError("contains control characters; only printable text, tabs and newlines are allowed")
        return value

    @field_validator("id")
    @classmethod
    def id_is_one_line(cls, value: str) -> str:
        return _single_line(value)

    @field_validator("rounds", "retrieval_calls", "tokens", mode="before")
    @classmethod
    def finite(cls, value: object) -> object:
        return _finite(value)


class Metadata(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    method: str = Field(min_length=1, max_length=200)
    paradigm: Literal["joint", "decoupled", "static", "monolithic", "reference", "other"]
    model: str = Field(max_length=200)
    parameters: int | None = Field(default=None, ge=0)
    training_data: str = Field(max_length=500)
    code_link: str = Field(max_length=500)
    contact: str = Field(max_length=200)
    seed: int
    track: str
    command: str = Field(default="", max_length=1000)  # how to reproduce the predictions

    @field_validator("method", "model", "training_data", "code_link", "contact", "track", "command")
    @classmethod
    def one_line(cls, value: str) -> str:
        return _single_line(value)

    @field_validator("code_link")
    @classmethod
    def url_or_empty(cls, value: str) -> str:
        if value and not re.match(r"^https?://\S+$", value):
            raise ValueError("must be an http(s) URL or empty")
        return value


@dataclass(frozen=True)
class Submission:
    metadata: Metadata
    predictions: dict[str, PredictionLine]
    missing: tuple[str, ...]
    content_hash: str


def _errors(err: ValidationError, where: str) -> list[str]:
    return [f"{where}: field {'.'.join(map(str, e['loc'])) or '(record)'}: {e['msg']}" for e in err.errors()]


def read_metadata(path: Path | None, track: str, name: str | None) -> Metadata:
    """The metadata file, or (without one) a minimal record named ``name`` for ``track``."""
    if path is None:
        raw = {"method": name or "unnamed", "paradigm": "other", "model": "", "parameters": None, "training_data": "",
               "code_link": "", "contact": "", "seed": 0, "track": track}
    else:
        raw = _load_json(path)
        if name and isinstance(raw, dict):
            raw["method"] = name
    if not isinstance(raw, dict):
        raise SubmissionError(f"{path}: expected a JSON object of metadata")
    try:
        meta = Metadata.model_validate(raw)
    except ValidationError as err:
        raise SubmissionError("\n".join(_errors(err, str(path)))) from None
    if meta.track != track:
        raise SubmissionError(f"{path}: field track: {meta.track!r} does not match --track {track!r}")
    return meta


def _regular_file(path: Path) -> int:
    """The size of the file at ``path``; one SubmissionError when there is none, or it is a folder."""
    try:
        if path.is_dir():
            raise SubmissionError(f"{path}: is a folder; expected a file")
        return path.stat().st_size
    except FileNotFoundError:
        raise SubmissionError(f"{path}: no such file") from None
    except OSError as err:
        raise SubmissionError(f"{path}: cannot be read ({err.strerror})") from None


def _load_json(path: Path):
    if _regular_file(path) > 1024 * 1024:
        raise SubmissionError(f"{path}: {path.stat().st_size} bytes; metadata must be under 1 MiB")
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SubmissionError(f"{path}: not valid UTF-8 JSON ({err})") from None
    except (ValueError, RecursionError) as err:  # an integer of more than 4,300 digits; nesting deeper than Python's stack
        raise SubmissionError(f"{path}: unreadable JSON ({type(err).__name__}: {str(err)[:80]})") from None


def read_predictions(path: Path, track: Track) -> tuple[dict[str, PredictionLine], tuple[str, ...]]:
    """Every valid line and the ids of the track without a prediction; or every problem at once."""
    size = _regular_file(path)
    if size > MAX_FILE_BYTES:
        raise SubmissionError(f"{path}: {size:,} bytes; a predictions file may have at most {MAX_FILE_BYTES:,} bytes")
    data = path.read_bytes()
    skip = len(_BOM) if data.startswith(_BOM) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: skip + err.start].count(b"\n") + 1
        raise SubmissionError(f"{path}:{line}: byte {skip + err.start} is not valid UTF-8") from None
    wanted = {e.id for e in track.examples()}
    problems: list[str] = []
    foreign: list[str] = []
    lines: dict[str, PredictionLine] = {}
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(f"{where}: invalid JSON ({json_problem(err)}); the file may be truncated")
            continue
        except (ValueError, RecursionError) as err:
            problems.append(f"{where}: unreadable JSON ({type(err).__name__}: {str(err)[:80]})")
            continue
        try:
            rec = PredictionLine.model_validate(raw)
        except ValidationError as err:
            problems.extend(_errors(err, where))
            continue
        if rec.id in lines:
            problems.append(f"{where}: duplicate id {rec.id!r}")
        elif rec.id not in wanted:
            problems.append(f"{where}: id {rec.id!r} is not a question of track {track.slug!r}")
            foreign.append(rec.id)
        else:
            lines[rec.id] = rec
    if not lines and not problems:
        problems.append(f"{path}: no predictions")
    for name in COST_FIELDS:  # a cost is reported for every prediction or for none: a mean over some would mislead
        given = sum(getattr(rec, name) is not None for rec in lines.values())
        if 0 < given < len(lines):
            problems.append(f"{path}: {name} is given on {given} of {len(lines)} predictions; give it on every line, or on none "
                            "(the cost is then shown as not reported)")
    if problems:
        shown = problems[:50] + ([f"... and {len(problems) - 50} more"] if len(problems) > 50 else [])
        if foreign:
            shown.append(_foreign_hint(track, foreign))
        raise SubmissionError(f"{len(problems)} problem(s) in the submission:\n" + "\n".join(shown))
    missing = tuple(e.id for e in track.examples() if e.id not in lines)
    return lines, missing


def _foreign_hint(track: Track, foreign: list[str]) -> str:
    """What to run when predictions were made on other questions (another file, or another Synthetic world)."""
    worlds = {m.group(1) for m in map(_SYNTHETIC_ID.match, foreign) if m}
    made_on = f" (made on the Synthetic world {', '.join(sorted(worlds))})" if worlds else ""
    return (f"{len(foreign)} prediction id(s) are not questions of track {track.slug!r}{made_on}: the predictions come from "
            f"another split. Make them on the track's own questions with: {track.command()}")


def load_submission(track: Track, predictions: Path, metadata: Path | None = None, name: str | None = None) -> Submission:
    problems: list[str] = []  # the metadata's and the predictions' problems, all listed at once
    try:
        meta = read_metadata(metadata, track.slug, name)
    except SubmissionError as err:
        problems.append(str(err))
    try:
        lines, missing = read_predictions(predictions, track)
    except SubmissionError as err:
        problems.append(str(err))
    if problems:
        raise SubmissionError("\n".join(problems))
    # the same predictions and metadata are the same submission, however the file is written (line order, CRLF, a BOM)
    canonical = "\n".join(lines[qid].model_dump_json() for qid in sorted(lines))
    digest = hashlib.sha256(canonical.encode() + b"\0" + meta.model_dump_json().encode()).hexdigest()
    return Submission(meta, lines, missing, digest)
