"""Plain data types of the hot path: a passage, a question example and its gold decomposition.

They are frozen records with slots: immutable, hashable, compared by value, and cheap to create by the hundred
thousand. They are written out rather than made with ``@dataclass``, whose import (``inspect``, ``ast``, ``dis``)
and class set-up would be most of the start-up of ``jade-rag score``; :class:`jade_env.records.Record` gives each the
behaviour of ``@dataclass(frozen=True, slots=True)``. Nothing here reads files; the
loaders in :mod:`jade_env.data.loaders` build them. A passage's id is a content hash (:func:`passage_id`), so the
same paragraph has the same id in every file and format.
"""

from __future__ import annotations

from collections.abc import Sequence

from jade_env.records import Record
from jade_env.records import set_field as _set


class Passage(Record):
    """One retrievable paragraph: a stable id, the title of its article, and its text."""

    __slots__ = ("id", "title", "text")
    id: str
    title: str
    text: str

    def __init__(self, id: str, title: str, text: str) -> None:
        _set(self, "id", id)
        _set(self, "title", title)
        _set(self, "text", text)

    @property
    def contents(self) -> str:
        """The passage as the Wikipedia-2018 dumps store it: ``"title\\ntext"``."""
        return f"{self.title}\n{self.text}"


def passage_id(title: str, text: str) -> str:
    import hashlib  # here, not at the top: reading a gold file to score it needs no passage ids

    return "p" + hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()[:16]


def make_passage(title: str, text: str) -> Passage:
    return Passage(passage_id(title, text), title, text)


def join_sentences(sentences: Sequence[str]) -> str:
    """Sentences as one paragraph, as the source intends: HotpotQA's carry their own spaces (kept as they are);
    2Wiki's and MuSiQue's do not, so a space goes between two sentences when neither side has one."""
    out: list[str] = []
    for s in sentences:
        if out and s and not out[-1][-1:].isspace() and not s[:1].isspace():
            out.append(" ")
        if s:
            out.append(s)
    return "".join(out)


class DecompositionStep(Record):
    """One gold sub-question of a multi-hop question, with its answer and supporting title."""

    __slots__ = ("question", "answer", "support_title")
    question: str
    answer: str
    support_title: str

    def __init__(self, question: str, answer: str, support_title: str = "") -> None:
        _set(self, "question", question)
        _set(self, "answer", answer)
        _set(self, "support_title", support_title)


class Example(Record):
    """One question with everything a dataset knows about it.

    ``answers`` holds the gold answer first, then its aliases (never empty). ``type`` is the
    dataset's own question type (``bridge``, ``comparison``, ``compositional``, ``2hop`` ...) or ``""``.
    ``context`` holds the question's own paragraphs (the distractor setting) when the dataset ships
    them; ``supporting_titles`` the titles of the gold supporting paragraphs; ``decomposition`` the
    gold sub-questions (MuSiQue, Synthetic). ``dataset`` and ``split`` name where it came from.
    """

    __slots__ = ("id", "question", "answers", "type", "supporting_titles", "context", "decomposition", "dataset", "split")
    id: str
    question: str
    answers: tuple[str, ...]
    type: str
    supporting_titles: tuple[str, ...]
    context: tuple[Passage, ...]
    decomposition: tuple[DecompositionStep, ...]
    dataset: str
    split: str

    def __init__(self, id: str, question: str, answers: tuple[str, ...], type: str = "",
                 supporting_titles: tuple[str, ...] = (), context: tuple[Passage, ...] = (),
                 decomposition: tuple[DecompositionStep, ...] = (), dataset: str = "", split: str = "") -> None:
        _set(self, "id", id)
        _set(self, "question", question)
        _set(self, "answers", answers)
        _set(self, "type", type)
        _set(self, "supporting_titles", supporting_titles)
        _set(self, "context", context)
        _set(self, "decomposition", decomposition)
        _set(self, "dataset", dataset)
        _set(self, "split", split)

    @property
    def answer(self) -> str:
        """The main gold answer (the first of ``answers``)."""
        return self.answers[0]
