"""One prompt renderer per role: system text and user text, ready for a chat template.

The wording is this project's own; the tags and rules are those of docs/environment.md (see
:mod:`jade_env.roles.parsers`). No few-shot examples by default: ``few_shot=True`` appends one short
worked example to each role's system text (the examples are about made-up entities, so they give
away no dataset answer).

:func:`render` is the single entry point: ``render(role, view, few_shot=False) -> (system, user)``.
``view`` is the :class:`RoleView` the workflow engine builds for the acting role.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any

from jade_env.json_text import pairs_json, strings_json, to_json
from jade_env.retrieval.base import Hit
from jade_env.roles.parsers import MAX_ANSWER_WORDS, MAX_QUERY_WORDS

MODULE_DESCRIPTIONS: dict[str, str] = {
    "QR": "QR rewrites the question into a better search query.",
    "QDS": "QDS splits the question into sub-questions that depend on each other, answered in order.",
    "QDP": "QDP splits the question into independent sub-questions, answered in parallel.",
    "R": "R retrieves the top documents for the (rewritten) question.",
    "DS": "DS keeps only the retrieved documents that help answer.",
    "AG": "AG writes the answer from the selected documents, or from memory without R.",
}


@dataclass(slots=True)
class DocumentView:
    """A document as shown to a role: what a view needs of it (the engine shows its frozen retrieval hits, which have the
    same three attributes, as they are)."""

    id: str
    title: str
    text: str


@dataclass(slots=True)
class RoleView:
    """Everything a role is shown at one step; the prompt is rendered from it.

    ``question`` is the current target question (the original or a sub-question);
    ``original_question`` the episode's question; ``history`` the (sub-question, answer) pairs found
    so far; ``documents`` the retrieved (``ds``) or selected (``ag``) documents; ``modules`` the codes
    the planner may use; ``depth`` 0 for the original question, 1 for a sub-question (for every role).
    """

    role: str
    question: str
    original_question: str
    documents: tuple[DocumentView | Hit, ...] = ()
    history: tuple[tuple[str, str], ...] = ()
    modules: tuple[str, ...] = ()
    depth: int = 0
    max_subquestions: int = 4
    retrieved: bool = False


def view_fields(view: RoleView) -> dict[str, Any]:
    """What the role is shown, as the observation's structured ``fields`` (JSON-compatible)."""
    return {
        "original_question": view.original_question,
        "documents": [{"id": d.id, "title": d.title, "text": d.text} for d in view.documents],
        "history": [list(p) for p in view.history],
        "modules": list(view.modules),
        "depth": view.depth,
        "max_subquestions": view.max_subquestions,
    }


#: the JSON text of each document shown lately, by passage id: (title, text, its JSON); emptied when full
_DOCUMENT_JSON: dict[str, tuple[str, str, str]] = {}
_DOCUMENT_JSON_SIZE = 4096


def fields_text(view: RoleView) -> str:
    """``json.dumps(view_fields(view), ensure_ascii=False)``, the same text, made without the intermediate dict.

    A retrieved passage is shown again and again (to DS then AG, to every episode on the same question), and its text is
    most of the JSON: the JSON of each document is kept by passage id (checked against its title and text) and joined.
    """
    parts = []
    for d in view.documents:
        pid, title, text = d.id, d.title, d.text
        if type(pid) is not str or type(title) is not str or type(text) is not str:
            return to_json(view_fields(view))
        kept = _DOCUMENT_JSON.get(pid)
        if kept is not None and kept[1] == text and kept[0] == title:
            parts.append(kept[2])
            continue
        part = f'{{"id": {encode_basestring(pid)}, "title": {encode_basestring(title)}, "text": {encode_basestring(text)}}}'
        if len(_DOCUMENT_JSON) >= _DOCUMENT_JSON_SIZE:
            _DOCUMENT_JSON.clear()
        _DOCUMENT_JSON[pid] = (title, text, part)
        parts.append(part)
    question, depth, limit = view.original_question, view.depth, view.max_subquestions
    if type(question) is not str or type(depth) is not int or type(limit) is not int:
        return to_json(view_fields(view))
    history = pairs_json(view.history)
    modules = strings_json(view.modules)
    return (f'{{"original_question": {encode_basestring(question)}, "documents": [{", ".join(parts)}], '
            f'"history": {history}, "modules": {modules}, "depth": {depth}, "max_subquestions": {limit}}}')


def fields_of(observation: Mapping[str, Any]) -> dict[str, Any]:
    """The ``fields`` of an observation as a dict: its JSON text parsed (or a dict as it is; empty when absent or not JSON)."""
    fields = observation.get("fields") or {}
    if isinstance(fields, str):
        try:
            fields = json.loads(fields)
        except json.JSONDecodeError:
            return {}
    return fields if isinstance(fields, dict) else {}


def _documents(docs: Sequence[DocumentView | Hit]) -> str:
    if not docs:
        return "(no documents)"
    return "\n".join(f"Document{i} (Title: {d.title}) {d.text}" for i, d in enumerate(docs))


def _history(pairs: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"Sub-question {i}: {q}\nAnswer {i}: {a}" for i, (q, a) in enumerate(pairs, start=1))


_SYSTEM: dict[str, str] = {
    "planner": (
        "You plan how a question-answering team answers one question. Choose the modules to run, in order, "
        "so that the answer is right and the work is not wasted: a question that needs one fact may need "
        "little; a question that chains or compares facts may need to be split.\n"
        "Rules: use each module at most once; QDS or QDP must stand alone; otherwise the modules follow the "
        "order QR, R, DS, AG and end with AG; DS needs R before it.\n"
        "Output only <workflow>MODULE,MODULE,...</workflow>, for example <workflow>R,AG</workflow>."
    ),
    "qds": (
        "You split a complex question into simpler sub-questions that are answered one after another; a later "
        "sub-question may refer to the answer of an earlier one. Write between 1 and {max_subquestions} "
        "sub-questions, each different from the question and from each other.\n"
        "Output only the tags <q1>...</q1><q2>...</q2> and so on, numbered from 1."
    ),
    "qdp": (
        "You split a complex question into independent sub-questions that can be answered separately and "
        "in any order. Write between 1 and {max_subquestions} sub-questions, each different from the question "
        "and from each other.\nOutput only the tags <q1>...</q1><q2>...</q2> and so on, numbered from 1."
    ),
    "qr": (
        "You rewrite a question for a search engine over encyclopedia passages. Alone, the question becomes one "
        "search query: keep the names, dates and key terms and drop filler words. When answers to earlier "
        "sub-questions are given, the question becomes a self-contained question: put each answer in place of "
        "what it refers to (#1, #2, 'the director', ...). The output must differ from the question and have at "
        f"most {MAX_QUERY_WORDS} words.\nOutput only <query>...</query>."
    ),
    "ds": (
        "You choose which retrieved documents help answer the question. List every helpful document, in any "
        "order, by its id; list none if none helps.\nOutput only <id>Document0,Document3</id> (or <id></id>)."
    ),
    "ag": (
        "You answer a question using the documents given, or from your own knowledge when there are none. "
        "Answer with the shortest exact phrase (a name, a date, a number, yes or no), at most "
        f"{MAX_ANSWER_WORDS} words.\nOutput only <answer>...</answer>."
    ),
    "as": (
        "You write the final answer to a question from the answers found for its sub-questions. Answer with "
        f"the shortest exact phrase (a name, a date, a number, yes or no), at most {MAX_ANSWER_WORDS} words.\n"
        "Output only <answer>...</answer>."
    ),
}

_FEW_SHOT: dict[str, str] = {
    "planner": "Example: for 'In which country was the director of the film Mira Vale born?' a good plan is "
    "<workflow>QDS</workflow>; for 'Where was Tomas Arlen born?' it is <workflow>R,AG</workflow>.",
    "qds": "Example: 'In which country was the director of the film Mira Vale born?' -> "
    "<q1>Who directed the film Mira Vale?</q1><q2>In which country was the director of Mira Vale born?</q2>",
    "qdp": "Example: 'Who was born first, Tomas Arlen or Ines Varo?' -> "
    "<q1>When was Tomas Arlen born?</q1><q2>When was Ines Varo born?</q2>",
    "qr": "Example: 'In which country was the director of Mira Vale born?' with the answer 'Tomas Arlen' found -> "
    "<query>Tomas Arlen birthplace country</query>",
    "ds": "Example: with documents about Mira Vale (Document0) and an unrelated city (Document1) -> <id>Document0</id>",
    "ag": "Example: 'Who directed Mira Vale?' with a document saying 'Mira Vale is a film directed by Tomas Arlen' -> "
    "<answer>Tomas Arlen</answer>",
    "as": "Example: sub-answers 'Tomas Arlen' (director) and 'Kelsar' (his birth country) -> <answer>Kelsar</answer>",
}


@lru_cache(maxsize=256)
def system_text(role: str, max_subquestions: int = 4, few_shot: bool = False) -> str:
    """The system text of ``role`` (the same at every step of an episode)."""
    text = _SYSTEM[role].format(max_subquestions=max_subquestions) if role in ("qds", "qdp") else _SYSTEM[role]
    return f"{text}\n\n{_FEW_SHOT[role]}" if few_shot else text


@lru_cache(maxsize=64)
def _modules_text(modules: tuple[str, ...]) -> str:
    """The planner's list of available modules (the same at every planner step of a level)."""
    return "\n".join(MODULE_DESCRIPTIONS[m] for m in modules)


def user_text(view: RoleView) -> str:
    """The user text of the acting role, built from what it is shown."""
    role = view.role
    if role == "planner":
        modules = _modules_text(tuple(view.modules))
        where = "the question" if view.depth == 0 else f"a sub-question of: {view.original_question}"
        return f"Plan for {where}\nQuestion: {view.question}\nAvailable modules:\n{modules}"
    if role in ("qds", "qdp"):
        return f"Question: {view.question}"
    if role == "qr":
        if view.history or view.question != view.original_question:
            found = _history(view.history) if view.history else "(none yet)"
            return f"Original question: {view.original_question}\nAnswers found so far:\n{found}\nQuestion to rewrite: {view.question}"
        return f"Question to rewrite: {view.question}"
    if role == "ds":
        return f"Question: {view.question}\nRetrieved documents:\n{_documents(view.documents)}"
    if role == "ag":
        if not view.retrieved:
            return f"Question: {view.question}\n(No documents: answer from your own knowledge.)"
        return f"Question: {view.question}\nDocuments:\n{_documents(view.documents)}"
    if role == "as":
        return f"Question: {view.original_question}\n{_history(view.history)}"
    raise ValueError(f"unknown role {role!r}")


def render(role: str, view: RoleView, few_shot: bool = False) -> tuple[str, str]:
    """``(system, user)`` text of ``role`` for the given view."""
    return system_text(role, view.max_subquestions, few_shot), user_text(view)
