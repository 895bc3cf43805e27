"""Plain-text helpers of the scripted agents: content words, entity spans, dates, numbers, sentences.

Rule-based and dataset-agnostic: English function words, capitalisation, and the usual shapes of
dates and numbers. Nothing here was tuned to a particular dataset file.
"""

from __future__ import annotations

import re
from functools import lru_cache

FUNCTION_WORDS = frozenset(
    """a an the of in on at to for from by with about as into onto over under and or but nor so yet is are was were be been
    being am do does did done has have had having can could shall should will would may might must what which who whom whose
    when where why how that this these those it its he she his her they them their there here not no yes than then also both
    either neither same first last one any some such very most more less many much other another each every all if whether
    i you we me my our your us name named called born directed founded released located known became worked lived
    died""".split()
)
QUESTION_WORDS = frozenset("what which who whom whose when where why how".split())
YES_NO_STARTS = ("is ", "are ", "was ", "were ", "do ", "does ", "did ", "has ", "have ", "had ", "can ", "could ",
                 "will ", "would ", "should ")
MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
          "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
DATE = re.compile(rf"\b(?:\d{{1,2}} (?:{MONTHS})\.? \d{{3,4}}|(?:{MONTHS})\.? \d{{1,2}},? \d{{3,4}}|(?:{MONTHS}) \d{{3,4}}|"
                  r"(?:1[0-9]|20)\d\d)\b")
NUMBER = re.compile(r"\b\d[\d,.]*(?: (?:million|billion|thousand|hundred))?\b")
WORD = re.compile(r"[A-Za-z0-9À-ÿ][\w'’\-\.]*")
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])")
# a capitalised span: capitalised words, allowing a few lower-case connectors inside
ENTITY = re.compile(r"\b[A-Z0-9][\w'’\-\.]*(?:\s+(?:(?:of|the|de|da|von|van|du|la|le|del|di|&)\s+)*[A-Z0-9][\w'’\-\.]*)*")


@lru_cache(maxsize=65536)
def normalise_word(word: str) -> str:
    """Lower case, strip punctuation, and a crude plural stem (``films`` -> ``film``)."""
    w = word.lower().strip(".,;:!?\"'’“”()[]")
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def words(text: str) -> list[str]:
    return WORD.findall(text)


def content_words(text: str) -> list[str]:
    """Normalised words that are not function words, in order, without repeats."""
    seen: dict[str, None] = {}
    for w in words(text):
        n = normalise_word(w)
        if n and n not in FUNCTION_WORDS:
            seen.setdefault(n, None)
    return list(seen)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.split(text) if s.strip()]


def entity_spans(text: str) -> list[str]:
    """Capitalised spans, minus leading/trailing function words (``The``, ``Born`` at a sentence start)."""
    return [span for span, _ in entity_spans_with_context(text)]


def entity_spans_with_context(text: str) -> list[tuple[str, str]]:
    """``(span, the word before it, lower-cased)`` for every capitalised span of ``text``."""
    out = []
    for m in ENTITY.finditer(text):
        span = m.group(0).strip(" .,;:")
        parts = span.split()
        dropped = 0
        while parts and parts[0].lower() in FUNCTION_WORDS:
            parts = parts[1:]
            dropped += 1
        while parts and parts[-1].lower() in FUNCTION_WORDS:
            parts = parts[:-1]
        if not parts:
            continue
        before = text[: m.start()].split()
        previous = (span.split()[dropped - 1] if dropped else (before[-1] if before else "")).lower().strip(",.;:(")
        out.append((" ".join(parts), previous))
    return out


def is_yes_no_question(question: str) -> bool:
    return question.strip().lower().startswith(YES_NO_STARTS)


def answer_type(question: str) -> str:
    """A coarse expected answer type from the question's wording."""
    q = question.lower()
    if is_yes_no_question(q):
        return "yesno"
    if q.startswith("when") or "what year" in q or "which year" in q or "what date" in q or " born on" in q:
        return "date"
    if q.startswith("how many") or q.startswith("how much") or "what number" in q:
        return "number"
    if q.startswith("where") or any(k in q for k in ("which country", "which city", "what country", "what city",
                                                     "which state", "what state", "located", "which place")):
        return "place"
    if q.startswith("who") or "whom" in q or "which person" in q:
        return "person"
    return "entity"
