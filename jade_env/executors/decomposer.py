"""QDS / QDP: rule-based decomposition of bridge and comparison questions.

Patterns (HotpotQA, 2Wiki and the Synthetic world phrase them alike):

* comparison, ``..., A or B?`` with a comparative (first, older, earlier, later, ...): one
  sub-question per option asking for the compared attribute (``When was A born?``);
* yes/no about two entities, ``Are/Were A and B ...?``: one sub-question per entity asking for the
  shared attribute (``What is the nationality of A?``, ``In which country was A born?``);
* bridge, ``... the R of E ...`` (``the director of film X``): first ``Who is the R of E?``, then the
  question with ``#1`` in place of ``the R of E``; nested relations give one sub-question per link;
* a composite attribute is split into its links (the fine split): ``In which country was X born?``
  becomes ``Where was X born?`` then ``In which country is #k?``, so that a three-hop question such as
  ``In which country was the director of F born?`` gets one sub-question per hop;
* otherwise the question cannot be split by rule, and a single restated sub-question is returned.
"""

from __future__ import annotations

import re

from jade_env.executors.text import content_words
from jade_env.roles.prompts import fields_of

_OPTIONS = re.compile(r",\s*(?:the\s+)?(.+?)\s+or\s+(?:the\s+)?(.+?)\s*\?*$", re.I)
_COMPARATIVE = re.compile(r"\b(first|earlier|older|oldest|younger|youngest|later|last|before|after|more recent|newer|latest)\b", re.I)
_PAIR = re.compile(r"^(?:are|were|is|was|do|did|does)\s+(?:both\s+)?(.+?)\s+and\s+(.+?)\s+"
                   r"(both\s+|of the same\s+|from the same\s+|in the same\s+|located in the same\s+|born in the same\s+|the same\s+)"
                   r"(.*?)\?*$", re.I)
_RELATION = re.compile(
    r"\bthe\s+((?:[a-z\-]+\s+){0,2}?(?:director|directors|producer|composer|performer|author|writer|creator|founder|mother|father|"
    r"spouse|wife|husband|son|daughter|child|sibling|brother|sister|publisher|owner|manufacturer|developer|star|singer|"
    r"screenwriter|editor|designer|architect|coach|leader|president|capital|headquarters|birthplace|place of birth|"
    r"country|city|team|company|label|employer|university|school|creator|inventor|narrator|presenter|host))\s+of\s+"
    r"((?:the\s+)?(?:film|movie|song|album|novel|book|band|show|series|game|company|team|magazine|group|play)?\s*[A-Z0-9\"“'].*?)"
    r"(?=\s+(?:born|die|died|come|came|located|released|was|is|live|lived|work|worked|go|went|from|in|to|play|played)\b|[?,]|$)"
)


def attribute_question(subject: str, question: str) -> str:
    """The sub-question asking for the attribute a comparison compares, about ``subject``."""
    q = question.lower()
    if any(w in q for w in ("born", "older", "younger", "oldest", "youngest")):
        return f"When was {subject} born?"
    if "die" in q:
        return f"When did {subject} die?"
    if any(w in q for w in ("founded", "established", "formed", "created")):
        return f"When was {subject} founded?"
    if any(w in q for w in ("released", "came out", "come out", "published", "premiered")):
        return f"When was {subject} released?"
    return f"When was {subject} released?" if "film" in q or "album" in q else f"When did {subject} begin?"


def pair_attribute_question(subject: str, shared: str) -> str:
    """The sub-question for one entity of a yes/no question about two entities."""
    s = shared.lower()
    if "nationality" in s or "nation" in s:
        return f"What is the nationality of {subject}?"
    if "country" in s:
        return f"In which country is {subject}?"
    if "city" in s:
        return f"In which city is {subject}?"
    if s:
        return f"What is the {shared.strip()} of {subject}?"
    return f"What is {subject}?"


_COUNTRY_OF_BIRTH = re.compile(r"^In which country was (.+?) born\?*$", re.I)
_REFERENCE = re.compile(r"#(\d+)")


def fine_split(subquestions: list[str]) -> list[str]:
    """Each composite-attribute sub-question split into its links; later ``#k`` references follow the new numbers."""
    out: list[str] = []
    renumbered: dict[int, int] = {}  # old sub-question number -> the new number of the sub-question giving that answer
    for number, sub in enumerate(subquestions, start=1):
        sub = _REFERENCE.sub(lambda m: f"#{renumbered.get(int(m.group(1)), int(m.group(1)))}", sub)
        m = _COUNTRY_OF_BIRTH.match(sub)
        if m:
            out.append(f"Where was {m.group(1)} born?")
            out.append(f"In which country is #{len(out)}?")
        else:
            out.append(sub)
        renumbered[number] = len(out)
    return out


def split_question(question: str, serial: bool, fine: bool = True) -> list[str]:
    """Sub-questions of ``question`` by the rules of the module docstring (``fine=False``: no fine split)."""
    q = " ".join(question.split())
    m = _OPTIONS.search(q)
    if m and _COMPARATIVE.search(q):
        a, b = m.group(1).strip(" \"“”'"), m.group(2).strip(" \"“”'?")
        if a and b and a.lower() != b.lower():
            return [attribute_question(a, q), attribute_question(b, q)]
    m = _PAIR.match(q)
    if m:
        a, b, shared = m.group(1).strip(), m.group(2).strip(), m.group(4).strip()
        return [pair_attribute_question(a, shared), pair_attribute_question(b, shared)]
    subs: list[str] = []
    remaining = q
    for _ in range(3):  # innermost relation first: "the mother of the director of X" -> director, then mother
        rels = list(_RELATION.finditer(remaining))
        if not rels:
            break
        rel = rels[-1]
        relation, entity = rel.group(1).strip(), rel.group(2).strip(" ,")
        if not content_words(entity):
            break
        wh = "What" if relation.split()[-1] in ("capital", "headquarters", "birthplace", "country", "city", "team", "company",
                                                  "label", "employer", "university", "school") else "Who"
        subs.append(f"{wh} is the {relation} of {entity}?")
        remaining = remaining[: rel.start()] + f"#{len(subs)}" + remaining[rel.end():]
    if subs and remaining.strip() != f"#{len(subs)}?":
        subs.append(remaining if remaining.endswith("?") else remaining + "?")
    if fine:
        subs = fine_split(subs or [q])
    if len(subs) >= 2:
        return subs[:4]
    return [f"What is known about {', '.join(content_words(q)[:8])}?"]


class Decomposer:
    """QDS and QDP by rule; the same rules serve both (QDP asks for independent sub-questions)."""

    def act(self, role: str, observation: dict[str, str]) -> str:
        question = observation["question"] or fields_of(observation).get("original_question", "")
        subs = split_question(question, serial=role == "qds")
        return "".join(f"<q{i}>{s}</q{i}>" for i, s in enumerate(subs, start=1))
