"""One parser per output tag (docs/environment.md, "Roles"). Parsers never raise: every input, however malformed,
gives a :class:`Parsed` whose ``valid`` flag and ``message`` say what was wrong.

Strict mode (the default, ``strict=True``): the output must be the tag(s) and nothing else, apart
from white space around them. Lenient mode: the first occurrence of the tag anywhere is taken.

============  ===========================================  ==========================================
parser        tag                                          valid when
============  ===========================================  ==========================================
workflow      ``<workflow>M1,M2,...</workflow>``           known codes, no duplicates; QDS or QDP
                                                           alone; otherwise a sub-sequence of
                                                           QR,R,DS,AG that ends in AG, DS after R
subquestions  ``<q1>...</q1><q2>...</q2>...``              1..max tags numbered from 1 without gaps,
                                                           non-empty, no duplicates, none equal to
                                                           the question
query         ``<query>...</query>``                       non-empty, differs from the input, at
                                                           most 100 words
doc_ids       ``<id>Document0,Document3</id>``             every id exists, no duplicates (may be
                                                           empty)
answer        ``<answer>...</answer>``                     non-empty, at most 40 words
============  ===========================================  ==========================================

Outputs longer than :data:`MAX_OUTPUT_CHARS` are invalid for every tag (no valid output is that
long) and are not scanned further, so a megabyte of junk costs no more than a short string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, TypeVar

from jade_env.roles.ids import DIRECT_ORDER, MODULE_CODES

T = TypeVar("T")

MAX_OUTPUT_CHARS = 20_000
MAX_QUERY_WORDS = 100
MAX_ANSWER_WORDS = 40


@dataclass(slots=True)
class Parsed(Generic[T]):
    """A parse result: the value when ``valid``, else ``None`` and a message saying what was wrong."""

    valid: bool
    value: T | None
    message: str = ""


def _invalid(message: str) -> Parsed:
    return Parsed(False, None, message)


# the rules' names, shared with jade_env.roles.grammars
#: the output tag of each role (``qds``/``qdp`` write numbered ``<q1>``, ``<q2>``, ... tags instead)
ROLE_TAGS: dict[str, str] = {"planner": "workflow", "qr": "query", "ds": "id", "ag": "answer", "as": "answer"}
#: the numbered tag of the i-th sub-question (from 1)
SUBQUESTION_TAG = "q{}"
#: retrieved documents are named ``Document0``, ``Document1``, ... in prompts and in ``<id>`` lists
DOCUMENT_ID_PREFIX = "Document"


def _tag_pattern(tag: str) -> re.Pattern[str]:
    return re.compile(rf"<{tag}>(.*?)</{tag}>", re.DOTALL)


_TAGS = {t: _tag_pattern(t) for t in ("workflow", "query", "id", "answer", "search")}
_Q_TAG = re.compile("<" + SUBQUESTION_TAG.format(r"(\d+)") + ">(.*?)</" + SUBQUESTION_TAG.format(r"\1") + ">", re.DOTALL)
_ANY_Q_OPEN = re.compile("<" + SUBQUESTION_TAG.format(r"\d+") + ">")
_DOC_ID = re.compile(DOCUMENT_ID_PREFIX + r"(\d+)")
_COMPACT_DOC_IDS = re.compile(rf"{DOCUMENT_ID_PREFIX}\d+(?:,{DOCUMENT_ID_PREFIX}\d+)*")


def _extract(text: str, tag: str, strict: bool) -> Parsed[str]:
    """The content of the single ``<tag>`` element (strict: the whole output) or of the first one."""
    if not isinstance(text, str):
        return _invalid(f"output is {type(text).__name__}, expected text")
    if len(text) > MAX_OUTPUT_CHARS:
        return _invalid(f"output has {len(text)} characters; at most {MAX_OUTPUT_CHARS} are allowed")
    pattern = _TAGS[tag]
    if strict:
        m = pattern.fullmatch(text.strip())
        if m is None:
            found = pattern.search(text)
            if found is None:
                return _invalid(f"expected <{tag}>...</{tag}>; no complete <{tag}> element found")
            return _invalid(f"expected only <{tag}>...</{tag}>; found text outside the tag or a second tag")
    else:
        m = pattern.search(text)
        if m is None:
            return _invalid(f"expected <{tag}>...</{tag}>; no complete <{tag}> element found")
    content = m.group(1)
    if f"<{tag}>" in content or f"</{tag}>" in content:
        return _invalid(f"nested or repeated <{tag}> elements; expected exactly one")
    return Parsed(True, content)


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def parse_workflow(text: str, *, allowed: frozenset[str] | None = None, strict: bool = True) -> Parsed[tuple[str, ...]]:
    """Parse ``<workflow>M1,M2,...</workflow>``; ``allowed`` restricts the codes (sub-questions)."""
    got = _extract(text, "workflow", strict)
    if not got.valid:
        return got
    raw = got.value or ""
    modules = tuple(m.strip() for m in raw.split(",")) if raw.strip() else ()
    if not strict:
        modules = tuple(m.upper() for m in modules)
    return check_workflow(modules, allowed=allowed)


def check_workflow(modules: tuple[str, ...], *, allowed: frozenset[str] | None = None) -> Parsed[tuple[str, ...]]:
    """The workflow rules on a sequence of module codes (used by the parser and for ``workflow=`` keywords).

    A pure function of its arguments, kept for the workflows seen again (a planner writes few distinct ones): the
    result is shared between calls, and, like every parse result, never changed.
    """
    try:
        return _check_workflow(modules, allowed)
    except TypeError:  # an unhashable code (a caller's list): checked without the cache
        return _check_workflow.__wrapped__(modules, allowed)


@lru_cache(maxsize=1024)
def _check_workflow(modules: tuple[str, ...], allowed: frozenset[str] | None) -> Parsed[tuple[str, ...]]:
    if not modules:
        return _invalid("empty workflow; expected comma-separated modules such as R,AG")
    unknown = [m for m in modules if m not in MODULE_CODES]
    if unknown:
        return _invalid(f"unknown module {unknown[0][:20]!r}; expected codes from {', '.join(MODULE_CODES)}")
    if allowed is not None:
        banned = [m for m in modules if m not in allowed]
        if banned:
            return _invalid(f"module {banned[0]} is not allowed here; allowed: {', '.join(sorted(allowed))}")
    if len(set(modules)) != len(modules):
        return _invalid("a module appears twice; each may be used once")
    if "QDS" in modules or "QDP" in modules:
        if len(modules) != 1:
            return _invalid("QDS or QDP must stand alone")
        return Parsed(True, modules)
    positions = [DIRECT_ORDER.index(m) for m in modules]
    if positions != sorted(positions):
        return _invalid("modules out of order; the order is QR, R, DS, AG")
    if modules[-1] != "AG":
        return _invalid("a workflow must end in AG")
    if "DS" in modules and "R" not in modules:
        return _invalid("DS needs R before it")
    return Parsed(True, modules)


def parse_subquestions(text: str, *, question: str, max_subquestions: int = 4, strict: bool = True) -> Parsed[tuple[str, ...]]:
    """Parse ``<q1>...</q1><q2>...</q2>...``: numbered from 1, no gaps, no duplicates."""
    if not isinstance(text, str):
        return _invalid(f"output is {type(text).__name__}, expected text")
    if len(text) > MAX_OUTPUT_CHARS:
        return _invalid(f"output has {len(text)} characters; at most {MAX_OUTPUT_CHARS} are allowed")
    matches = list(_Q_TAG.finditer(text))
    if not matches:
        return _invalid("expected <q1>...</q1>; no complete <qN> element found")
    if strict:
        rest = _Q_TAG.sub("", text)
        if rest.strip():
            return _invalid("expected only <qN>...</qN> elements; found text outside the tags")
    numbers = [int(m.group(1)) for m in matches]
    if numbers != list(range(1, len(numbers) + 1)):
        return _invalid(f"sub-questions numbered {numbers[:8]}; expected 1, 2, ... without gaps")
    if len(matches) > max_subquestions:
        return _invalid(f"{len(matches)} sub-questions; at most {max_subquestions} are allowed")
    subs = tuple(" ".join(m.group(2).split()) for m in matches)
    for i, sub in enumerate(subs, start=1):
        if not sub:
            return _invalid(f"sub-question q{i} is empty")
        if _ANY_Q_OPEN.search(sub) or "</q" in sub:
            return _invalid(f"sub-question q{i} contains a nested tag")
        if _same_text(sub, question):
            return _invalid(f"sub-question q{i} repeats the question")
    if len({s.casefold() for s in subs}) != len(subs):
        return _invalid("two sub-questions are the same")
    return Parsed(True, subs)


def parse_query(text: str, *, input_question: str, strict: bool = True) -> Parsed[str]:
    """Parse ``<query>...</query>``: non-empty, different from the input, at most 100 words."""
    got = _extract(text, "query", strict)
    if not got.valid:
        return got
    query = " ".join((got.value or "").split())
    if not query:
        return _invalid("empty query")
    if _same_text(query, input_question):
        return _invalid("the query repeats the input unchanged")
    n_words = len(query.split())
    if n_words > MAX_QUERY_WORDS:
        return _invalid(f"query has {n_words} words; at most {MAX_QUERY_WORDS} are allowed")
    return Parsed(True, query)


def parse_doc_ids(text: str, *, n_documents: int, strict: bool = True, compact: bool = False) -> Parsed[tuple[int, ...]]:
    """Parse ``<id>Document0,Document3</id>`` into document indices; an empty list is valid.

    ``compact`` (the released JADE code's rule): no white space between the ids, ``Document0, Document3`` is invalid.
    """
    got = _extract(text, "id", strict)
    if not got.valid:
        return got
    raw = (got.value or "").strip()
    if not raw:
        return Parsed(True, ())
    if compact and _COMPACT_DOC_IDS.fullmatch(raw) is None:
        return _invalid(f"{raw[:40]!r} is not a compact id list; expected Document0,Document3 with no spaces")
    indices: list[int] = []
    for item in raw.split(","):
        item = item.strip()
        m = _DOC_ID.fullmatch(item)
        if m is None:
            return _invalid(f"{item[:30]!r} is not a document id; expected Document0..Document{max(n_documents - 1, 0)}")
        idx = int(m.group(1))
        if idx >= n_documents:
            return _invalid(f"Document{idx} does not exist; there are {n_documents} documents")
        if idx in indices:
            return _invalid(f"Document{idx} is listed twice")
        indices.append(idx)
    return Parsed(True, tuple(indices))


def parse_answer(text: str, *, strict: bool = True) -> Parsed[str]:
    """Parse ``<answer>...</answer>``: non-empty, at most 40 words."""
    got = _extract(text, "answer", strict)
    if not got.valid:
        return got
    answer = " ".join((got.value or "").split())
    if not answer:
        return _invalid("empty answer")
    n_words = len(answer.split())
    if n_words > MAX_ANSWER_WORDS:
        return _invalid(f"answer has {n_words} words; at most {MAX_ANSWER_WORDS} are allowed")
    return Parsed(True, answer)


def parse_search_turn(text: str, *, strict: bool = True) -> Parsed[tuple[str, str]]:
    """Find the element of one monolithic turn: ``("search", query)`` or ``("answer", content)``.

    Reasoning before the element is allowed. Strict: exactly one ``<search>`` or one ``<answer>`` element
    in the turn, and nothing but white space after it; lenient: the first complete one. A query must be non-empty (white space is squeezed); an
    answer's content is returned raw, for :func:`parse_answer` to judge (its fallback is the content).
    """
    if not isinstance(text, str):
        return _invalid(f"output is {type(text).__name__}, expected text")
    if len(text) > MAX_OUTPUT_CHARS:
        return _invalid(f"output has {len(text)} characters; at most {MAX_OUTPUT_CHARS} are allowed")
    found = sorted((m.start(), m.end(), tag, m.group(1)) for tag in ("search", "answer") for m in _TAGS[tag].finditer(text))
    if not found:
        return _invalid("no <search>...</search> or <answer>...</answer> element found")
    if strict and len(found) != 1:
        return _invalid("expected exactly one <search>...</search> or one <answer>...</answer> in the turn")
    _, end, tag, content = found[0]
    if strict and not text[end:].isspace() and text[end:]:
        return _invalid(f"text after </{tag}>; a turn ends with its <search> or <answer> element")
    if tag == "answer":
        return Parsed(True, ("answer", content))
    query = " ".join(content.split())
    if not query:
        return _invalid("empty <search> query")
    return Parsed(True, ("search", query))
