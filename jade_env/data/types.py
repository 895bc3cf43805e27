"""Plain data types of the hot path: a passage, a question example and its gold decomposition.

They are frozen dataclasses with slots: immutable, hashable, and cheap to create by the hundred
thousand. Nothing here reads files; the loaders in :mod:`jade_env.data.loaders` build them. A passage's
id is a content hash (:func:`passage_id`), so the same paragraph has the same id in every file and format.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrievable paragraph: a stable id, the title of its article, and its text."""

    id: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        """The passage as the Wikipedia-2018 dumps store it: ``"title\\ntext"``."""
        return f"{self.title}\n{self.text}"


def passage_id(title: str, text: str) -> str:
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


@dataclass(frozen=True, slots=True)
class DecompositionStep:
    """One gold sub-question of a multi-hop question, with its answer and supporting title."""

    question: str
    answer: str
    support_title: str = ""


@dataclass(frozen=True, slots=True)
class Example:
    """One question with everything a dataset knows about it.

    ``answers`` holds the gold answer first, then its aliases (never empty). ``type`` is the
    dataset's own question type (``bridge``, ``comparison``, ``compositional``, ``2hop`` ...) or ``""``.
    ``context`` holds the question's own paragraphs (the distractor setting) when the dataset ships
    them; ``supporting_titles`` the titles of the gold supporting paragraphs; ``decomposition`` the
    gold sub-questions (MuSiQue, Synthetic). ``dataset`` and ``split`` name where it came from.
    """

    id: str
    question: str
    answers: tuple[str, ...]
    type: str = ""
    supporting_titles: tuple[str, ...] = ()
    context: tuple[Passage, ...] = ()
    decomposition: tuple[DecompositionStep, ...] = ()
    dataset: str = ""
    split: str = ""

    @property
    def answer(self) -> str:
        """The main gold answer (the first of ``answers``)."""
        return self.answers[0]
