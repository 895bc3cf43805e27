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
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from jade_env.data.corpora import attach_corpus
from jade_env.data.types import DecompositionStep, Example, Passage, make_passage
from jade_env.errors import DataFormatError

FORMATS: tuple[str, ...] = ("hotpotqa", "2wiki", "musique", "flashrag", "nq_open", "simple", "verl")
ON_ERROR = ("raise", "skip")
ANSWER_SPLIT = "<|answer_split|>"
TWOWIKI_TYPES = frozenset({"compositional", "inference", "bridge_comparison"})


class BadRecord(Exception):
    """Raised inside a format parser; turned into a DataFormatError or a skip by :func:`load_file`."""


# ------------------------------------------------------------------------------------- reading records
def read_text_file(path: Path, what: str = "a question file") -> str:
    """The UTF-8 text of ``path``; a DataFormatError naming the file (and the line of a bad byte) otherwise."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataFormatError(f"{path}: is a directory; expected {what}") from None
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read ({err.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataFormatError(f"{path}:{line}: byte {err.start} (0x{data[err.start]:02x}) is not valid UTF-8; "
                              "expected a UTF-8 file") from None


def read_records(path: Path) -> Iterator[tuple[str, Any]]:
    """``(where, record)`` pairs of a JSON list, a JSONL file or a parquet file; ``where`` names the record."""
    if path.suffix == ".parquet" or (path.is_file() and path.open("rb").read(4) == b"PAR1"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DataFormatError(f"{path}: reading parquet needs pyarrow: pip install 'jade-env[hf]'") from None
        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as err:  # pyarrow raises several types for a corrupt file
            raise DataFormatError(f"{path}: not a readable parquet file ({err})") from None
        for i, row in enumerate(rows):
            yield f"{path}: row {i}", row
        return
    text = read_text_file(path)
    stripped = text.lstrip()
    if not stripped:
        raise DataFormatError(f"{path}: the file is empty; expected questions as a JSON list or JSONL")
    if stripped[0] == "[":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataFormatError(f"{path}:{err.lineno}: invalid JSON ({err.msg}); the file may be truncated") from None
        for i, rec in enumerate(data):
            yield f"{path}: record {i}", rec
        return
    if stripped[0] == "{" and "\n" not in stripped.strip():
        pass  # a single JSONL line
    elif stripped[0] != "{":
        raise DataFormatError(f"{path}:1: expected a JSON list or JSON lines of objects, found {stripped[:20]!r}")
    for lineno, rec in iter_jsonl(path, text):
        yield f"{path}:{lineno}", rec


def iter_jsonl(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` of every non-blank line of a JSONL text; one clear error on a bad line."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as err:
            raise DataFormatError(f"{path}:{lineno}: invalid JSON ({err.msg}); expected one JSON object per line") from None


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
    raise BadRecord(f"cannot tell the format from the keys {sorted(keys)[:8]}; pass format= one of {', '.join(FORMATS)}")


# ------------------------------------------------------------------------------------- field helpers
def _str(rec: dict, key: str, what: str = "a non-empty string") -> str:
    value = rec.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(f'"{key}" is {"missing" if value is None else type(value).__name__ + " " + repr(value)[:30]}; expected {what}')
    return value


def _answers(values: Any, key: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not values:
        raise BadRecord(f'"{key}" is {"an empty list" if values == [] else repr(values)[:40]}; expected at least one answer')
    out = []
    for v in values:
        if not isinstance(v, str | int | float) or isinstance(v, bool):
            raise BadRecord(f'"{key}" holds {type(v).__name__}; expected strings')
        s = str(v)
        if s not in out:
            out.append(s)
    return tuple(out)


def _hotpot_context(context: Any) -> tuple[Passage, ...]:
    """``[[title, [sentences]]]`` (official) or ``{"title": [...], "content"/"sentences": [[...]]}`` (FlashRAG)."""
    if isinstance(context, dict):
        titles = context.get("title") or []
        contents = context.get("content") or context.get("sentences") or []
        pairs = list(zip(titles, contents, strict=False))
    elif isinstance(context, list):
        pairs = context
    else:
        raise BadRecord(f'"context" is {type(context).__name__}; expected [[title, [sentences]], ...]')
    passages = []
    for item in pairs:
        if not (isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise BadRecord('a "context" entry is not [title, sentences]')
        title, sents = item
        text = "".join(sents) if isinstance(sents, list) else str(sents)
        passages.append(make_passage(title, text))
    return tuple(passages)


def _supporting_titles(facts: Any) -> tuple[str, ...]:
    if isinstance(facts, dict):
        titles = facts.get("title") or []
    elif isinstance(facts, list):
        titles = [f[0] for f in facts if isinstance(f, list | tuple) and f]
    else:
        titles = []
    return tuple(dict.fromkeys(t for t in titles if isinstance(t, str)))


def _musique_decomposition(steps: Any, paragraphs: list[dict] | None) -> tuple[DecompositionStep, ...]:
    out = []
    for s in steps or []:
        if not isinstance(s, dict):
            continue
        support = ""
        sp = s.get("support_paragraph")
        if isinstance(sp, dict):
            support = sp.get("title", "")
        elif paragraphs is not None and isinstance(s.get("paragraph_support_idx"), int):
            idx = s["paragraph_support_idx"]
            support = next((p.get("title", "") for p in paragraphs if p.get("idx") == idx), "")
        out.append(DecompositionStep(str(s.get("question", "")), str(s.get("answer", "")), support))
    return tuple(out)


# ------------------------------------------------------------------------------------- one parser per format
def parse_hotpotqa(rec: dict, ctx: dict) -> Example:
    qid = _str(rec, "_id")
    return Example(
        id=qid, question=_str(rec, "question"), answers=_answers(rec.get("answer"), "answer"), type=str(rec.get("type") or ""),
        supporting_titles=_supporting_titles(rec.get("supporting_facts")), context=_hotpot_context(rec.get("context", [])),
        dataset=ctx["dataset"] or ("2wikimultihopqa" if ctx["format"] == "2wiki" else "hotpotqa"), split=ctx["split"],
    )


def parse_musique(rec: dict, ctx: dict) -> Example:
    paragraphs = rec.get("paragraphs") or []
    if not isinstance(paragraphs, list):
        raise BadRecord('"paragraphs" is not a list')
    context = tuple(make_passage(str(p.get("title", "")), str(p.get("paragraph_text", ""))) for p in paragraphs if isinstance(p, dict))
    answers = _answers([rec.get("answer")] + list(rec.get("answer_aliases") or []), "answer")
    decomposition = _musique_decomposition(rec.get("question_decomposition"), paragraphs)
    return Example(
        id=_str(rec, "id"), question=_str(rec, "question"), answers=answers,
        type=f"{len(decomposition)}hop" if decomposition else "",
        supporting_titles=tuple(dict.fromkeys(str(p.get("title", "")) for p in paragraphs if isinstance(p, dict) and p.get("is_supporting"))),
        context=context, decomposition=decomposition, dataset=ctx["dataset"] or "musique", split=ctx["split"],
    )


def parse_flashrag(rec: dict, ctx: dict) -> Example:
    meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
    context: tuple[Passage, ...] = ()
    supporting: tuple[str, ...] = ()
    decomposition: tuple[DecompositionStep, ...] = ()
    if "context" in meta:
        context = _hotpot_context(meta["context"])
        supporting = _supporting_titles(meta.get("supporting_facts"))
    if meta.get("question_decomposition"):
        decomposition = _musique_decomposition(meta["question_decomposition"], None)
        paras = [s.get("support_paragraph") for s in meta["question_decomposition"] if isinstance(s, dict)]
        support = [p for p in paras if isinstance(p, dict)]
        context = context or tuple(dict.fromkeys(make_passage(str(p.get("title", "")), str(p.get("paragraph_text", "")))
                                                 for p in support))
        supporting = supporting or tuple(dict.fromkeys(str(p.get("title", "")) for p in support))
    qtype = str(meta.get("type") or (f"{len(decomposition)}hop" if decomposition else ""))
    dataset = ctx["dataset"] or str(rec.get("data_source") or "")
    return Example(id=str(rec.get("id") if rec.get("id") is not None else _str(rec, "id")), question=_str(rec, "question"),
                   answers=_answers(rec.get("golden_answers"), "golden_answers"), type=qtype, supporting_titles=supporting,
                   context=context, decomposition=decomposition, dataset=dataset, split=ctx["split"] or str(rec.get("split") or ""))


def parse_nq_open(rec: dict, ctx: dict) -> Example:
    qid = str(rec["id"]) if rec.get("id") is not None else f"{ctx['stem']}-{ctx['index']}"
    return Example(id=qid, question=_str(rec, "question"), answers=_answers(rec.get("answer"), "answer"),
                   dataset=ctx["dataset"] or "nq", split=ctx["split"])


def parse_simple(rec: dict, ctx: dict) -> Example:
    raw_id = rec.get("id", rec.get("idx"))
    qid = str(raw_id) if raw_id is not None else f"{ctx['stem']}-{ctx['index']}"
    return Example(id=qid, question=_str(rec, "question"), answers=_answers(rec.get("answer"), "answer"),
                   type=str(rec.get("type") or ""), dataset=ctx["dataset"], split=ctx["split"])


def parse_verl(rec: dict, ctx: dict) -> Example:
    question = rec.get("question")
    if not isinstance(question, str):
        prompt = rec.get("prompt")
        if isinstance(prompt, list | tuple):
            users = [m.get("content") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
            question = users[-1] if users else None
        elif isinstance(prompt, str):
            question = prompt
    if not isinstance(question, str) or not question.strip():
        raise BadRecord("no question: expected a \"question\" column or a user message in \"prompt\"")
    truth = (rec.get("reward_model") or {}).get("ground_truth")
    if isinstance(truth, dict):
        truth = truth.get("target")
    if isinstance(truth, str):
        truth = truth.split(ANSWER_SPLIT)
    if hasattr(truth, "tolist"):
        truth = truth.tolist()
    extra = rec.get("extra_info") or {}
    raw_id = extra.get("index", rec.get("id"))
    qid = str(raw_id) if raw_id is not None else f"{ctx['stem']}-{ctx['index']}"
    return Example(id=qid, question=question.strip(), answers=_answers(truth, "reward_model.ground_truth"),
                   dataset=ctx["dataset"] or str(rec.get("data_source") or ""), split=ctx["split"] or str(extra.get("split") or ""))


PARSERS: dict[str, Callable[[dict, dict], Example]] = {
    "hotpotqa": parse_hotpotqa, "2wiki": parse_hotpotqa, "musique": parse_musique, "flashrag": parse_flashrag,
    "nq_open": parse_nq_open, "simple": parse_simple, "verl": parse_verl,
}


# ------------------------------------------------------------------------------------- the one loader
def load_file(
    path: str | Path,
    *,
    format: str | None = None,
    on_error: str = "raise",
    dataset: str | None = None,
    split: str | None = None,
    data_source: str | None = None,
    corpus_path: str | Path | None = None,
) -> list[Example]:
    """Every example of one question file (see the module docstring for formats and the bad-input policy)."""
    path = Path(path)
    if format is not None and format not in FORMATS:
        raise DataFormatError(f"format={format!r} is unknown; expected one of {', '.join(FORMATS)}")
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error={on_error!r}; expected 'raise' or 'skip'")
    stem = path.name.split(".jsonl")[0].split(".json")[0].split(".parquet")[0]
    examples: list[Example] = []
    seen: set[str] = set()
    problems: list[str] = []
    fmt = format
    for index, (where, rec) in enumerate(read_records(path)):
        try:
            if fmt is None:
                fmt = detect_format(rec)
            if not isinstance(rec, dict):
                raise BadRecord(f"expected a JSON object, got {type(rec).__name__}")
            if data_source is not None and rec.get("data_source") != data_source:
                continue
            ctx = {"dataset": dataset or "", "split": split or "", "format": fmt, "stem": stem, "index": index}
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
        warnings.warn(f"{path}: skipped {len(problems)} bad record(s); the first: {problems[0]}", UserWarning, stacklevel=2)
    if not examples and data_source is None:
        raise DataFormatError(f"{path}: no usable questions")
    if corpus_path is not None:
        examples = attach_corpus(examples, corpus_path)
    return examples
