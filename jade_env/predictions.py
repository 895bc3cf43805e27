"""Reading prediction files: the official HotpotQA/SQuAD JSON forms and our JSONL.

Accepted forms, detected by content:

===================  ========================================================================
``jsonl``            one JSON object per line with ``id`` and ``prediction`` (the format that
                     ``jade-rag evaluate`` writes and the leaderboard takes); other fields, such
                     as ``rounds``, ``retrieval_calls`` and ``tokens``, are kept as costs when
                     they are numbers.
``hotpotqa``         the official HotpotQA prediction JSON: ``{"answer": {id: text}, "sp": ...}``.
``squad``            the official SQuAD prediction JSON: ``{id: text}``.
===================  ========================================================================

A file is JSONL when its first line is a whole object that has ``id`` or ``prediction`` or is followed by more lines;
otherwise it is one of the JSON-object forms (a record spread over lines is named as such, not read as ``{id: text}``).

Bad input (unreadable file, bad JSON, a line that is not an object, a missing or non-string
``id`` or ``prediction``, a duplicate id, in any form) raises :class:`~jade_env.errors.DataFormatError` with one
line naming the file, the line or id, and what was expected. JSONL is read one line at a time, and a
UTF-8 BOM at the start of the file is accepted.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from jade_env.data.loaders import MAX_LINE_BYTES, first_line, iter_jsonl, read_text_file
from jade_env.errors import DataFormatError, json_problem
from jade_env.records import Record
from jade_env.records import set_field as _set

TYPE_CHECKING = False  # typing is not imported at run time: `jade-rag score` starts without it
if TYPE_CHECKING:
    from typing import Any

COST_FIELDS: tuple[str, ...] = ("rounds", "retrieval_calls", "tokens")


class Prediction(Record):
    """One predicted answer and the cost counters reported with it (a frozen record: :mod:`jade_env.records`)."""

    __slots__ = ("id", "prediction", "costs")
    id: str
    prediction: str
    costs: dict[str, float]

    def __init__(self, id: str, prediction: str, costs: dict[str, float] | None = None) -> None:
        _set(self, "id", id)
        _set(self, "prediction", prediction)
        _set(self, "costs", {} if costs is None else costs)


def read_predictions(path: str | Path) -> dict[str, Prediction]:
    """Read a predictions file in any accepted form; returns id -> :class:`Prediction` in file order.

    JSONL is read one line at a time; the JSON-object forms are read whole. A leading BOM is accepted.
    """
    path = Path(path)
    first = first_line(path, "a predictions file")
    if not first:
        raise DataFormatError(f"{path}: the file is empty; expected predictions as JSONL lines or a JSON object")
    if first.startswith("{") and not _is_jsonl(path, first):
        return _read_json_object(path, read_text_file(path, "a predictions file"))
    return _read_jsonl(path)


def parse_prediction(rec: Any) -> Prediction:
    """One JSONL predictions record, checked; a ``ValueError`` says what is wrong with it (the caller adds where)."""
    if not isinstance(rec, dict):
        raise ValueError(f"expected a JSON object with \"id\" and \"prediction\", got {type(rec).__name__}")
    qid = rec.get("id")
    if not isinstance(qid, str) or not qid:
        raise ValueError(f"\"id\" is {_describe(qid)}; expected a non-empty string")
    if "prediction" not in rec:
        raise ValueError(f"id {qid!r} has no \"prediction\" field")
    pred = rec["prediction"]
    if not isinstance(pred, str):
        raise ValueError(f"id {qid!r}: \"prediction\" is {_describe(pred)}; expected a string")
    costs: dict[str, float] = {}
    for name in COST_FIELDS:
        value = rec.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"id {qid!r}: {name!r} is {_describe(value)}; expected a finite number >= 0 (a cost)")
        costs[name] = float(value)
    return Prediction(qid, pred, costs)


def _is_jsonl(path: Path, first: str) -> bool:
    """Whether a file whose first line ``first`` opens an object is JSONL: its first line is a whole object that is a
    record (has ``id`` or ``prediction``) or is followed by more lines. A one-line object of other keys is the SQuAD form."""
    if len(first.encode()) >= MAX_LINE_BYTES - 16:
        return True  # a line cut short by first_line: the JSONL reader says it is too long, naming the line
    try:
        obj = json.loads(first)
    except json.JSONDecodeError as err:
        # an object over several lines fails where the line ends (its text goes on); a failure inside the line (a string
        # cut short, a control character) is a broken JSONL record, which the JSONL reader names with its line
        return err.pos < len(first)
    except ValueError:  # whole JSON that Python cannot hold (an integer of over 4,300 digits): a record of one line
        return True
    except RecursionError:
        return first.endswith("}")
    if not isinstance(obj, dict):
        return True
    if "id" in obj or "prediction" in obj:
        return True
    with path.open("rb") as f:
        f.readline()
        return any(line.strip() for line in f)


class _RepeatedId(ValueError):
    """An id given twice in one JSON object (raised by :func:`_unique_keys` from inside ``json.loads``)."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """``json.loads``' object hook: an id given twice in one object is an error, not the last one silently kept."""
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedId(f"id {key!r} appears twice in one object; expected each id once")
        out[key] = value
    return out


def _read_json_object(path: Path, text: str) -> dict[str, Prediction]:
    try:
        obj = json.loads(text, object_pairs_hook=_unique_keys)
    except _RepeatedId as err:
        raise DataFormatError(f"{path}: {err}") from None
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path}:{err.lineno}: invalid JSON ({json_problem(err)}); "
                              "expected a JSON object of predictions") from None
    except (ValueError, RecursionError) as err:  # an integer of more than 4,300 digits; nesting deeper than Python's stack
        raise DataFormatError(f"{path}: unreadable JSON ({type(err).__name__}); expected a JSON object of predictions") from None
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    if "id" in obj and "prediction" in obj:
        raise DataFormatError(f"{path}: the file is one record {{\"id\", \"prediction\"}} written over several lines; JSONL "
                              "needs each record on one line (or give a JSON object {id: prediction})")
    answers = obj.get("answer") if "answer" in obj and isinstance(obj.get("answer"), dict) else obj
    where = 'in "answer"' if answers is not obj else "at the top level"
    out: dict[str, Prediction] = {}
    for qid, pred in answers.items():
        if qid == "sp" and answers is obj:
            continue
        if not qid:
            raise DataFormatError(f"{path}: an empty id {where}; expected each question's id")
        if not isinstance(pred, str):
            raise DataFormatError(
                f"{path}: id {qid!r} {where}: prediction is {type(pred).__name__}; expected a string"
            )
        out[qid] = Prediction(qid, pred)
    return out


def _read_jsonl(path: Path) -> dict[str, Prediction]:
    out: dict[str, Prediction] = {}
    for lineno, rec in iter_jsonl(path):
        try:
            prediction = parse_prediction(rec)
        except ValueError as err:
            raise DataFormatError(f"{path}:{lineno}: {err}") from None
        if prediction.id in out:
            raise DataFormatError(f"{path}:{lineno}: duplicate id {prediction.id!r}; each id must appear once")
        out[prediction.id] = prediction
    if not out:
        raise DataFormatError(f"{path}: no predictions found; expected JSONL lines with \"id\" and \"prediction\"")
    return out


def _describe(value: object) -> str:
    return "missing" if value is None else f"{type(value).__name__} {json.dumps(value)[:40]}"
