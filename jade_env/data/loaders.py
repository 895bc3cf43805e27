"""Loaders for every question-file format found in practice, behind one function: :func:`load_file`.

Formats (``format=`` names), detected from the first record when not given:

=================  ==========================================================================================
``hotpotqa``       official HotpotQA JSON list (distractor and fullwiki): ``_id``, ``question``, ``answer``,
                   ``type``, ``supporting_facts`` ``[[title, sent_id]]``, ``context`` ``[[title, [sentences]]]``
``2wiki``          official 2WikiMultiHopQA JSON: the HotpotQA fields plus ``evidences``
``musique``        official MuSiQue JSONL or JSON list: ``id``, ``paragraphs``, ``question_decomposition``,
                   ``answer``, ``answer_aliases``, ``answerable``
``flashrag``       FlashRAG JSONL: ``id``, ``question``, ``golden_answers``, optional ``metadata`` with
                   HotpotQA/2Wiki ``context`` and ``supporting_facts`` or MuSiQue ``question_decomposition``
                   (also the DeepResearcher ``dev.jsonl``, with ``data_source``)
``nq_open``        NQ-open JSONL: ``question``, ``answer`` (a list); no id: the id is ``<file stem>-<line>``
                   counted from 0, e.g. ``NQ-open.dev-0``
``simple``         JSONL or JSON list with ``question`` and a string ``answer`` and ``id``/``idx`` (Bamboogle)
``verl``           verl / Search-R1 parquet: ``prompt``, ``reward_model.ground_truth`` (aliases joined by
                   ``<|answer_split|>``, or a list, or ``{"target": ...}``), ``extra_info.index``, ``data_source``
=================  ==========================================================================================

A "train with corpus" pair (HippoRAG's ``hotpotqa_train.json`` + ``hotpotqa_train_corpus.json``) loads
with ``corpus_path=``: passages of the corpus file whose title a question's supporting facts or
context name are attached to that question.

Passage ids are content hashes, ``"p" + sha1(title + "\\n" + text)[:16]``, so the same paragraph has
the same id in every file and format, and a pooled corpus de-duplicates by id. The text of a passage
split into sentences is the sentences joined as they are (HotpotQA sentences carry their own spaces).

Bad records follow one policy in every loader: ``on_error="raise"`` (the default) raises
:class:`~jade_env.errors.DataFormatError` naming the file, the record (line for JSONL, index for JSON
lists, and id when known) and what was expected; ``on_error="skip"`` leaves the record out and emits
one :class:`UserWarning` with the count and the first problem. A record is bad when a required field
is missing or of the wrong type, its answer list is empty, or its id repeats an earlier one (``skip``
keeps the first). A file that cannot be read at all (missing, not UTF-8, truncated JSON, wrong
top-level type, empty) always raises.

Every field is type-checked where it is read, and the error names it (``"paragraphs[3].title" is int``):
ids are strings or integers (an object is not turned into its ``str``), answers non-empty strings or
numbers, a list field (``answer_aliases``, ``golden_answers``) a list (a string is not a list of one
answer per character), an optional text field a string or null (null is ``""``, never ``"None"``),
sentences strings, paragraphs and ``reward_model`` objects.

JSONL is read one line at a time (a 1 GiB file costs one line of memory before its first error; a line
over :data:`MAX_LINE_BYTES` is refused); a JSON list is read whole. A UTF-8 BOM at the start is accepted.
A lone surrogate (a JSON ``\\ud800`` escape without its pair, which UTF-8 cannot encode) is kept as the
visible text ``\\ud800`` (:func:`escape_lone_surrogates`), so no later write or hash fails on it.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from jade_env.data.parquet import is_parquet, parquet_rows
from jade_env.data.types import DecompositionStep, Example, Passage, join_sentences, make_passage
from jade_env.errors import DataFormatError, json_problem

TYPE_CHECKING = False  # typing is not imported at run time: `jade-rag score` starts without it
if TYPE_CHECKING:
    from typing import Any, BinaryIO

FORMATS: tuple[str, ...] = ("hotpotqa", "2wiki", "musique", "flashrag", "nq_open", "simple", "verl")
ON_ERROR = ("raise", "skip")
ANSWER_SPLIT = "<|answer_split|>"
TWOWIKI_TYPES = frozenset({"compositional", "inference", "bridge_comparison"})


class BadRecord(Exception):
    """Raised inside a format parser; turned into a DataFormatError or a skip by :func:`load_file`."""


# ------------------------------------------------------------------------------------- reading records
MAX_LINE_BYTES = 64 << 20  # a JSONL record longer than this is not a question (or a prediction): refused before it is held
_BOM = b"\xef\xbb\xbf"
_LONE_SURROGATE = "[\ud800-\udfff]"  # compiled (and kept by re's cache) only when a file may hold one
#: a surrogate escape, \\uD800 to \\uDFFF (the pattern starts with the literal "\\u", which the regex engine finds fast)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def open_binary(path: Path, what: str = "a question file") -> BinaryIO:
    """``path`` opened for reading bytes; a DataFormatError naming the file when it cannot be."""
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise DataFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataFormatError(f"{path}: is a directory; expected {what}") from None
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read ({err.strerror})") from None


def read_text_file(path: Path, what: str = "a question file") -> str:
    """The UTF-8 text of ``path`` (a leading BOM dropped); a DataFormatError naming the file (and the line of a bad byte) otherwise."""
    with open_binary(path, what) as f:
        data = f.read()
    skip = len(_BOM) if data.startswith(_BOM) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as err:
        start = skip + err.start
        line = data[:start].count(b"\n") + 1
        raise DataFormatError(f"{path}:{line}: byte {start} (0x{data[start]:02x}) is not valid UTF-8; "
                              "expected a UTF-8 file") from None


def first_line(path: Path, what: str = "a question file", limit: int = MAX_LINE_BYTES) -> str:
    """The first line of the file that is not blank (after a BOM), stripped, at most ``limit`` bytes of it; ``""`` if none."""
    with open_binary(path, what) as f:
        for lineno in itertools.count(1):
            raw = f.readline(limit)
            if not raw:
                return ""
            if lineno == 1:
                raw = raw.removeprefix(_BOM)
            if raw.strip():
                return raw.strip().decode("utf-8", "replace")
    return ""


def escape_lone_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate (a JSON ``\\ud800`` escape without its pair) written as the text ``\\ud800``.

    A lone surrogate is not a character: UTF-8 cannot encode it, so a question holding one would make
    every later write and hash fail. The escape keeps what the file said, as visible text.
    """
    return _escaped(value, re.compile(_LONE_SURROGATE))


def _escaped(value: Any, lone: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return lone.sub(lambda m: f"\\u{ord(m.group()):04x}", value) if lone.search(value) else value
    if isinstance(value, list):
        return [_escaped(v, lone) for v in value]
    if isinstance(value, dict):
        return {_escaped(k, lone): _escaped(v, lone) for k, v in value.items()}
    return value


def _may_hold_surrogates(raw: bytes | str) -> bool:
    """Cheap test on the raw JSON: a surrogate can only come from a ``\\uD800``-``\\uDFFF`` escape.

    Text (a whole JSON file) is tested further, since a file with characters beyond U+FFFF is full of escaped
    surrogate *pairs*, which decode to one character each: when no backslash stands right before a surrogate escape's ``\\u`` (then
    it starts an escape), the text holds a lone surrogate exactly when a high-surrogate escape is not
    followed by a low one, or a low one not preceded by a high one.
    """
    if isinstance(raw, str):
        highs: set[int] = set()
        lows: set[int] = set()
        for m in _SURROGATE_ESCAPE.finditer(raw):
            start = m.start()
            if start and raw[start - 1] == "\\":  # perhaps an escaped backslash and the text "ud...": decided on the values
                return True
            (highs if raw[start + 3] in "89abAB" else lows).add(start)
        return any(h + 6 not in lows for h in highs) or any(low - 6 not in highs for low in lows)
    return b"\\ud" in raw or b"\\uD" in raw


def read_records(path: Path) -> Iterator[tuple[str, Any]]:
    """``(where, record)`` pairs of a JSON list, a JSONL file (streamed) or a parquet file; ``where`` names the record."""
    if is_parquet(path):
        yield from parquet_rows(path)
        return
    head = first_line(path, limit=4096)
    first = head[:1]
    if not first:
        raise DataFormatError(f"{path}: the file is empty; expected questions as {ACCEPTED}")
    pretty_object = first == "{" and len(head) < 4096 and head[-1] in "{[," and not _parses(head)  # an object over lines
    if first == "[" or pretty_object:
        data = _whole_json(path)
        for i, rec in enumerate(data if first == "[" else _records_of_object(data, path)):
            yield f"{path}: record {i}", rec
        return
    if first != "{":
        raise DataFormatError(f"{path}:1: expected {ACCEPTED}, found {head[:20]!r}")
    for lineno, rec in iter_jsonl(path):
        yield f"{path}:{lineno}", rec


#: what a question file may be, for the error messages
ACCEPTED = ("a JSON list of objects, JSON lines (one object per line), one pretty-printed JSON object (a record, or "
            '{"data": [...]}), a parquet file, or a datasets.Dataset')
_LIST_KEYS = ("data", "examples", "questions", "records", "rows")


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _whole_json(path: Path) -> Any:
    """A JSON file read whole (a list of records, or one pretty-printed object), lone surrogates escaped."""
    text = read_text_file(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path}:{err.lineno}: invalid JSON ({json_problem(err)}); the file may be truncated") from None
    except (ValueError, RecursionError) as err:  # an integer of more than 4,300 digits; nesting deeper than Python's stack
        raise DataFormatError(f"{path}: unreadable JSON ({type(err).__name__}: {str(err)[:80]})") from None
    return escape_lone_surrogates(data) if _may_hold_surrogates(text) else data


def _records_of_object(data: Any, path: Path) -> list:
    """A pretty-printed object: its list of records under one of :data:`_LIST_KEYS`, or itself as the one record."""
    lists = [k for k in _LIST_KEYS if isinstance(data, dict) and isinstance(data.get(k), list)]
    if len(lists) == 1:
        return data[lists[0]]
    if len(lists) > 1:
        raise DataFormatError(f"{path}: the object holds several lists of records ({', '.join(lists)}); expected one")
    return [data]


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` of every non-blank line of a JSONL file, read one line at a time.

    A BOM before the first line is dropped, lone surrogates are escaped (:func:`escape_lone_surrogates`),
    and a bad line (not UTF-8, not JSON, longer than :data:`MAX_LINE_BYTES`) is one DataFormatError
    naming the file and the line.
    """
    offset = 0
    with open_binary(path, "a JSONL file") as f:
        for lineno in itertools.count(1):
            raw = f.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise DataFormatError(f"{path}:{lineno}: the line is longer than {MAX_LINE_BYTES >> 20} MiB; "
                                      "expected one JSON object per line")
            start, offset = offset, offset + len(raw)
            if lineno == 1 and raw.startswith(_BOM):
                raw, start = raw[len(_BOM):], start + len(_BOM)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataFormatError(f"{path}:{lineno}: byte {start + err.start} (0x{raw[err.start]:02x}) is not valid UTF-8; "
                                      "expected a UTF-8 file") from None
            if not line.strip():
                continue
            try:
                value = json.loads(line.rstrip("\r\n"))  # without its line end, which a string cut short would take in
            except json.JSONDecodeError as err:
                raise DataFormatError(f"{path}:{lineno}: invalid JSON ({json_problem(err)}); "
                                      "expected one JSON object per line") from None
            except (ValueError, RecursionError) as err:
                raise DataFormatError(f"{path}:{lineno}: unreadable JSON ({type(err).__name__}: {str(err)[:80]}); "
                                      "expected one JSON object per line") from None
            yield lineno, escape_lone_surrogates(value) if _may_hold_surrogates(raw) else value


# ------------------------------------------------------------------------------------- detection
def detect_format(record: Any) -> str:
    """The format of a record, from its keys (see the module table)."""
    if not isinstance(record, dict):
        raise BadRecord(f"expected a JSON object, got {type(record).__name__}")
    keys = set(record)
    if "reward_model" in keys or ("prompt" in keys and "question" not in keys):
        return "verl"
    if "golden_answers" in keys:
        return "flashrag"
    if "paragraphs" in keys and "question_decomposition" in keys:
        return "musique"
    if "_id" in keys and "context" in keys:
        return "2wiki" if "evidences" in keys or record.get("type") in TWOWIKI_TYPES else "hotpotqa"
    if "question" in keys and isinstance(record.get("answer"), list):
        return "nq_open"
    if "question" in keys and isinstance(record.get("answer"), str):
        return "simple"
    raise BadRecord(f"cannot tell the format from the keys {sorted(keys)[:8]}; name it (gym.make's data_format=, load_examples' "
                    f"format=, jade-rag data's --format, jade-rag score's --gold-format): one of {', '.join(FORMATS)}")


# ------------------------------------------------------------------------------------- field helpers
# Each helper checks one field's type and says, in a BadRecord, which field (a path such as
# "paragraphs[3].title") holds what, and what was expected; load_file adds the file, the line and the id.
def _shown(value: Any) -> str:
    if value is None:
        return "missing or null"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else f"str {value[:30]!r}"
    return f"{type(value).__name__} {repr(value)[:30]}"


def _str(rec: dict, key: str, what: str = "a non-empty string", name: str | None = None) -> str:
    """A required non-empty string field."""
    value = rec.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(f'"{name or key}" is {_shown(value)}; expected {what}')
    return value


def _opt_str(rec: dict, key: str, name: str | None = None) -> str:
    """An optional string field: missing or null gives ""; anything but a string is refused (never ``str(value)``)."""
    value = rec.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRecord(f'"{name or key}" is {_shown(value)}; expected a string')
    return value


def _id(value: Any, name: str) -> str:
    """A question id: a non-empty string, or an integer (written in decimal); an object or a list is refused."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise BadRecord(f'"{name}" is {_shown(value)}; expected a non-empty string or an integer')


def _list(value: Any, name: str) -> list:
    """An optional list field: null gives []; a string or an object is refused (a string is not a list of strings)."""
    if value is None:
        return []
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy arrays of parquet columns
        value = value.tolist()
    if not isinstance(value, list | tuple):
        raise BadRecord(f'"{name}" is {_shown(value)}; expected a list')
    return list(value)


def _dict(value: Any, name: str) -> dict:
    """An optional object field: null gives {}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRecord(f'"{name}" is {_shown(value)}; expected an object')
    return value


def _answers(values: list, name: str) -> tuple[str, ...]:
    """Gold answers: at least one, each a non-empty string or a number (written as text), duplicates dropped."""
    if not values:
        raise BadRecord(f'"{name}" is missing or an empty list; expected at least one answer')
    out: list[str] = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, str | int | float) or (isinstance(v, float) and not math.isfinite(v)):
            raise BadRecord(f'"{name}[{i}]" is {_shown(v)}; expected a string')
        s = str(v)
        if not s.strip():
            raise BadRecord(f'"{name}[{i}]" is an empty string; expected a non-empty answer')
        if s not in out:
            out.append(s)
    return tuple(out)


def _sentences(value: Any, name: str) -> str:
    """A paragraph given as a list of sentences (:func:`join_sentences`) or as one string."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        for i, s in enumerate(value):
            if not isinstance(s, str):
                raise BadRecord(f'"{name}[{i}]" is {_shown(s)}; expected a sentence (a string)')
        return join_sentences(value)
    raise BadRecord(f'"{name}" is {_shown(value)}; expected a list of sentences')


def _hotpot_context(context: Any, name: str = "context") -> tuple[Passage, ...]:
    """``[[title, [sentences]]]`` (official) or ``{"title": [...], "content"/"sentences": [[...]]}`` (FlashRAG)."""
    if isinstance(context, dict):
        titles = _list(context.get("title"), f"{name}.title")
        key = "content" if context.get("content") is not None else "sentences"
        contents = _list(context.get(key), f"{name}.{key}")
        if len(titles) != len(contents):
            raise BadRecord(f'"{name}" has {len(titles)} titles and {len(contents)} {key}; expected one each')
        pairs = list(zip(titles, contents, strict=True))
    elif isinstance(context, list):
        pairs = context
    else:
        raise BadRecord(f'"{name}" is {_shown(context)}; expected [[title, [sentences]], ...]')
    passages = []
    for i, item in enumerate(pairs):
        if not (isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise BadRecord(f'"{name}[{i}]" is {_shown(item)}; expected [title, [sentences]]')
        passages.append(make_passage(item[0], _sentences(item[1], f"{name}[{i}][1]")))
    return tuple(passages)


def _supporting_titles(facts: Any, name: str = "supporting_facts") -> tuple[str, ...]:
    """The titles of ``[[title, sentence id], ...]`` (official) or ``{"title": [...], "sent_id": [...]}`` (FlashRAG)."""
    if isinstance(facts, dict):
        titles = _list(facts.get("title"), f"{name}.title")
    else:
        titles = []
        for i, f in enumerate(_list(facts, name)):
            if not (isinstance(f, list | tuple) and f):
                raise BadRecord(f'"{name}[{i}]" is {_shown(f)}; expected [title, sentence id]')
            titles.append(f[0])
    for i, t in enumerate(titles):
        if not isinstance(t, str):
            raise BadRecord(f'the title of "{name}[{i}]" is {_shown(t)}; expected a string')
    return tuple(dict.fromkeys(titles))


def _answer_field(rec: dict, key: str) -> list:
    """An answer field that holds one answer (a string) or a list of them."""
    value = rec.get(key)
    return [value] if isinstance(value, str) else _list(value, key)


def _paragraph(p: Any, name: str) -> dict:
    """A MuSiQue paragraph ``{"idx", "title", "paragraph_text", "is_supporting"}``, its text fields checked."""
    p = _dict(p, name) if p is not None else None
    if not p:
        raise BadRecord(f'"{name}" is {_shown(p)}; expected an object with "title" and "paragraph_text"')
    _opt_str(p, "title", f"{name}.title")
    _opt_str(p, "paragraph_text", f"{name}.paragraph_text")
    return p


def _musique_decomposition(steps: Any, paragraphs: list[dict] | None, name: str) -> tuple[DecompositionStep, ...]:
    out = []
    for i, s in enumerate(_list(steps, name)):
        where = f"{name}[{i}]"
        s = _dict(s, where)
        support = ""
        if s.get("support_paragraph") is not None:
            support = _opt_str(_paragraph(s["support_paragraph"], f"{where}.support_paragraph"), "title")
        elif paragraphs is not None and s.get("paragraph_support_idx") is not None:
            idx = s["paragraph_support_idx"]
            if isinstance(idx, bool) or not isinstance(idx, int):
                raise BadRecord(f'"{where}.paragraph_support_idx" is {_shown(idx)}; expected an integer')
            support = next((_opt_str(p, "title") for p in paragraphs if p.get("idx") == idx), "")
        out.append(DecompositionStep(_opt_str(s, "question", f"{where}.question"), _opt_str(s, "answer", f"{where}.answer"), support))
    return tuple(out)


# ------------------------------------------------------------------------------------- one parser per format
def parse_hotpotqa(rec: dict, ctx: dict) -> Example:
    qid = _id(rec.get("_id"), "_id")
    lean = ctx.get("answers_only")
    return Example(
        id=qid, question=_str(rec, "question"), answers=_answers(_answer_field(rec, "answer"), "answer"),
        type=_opt_str(rec, "type"), supporting_titles=() if lean else _supporting_titles(rec.get("supporting_facts")),
        context=() if lean else _hotpot_context(rec.get("context") if rec.get("context") is not None else []),
        dataset=ctx["dataset"] or ("2wikimultihopqa" if ctx["format"] == "2wiki" else "hotpotqa"), split=ctx["split"],
    )


def _musique_answers(rec: dict) -> tuple[str, ...]:
    return _answers([_str(rec, "answer")] + _list(rec.get("answer_aliases"), "answer_aliases"), "answer_aliases")


def parse_musique(rec: dict, ctx: dict) -> Example:
    if ctx.get("answers_only"):
        return Example(id=_id(rec.get("id"), "id"), question=_str(rec, "question"), answers=_musique_answers(rec),
                       dataset=ctx["dataset"] or "musique", split=ctx["split"])
    paragraphs = [_paragraph(p, f"paragraphs[{i}]") for i, p in enumerate(_list(rec.get("paragraphs"), "paragraphs"))]
    context = tuple(make_passage(_opt_str(p, "title"), _opt_str(p, "paragraph_text")) for p in paragraphs)
    answers = _musique_answers(rec)
    decomposition = _musique_decomposition(rec.get("question_decomposition"), paragraphs, "question_decomposition")
    return Example(
        id=_id(rec.get("id"), "id"), question=_str(rec, "question"), answers=answers,
        type=f"{len(decomposition)}hop" if decomposition else "",
        supporting_titles=tuple(dict.fromkeys(_opt_str(p, "title") for p in paragraphs if p.get("is_supporting"))),
        context=context, decomposition=decomposition, dataset=ctx["dataset"] or "musique", split=ctx["split"],
    )


def parse_flashrag(rec: dict, ctx: dict) -> Example:
    meta = {} if ctx.get("answers_only") else _dict(rec.get("metadata"), "metadata")
    context: tuple[Passage, ...] = ()
    supporting: tuple[str, ...] = ()
    decomposition: tuple[DecompositionStep, ...] = ()
    if "context" in meta:
        context = _hotpot_context(meta["context"], "metadata.context")
        supporting = _supporting_titles(meta.get("supporting_facts"), "metadata.supporting_facts")
    if meta.get("question_decomposition"):
        decomposition = _musique_decomposition(meta["question_decomposition"], None, "metadata.question_decomposition")
        support = [s["support_paragraph"] for s in meta["question_decomposition"] if s.get("support_paragraph") is not None]
        context = context or tuple(dict.fromkeys(make_passage(_opt_str(p, "title"), _opt_str(p, "paragraph_text")) for p in support))
        supporting = supporting or tuple(dict.fromkeys(_opt_str(p, "title") for p in support))
    qtype = _opt_str(meta, "type", "metadata.type") or (f"{len(decomposition)}hop" if decomposition else "")
    dataset = ctx["dataset"] or _opt_str(rec, "data_source")
    return Example(id=_id(rec.get("id"), "id"), question=_str(rec, "question"),
                   answers=_answers(_list(rec.get("golden_answers"), "golden_answers"), "golden_answers"), type=qtype,
                   supporting_titles=supporting, context=context, decomposition=decomposition, dataset=dataset,
                   split=ctx["split"] or _opt_str(rec, "split"))


def parse_nq_open(rec: dict, ctx: dict) -> Example:
    qid = _id(rec["id"], "id") if rec.get("id") is not None else f"{ctx['stem']}-{ctx['index']}"
    return Example(id=qid, question=_str(rec, "question"), answers=_answers(_list(rec.get("answer"), "answer"), "answer"),
                   dataset=ctx["dataset"] or "nq", split=ctx["split"])


def parse_simple(rec: dict, ctx: dict) -> Example:
    key = "id" if rec.get("id") is not None else "idx"
    qid = _id(rec[key], key) if rec.get(key) is not None else f"{ctx['stem']}-{ctx['index']}"
    return Example(id=qid, question=_str(rec, "question"), answers=_answers(_answer_field(rec, "answer"), "answer"),
                   type=_opt_str(rec, "type"), dataset=ctx["dataset"], split=ctx["split"])


def parse_verl(rec: dict, ctx: dict) -> Example:
    question = rec.get("question")
    if question is not None and not isinstance(question, str):
        raise BadRecord(f'"question" is {_shown(question)}; expected a string')
    if question is None:
        prompt = rec.get("prompt")
        if isinstance(prompt, str):
            question = prompt
        else:
            messages = [_dict(m, f"prompt[{i}]") for i, m in enumerate(_list(prompt, "prompt"))]
            users = [_opt_str(m, "content", f"prompt[{i}].content") for i, m in enumerate(messages) if m.get("role") == "user"]
            question = users[-1] if users else None
    if not isinstance(question, str) or not question.strip():
        raise BadRecord("no question: expected a \"question\" column or a user message in \"prompt\"")
    truth = _dict(rec.get("reward_model"), "reward_model").get("ground_truth")
    if isinstance(truth, dict):
        truth = truth.get("target")
    truth = truth.split(ANSWER_SPLIT) if isinstance(truth, str) else _list(truth, "reward_model.ground_truth")
    extra = _dict(rec.get("extra_info"), "extra_info")
    key, raw_id = ("extra_info.index", extra["index"]) if extra.get("index") is not None else ("id", rec.get("id"))
    qid = _id(raw_id, key) if raw_id is not None else f"{ctx['stem']}-{ctx['index']}"
    return Example(id=qid, question=question.strip(), answers=_answers(truth, "reward_model.ground_truth"),
                   dataset=ctx["dataset"] or _opt_str(rec, "data_source"), split=ctx["split"] or _opt_str(extra, "split", "extra_info.split"))


PARSERS: dict[str, Callable[[dict, dict], Example]] = {
    "hotpotqa": parse_hotpotqa, "2wiki": parse_hotpotqa, "musique": parse_musique, "flashrag": parse_flashrag,
    "nq_open": parse_nq_open, "simple": parse_simple, "verl": parse_verl,
}


# ------------------------------------------------------------------------------------- the one loader
def load_file(path: str | Path, **options: Any) -> list[Example]:
    """Every example of one question file (see the module docstring for formats and the bad-input policy);
    ``options`` are :func:`load_records`' keywords (``format``, ``on_error``, ``dataset``, ``split``, ...)."""
    path = Path(path)
    stem = path.name.split(".jsonl")[0].split(".json")[0].split(".parquet")[0]
    return load_records(read_records(path), str(path), stem, **options)


def load_rows(rows: Any, **kwargs: Any) -> list[Example]:
    """Every example of a ``datasets.Dataset`` or ``IterableDataset`` (or any iterable of dicts), as :func:`load_file` reads a file."""
    if isinstance(rows, str | bytes | dict) or not hasattr(rows, "__iter__"):
        raise DataFormatError(f"questions given as {type(rows).__name__}; expected a path to {ACCEPTED}")
    name = getattr(rows, "info", None) and getattr(rows.info, "dataset_name", None) or type(rows).__name__
    return load_records(((f"{name}: row {i}", row) for i, row in enumerate(rows)), str(name), str(name), **kwargs)


def load_records(
    records: Iterable[tuple[str, Any]],
    source: str,
    stem: str,
    *,
    format: str | None = None,
    on_error: str = "raise",
    dataset: str | None = None,
    split: str | None = None,
    data_source: str | None = None,
    corpus_path: str | Path | None = None,
    answers_only: bool = False,
) -> list[Example]:
    """The examples of ``(where, record)`` pairs from ``source`` (a file, a dataset object). ``answers_only=True`` reads
    the ids, questions and answers alone (what ``jade-rag score`` needs): no paragraphs, supporting facts or gold
    decompositions, which are left empty and unchecked."""
    if format is not None and format not in FORMATS:
        raise DataFormatError(f"format={format!r} is unknown; expected one of {', '.join(FORMATS)}")
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error={on_error!r}; expected 'raise' or 'skip'")
    examples: list[Example] = []
    seen: set[str] = set()
    problems: list[str] = []
    fmt = format
    for index, (where, rec) in enumerate(records):
        try:
            if fmt is None:
                fmt = detect_format(rec)
            if not isinstance(rec, dict):
                raise BadRecord(f"expected a JSON object, got {type(rec).__name__}")
            if data_source is not None and rec.get("data_source") != data_source:
                continue
            ctx = {"dataset": dataset or "", "split": split or "", "format": fmt, "stem": stem, "index": index, "answers_only": answers_only}
            example = PARSERS[fmt](rec, ctx)
            if example.id in seen:
                raise BadRecord(f"duplicate id {example.id!r}; each id must appear once")
        except BadRecord as err:
            rid = rec.get("_id", rec.get("id")) if isinstance(rec, dict) else None
            message = f"{where}{f' (id {rid!r})' if rid is not None else ''}: {err}"
            if on_error == "raise":
                raise DataFormatError(message) from None
            problems.append(message)
            continue
        seen.add(example.id)
        examples.append(example)
    if problems:
        warnings.warn(f"{source}: skipped {len(problems)} bad record(s); the first: {problems[0]}", UserWarning, stacklevel=2)
    if not examples and data_source is None:
        raise DataFormatError(f"{source}: no usable questions")
    if corpus_path is not None:
        from jade_env.data.corpora import attach_corpus  # only for a question file with a separate corpus file

        examples = attach_corpus(examples, corpus_path)
    return examples
