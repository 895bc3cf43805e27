"""The corpora of docs/environment.md ("Corpora"): per question, pooled over a split, or an external file.

* :func:`per_question_corpus`: one question's own context paragraphs (the distractor setting);
* :func:`pooled_corpus`: the union of the context paragraphs of a loaded split, de-duplicated by
  (title, text), in order of first appearance (a small open-domain setting);
* :func:`external_corpus`: a JSONL file of ``{"id", "contents"}`` with contents ``"title\\ntext"`` (the
  Wikipedia-2018 100-word passages of FlashRAG and Search-R1), streamed and never held in memory;
* :func:`attach_corpus`: the passages of a corpus file attached to the questions that name their titles;
* :func:`load_corpus`: any corpus file (that JSONL, a ``title -> [sentences]`` JSON object, or a JSON
  list of ``{"title", "text"}``) into memory, for the small ones.

Every corpus has ``name``, ``len()``, iteration over :class:`~jade_env.data.types.Passage` and ``hash``
(:func:`jade_env.data.hashing.corpus_hash`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path

from jade_env.data.corpus import Corpus
from jade_env.data.hashing import corpus_hash
from jade_env.data.types import Example, Passage, make_passage
from jade_env.errors import DataFormatError


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


class ExternalCorpus:
    """A JSONL corpus ``{"id", "contents"}`` read from disk on every pass (never loaded whole)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataFormatError(f"{self.path}: no such corpus file; expected JSONL lines {{\"id\", \"contents\"}}")
        self.name = f"external:{self.path.name}"

    def __iter__(self) -> Iterator[Passage]:
        with self.path.open(encoding="utf-8", errors="strict") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    pid, contents = rec["id"], rec["contents"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise DataFormatError(f"{self.path}:{lineno}: expected a JSON object with \"id\" and \"contents\"") from None
                title, text = _split_contents(contents) if "title" not in rec else (rec["title"], rec.get("text", contents))
                yield Passage(str(pid), title, text)

    @cached_property
    def _length(self) -> int:
        with self.path.open("rb") as f:
            return sum(1 for line in f if line.strip())

    def __len__(self) -> int:
        return self._length

    @cached_property
    def hash(self) -> str:
        return corpus_hash(iter(self))

    def __repr__(self) -> str:
        return f"ExternalCorpus({str(self.path)!r})"


def external_corpus(path: str | Path) -> ExternalCorpus:
    return ExternalCorpus(path)


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
    if not (isinstance(first, dict) and "contents" in first):  # not JSONL {"id", "contents"}
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as err:
            raise DataFormatError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None
    if isinstance(data, dict):  # title -> [sentences]
        for title, sents in data.items():
            passages.append(make_passage(title, "".join(sents) if isinstance(sents, list) else str(sents)))
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
        out.append(replace(e, context=attached or e.context))
    return out
