"""The corpora of docs/environment.md ("Corpora"): per question, pooled over a split, or an external file.

* :func:`per_question_corpus`: one question's own context paragraphs (the distractor setting);
* :func:`pooled_corpus`: the union of the context paragraphs of a loaded split, de-duplicated by
  (title, text), in order of first appearance (a small open-domain setting);
* :func:`external_corpus`: a JSONL or parquet file of ``{"id", "contents"}`` with contents ``"title\\ntext"`` (the
  Wikipedia-2018 100-word passages of FlashRAG and Search-R1) or of ``{"id", "title", "text"}``, streamed and
  never held in memory; or the same rows as a ``datasets.Dataset``/``IterableDataset`` (or any iterable of dicts).
  A row without an id gets one made from its content (:func:`~jade_env.data.types.passage_id`), with one warning;
* :func:`attach_corpus`: the passages of a corpus file attached to the questions that name their titles;
* :func:`load_corpus`: any corpus file (that JSONL, a ``title -> [sentences]`` JSON object, or a JSON
  list of ``{"title", "text"}``) into memory, for the small ones.

Every corpus has ``name``, ``len()``, iteration over :class:`~jade_env.data.types.Passage` and ``hash``
(:func:`jade_env.data.hashing.corpus_hash`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from jade_env.data.corpus import Corpus
from jade_env.data.hashing import corpus_hash
from jade_env.data.parquet import is_parquet, parquet_length, parquet_rows
from jade_env.data.types import Example, Passage, join_sentences, make_passage
from jade_env.errors import DataFormatError, json_problem


def per_question_corpus(example: Example) -> Corpus:
    """The question's own context paragraphs."""
    if not example.context:
        raise DataFormatError(f"question {example.id!r} has no context paragraphs; per_question needs them")
    return Corpus(example.context, name=f"per_question:{example.id}")


def pooled_corpus(examples: Sequence[Example], name: str = "pooled") -> Corpus:
    """The union of the context paragraphs of ``examples``, de-duplicated by (title, text), first appearance first."""
    seen: dict[tuple[str, str], Passage] = {}
    for e in examples:
        for p in e.context:
            seen.setdefault((p.title, p.text), p)
    if not seen:
        raise DataFormatError("the loaded questions carry no context paragraphs, so there is nothing to pool; "
                              "use an external corpus")
    return Corpus(list(seen.values()), name=name)


def _split_contents(contents: str) -> tuple[str, str]:
    """``"title\ntext"`` -> (title, text); Search-R1's dump quotes the title (``"Title"``): the quotes go."""
    title, _, text = contents.partition("\n")
    if len(title) >= 2 and title[0] == title[-1] == '"':
        title = title[1:-1]
    return title, text


ROW_SHAPES = '{"id", "contents": "title\\ntext"} or {"id", "title", "text"} (the id may be missing)'


def passage_of(row: Any, where: str, missing_ids: list[str]) -> Passage:
    """One corpus row as a passage; a row without an id is named by its content (``where`` goes to ``missing_ids``)."""
    if not isinstance(row, dict):
        raise DataFormatError(f"{where}: expected an object {ROW_SHAPES}, got {type(row).__name__}")
    if isinstance(row.get("title"), str) and isinstance(row.get("text"), str):
        title, text = row["title"], row["text"]
    elif isinstance(row.get("contents"), str):
        title, text = _split_contents(row["contents"])
    else:
        raise DataFormatError(f"{where}: expected {ROW_SHAPES}; found the keys {sorted(row)[:8]}")
    pid = row.get("id", row.get("_id"))
    if pid is None or pid == "":
        missing_ids.append(where)
        return make_passage(title, text)
    if isinstance(pid, bool) or not isinstance(pid, str | int):
        raise DataFormatError(f"{where}: \"id\" is {type(pid).__name__}; expected a string or an integer")
    return Passage(str(pid), title, text)


def _check_encodable(row: Any, where: str) -> None:
    """DataFormatError when a string of ``row`` holds a lone surrogate (``"\\ud800"`` in JSON), which no UTF-8 text can."""
    for value in row.values() if isinstance(row, dict) else ():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as err:
                raise DataFormatError(f"{where}: the text holds a lone surrogate (U+{ord(value[err.start]):04X}); expected "
                                      "Unicode text (a surrogate pair, or the character itself)") from None


def is_corpus_row(record: Any) -> bool:
    """Whether a JSON value (a file's first line) is a corpus row :data:`ROW_SHAPES`, i.e. the file is JSONL rows rather
    than one JSON document (a ``title -> sentences`` object or a list)."""
    return isinstance(record, dict) and (isinstance(record.get("contents"), str)
                                         or isinstance(record.get("title"), str) and isinstance(record.get("text"), str))


def _warn_missing_ids(name: str, missing: list[str]) -> None:
    if missing:
        warnings.warn(f"{name}: {len(missing)} passage(s) have no id (the first: {missing[0]}); each is named by a hash of "
                      "its title and text", UserWarning, stacklevel=3)


class ExternalCorpus:
    """A corpus file read from disk on every pass (never loaded whole): JSONL, or parquet (read in row batches).

    The rows are :data:`ROW_SHAPES`; ``rows`` may instead be a ``datasets.Dataset`` or ``IterableDataset`` (or
    any re-iterable sequence of such dicts), iterated the same way."""

    def __init__(self, path: str | Path | None = None, *, rows: Any = None, name: str | None = None) -> None:
        self.path, self.rows = (Path(path) if path is not None else None), rows
        if self.path is not None:
            if not self.path.is_file():
                raise DataFormatError(f"{self.path}: no such corpus file; expected JSONL or parquet rows {ROW_SHAPES}")
            self.parquet = is_parquet(self.path)
        self.name = name or (f"external:{self.path.name}" if self.path is not None else f"dataset:{type(rows).__name__}")

    def _rows(self) -> Iterator[tuple[str, Any]]:
        if self.rows is not None:
            for i, row in enumerate(self.rows):
                yield f"{self.name}: row {i}", row
        elif self.parquet:
            yield from parquet_rows(self.path)
        else:
            with self.path.open("rb") as f:
                for lineno, raw in enumerate(f, start=1):
                    where = f"{self.path}:{lineno}"
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError as err:
                        raise DataFormatError(f"{where}: byte {err.start} of the line is not valid UTF-8; expected UTF-8 JSONL") from None
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        raise DataFormatError(f"{where}: invalid JSON; expected one object {ROW_SHAPES} per line") from None
                    except RecursionError:
                        raise DataFormatError(f"{where}: the JSON is nested too deeply; expected one object {ROW_SHAPES} per line") from None
                    if b"\\ud" in raw or b"\\uD" in raw:  # an escaped surrogate: a lone one cannot be stored as UTF-8
                        _check_encodable(row, where)
                    yield where, row

    def __iter__(self) -> Iterator[Passage]:
        missing: list[str] = []
        for where, row in self._rows():
            yield passage_of(row, where, missing)
        _warn_missing_ids(self.name, missing)

    @cached_property
    def _length(self) -> int:
        if self.rows is not None:
            return sum(1 for _ in self.rows) if not hasattr(self.rows, "__len__") else len(self.rows)
        if self.parquet:
            return parquet_length(self.path)
        with self.path.open("rb") as f:
            return sum(1 for line in f if line.strip())

    def __len__(self) -> int:
        return self._length

    @cached_property
    def hash(self) -> str:
        return corpus_hash(iter(self))

    def __repr__(self) -> str:
        return f"ExternalCorpus({str(self.path)!r})" if self.path is not None else f"ExternalCorpus(rows={self.name})"


def external_corpus(source: Any) -> ExternalCorpus:
    """A streamed corpus from a JSONL or parquet path, or from a ``datasets.Dataset``/``IterableDataset`` of rows."""
    if isinstance(source, str | os.PathLike):
        return ExternalCorpus(source)
    if hasattr(source, "__iter__") and not isinstance(source, dict | bytes):
        return ExternalCorpus(rows=source)
    raise DataFormatError(f"corpus={type(source).__name__} is not a corpus; expected 'pooled', 'per_question', a JSONL or parquet "
                          f"path, a datasets.Dataset of rows {ROW_SHAPES}, or a jade_env Corpus")


def load_corpus(path: str | Path, name: str | None = None) -> Corpus:
    """A corpus file of any supported shape, in memory."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(f"{path}: no such corpus file") from None
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: byte {err.start} is not valid UTF-8") from None
    first_line = raw.lstrip().split("\n", 1)[0]
    try:
        first = json.loads(first_line)
    except json.JSONDecodeError:
        first = None
    passages: list[Passage] = []
    data = None
    if not is_corpus_row(first):  # not JSONL rows
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as err:
            raise DataFormatError(f"{path}:{err.lineno}: invalid JSON ({json_problem(err)})") from None
    if isinstance(data, dict):  # title -> [sentences]
        for title, sents in data.items():
            passages.append(make_passage(title, join_sentences(sents) if isinstance(sents, list) else str(sents)))
    elif isinstance(data, list):
        for i, rec in enumerate(data):
            if not isinstance(rec, dict) or "title" not in rec or "text" not in rec:
                raise DataFormatError(f"{path}: record {i}: expected {{\"title\", \"text\"}}")
            passages.append(make_passage(str(rec["title"]), str(rec["text"])))
    else:
        passages = list(ExternalCorpus(path))
    if not passages:
        raise DataFormatError(f"{path}: the corpus is empty")
    return Corpus(passages, name=name or f"file:{path.name}")


def attach_corpus(examples: list[Example], corpus_path: str | Path) -> list[Example]:
    """Attach to each question the corpus passages titled as its context or supporting facts."""
    by_title: dict[str, list[Passage]] = {}
    for p in load_corpus(corpus_path):
        by_title.setdefault(p.title, []).append(p)
    out = []
    for e in examples:
        titles = list(dict.fromkeys([p.title for p in e.context] + list(e.supporting_titles)))
        attached = tuple(p for t in titles for p in by_title.get(t, ()))
        out.append(e.replace(context=attached or e.context))
    return out
