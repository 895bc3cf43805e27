"""Scripted executors that a CPU runs on real text: rewrite, decompose, select, answer, summarise.

Each class plays one role through ``act(role, observation) -> str``, reading the observation's
``question`` and its JSON ``fields`` (documents, sub-answers). They are written for honesty, not
tuned to any dataset file: lexical rules that a reader can check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from jade_env.executors.text import (
    DATE,
    NUMBER,
    answer_type,
    content_words,
    entity_spans,
    entity_spans_with_context,
    is_yes_no_question,
    normalise_word,
    sentences,
)
from jade_env.roles.prompts import fields_of

_PLACEHOLDER = re.compile(r"#(\d+)")


def fill_placeholders(question: str, history: Sequence[Sequence[str]]) -> str:
    """Replace MuSiQue-style ``#1``, ``#2`` by the answers found so far."""
    def sub(m: re.Match[str]) -> str:
        i = int(m.group(1)) - 1
        return history[i][1] if 0 <= i < len(history) else m.group(0)

    return _PLACEHOLDER.sub(sub, question)


class QueryRewriter:
    """QR. For a serial sub-question (earlier answers are shown): the question with each ``#k`` replaced by
    the k-th answer. Otherwise: a search query of the named entities and content words."""

    def resolve(self, question: str, history: Sequence[Sequence[str]]) -> str:
        """The sub-question with its ``#k`` filled; one without references stays as it is, minus its "?"
        (an output must differ from its input, and adding an unrelated answer would mislead the reader)."""
        filled = fill_placeholders(question, history)
        return filled if filled != question else question.rstrip().rstrip("?").rstrip() or question

    def rewrite(self, question: str, history: Sequence[Sequence[str]]) -> str:
        filled = fill_placeholders(question, history)
        entities = entity_spans(filled)
        terms: list[str] = []
        for e in entities:
            if e.lower() not in (t.lower() for t in terms):
                terms.append(e)
        covered = {normalise_word(w) for e in entities for w in e.split()}
        terms += [w for w in content_words(filled) if w not in covered]
        query = " ".join(terms) or filled
        if " ".join(query.split()).casefold() == " ".join(question.split()).casefold():
            query = f"{query} facts"
        return " ".join(query.split()[:60])

    def act(self, role: str, observation: dict[str, str]) -> str:
        history = fields_of(observation).get("history", [])
        text = self.resolve(observation["question"], history) if history else self.rewrite(observation["question"], [])
        return f"<query>{text}</query>"


class DocumentSelector:
    """DS: keep documents whose title or text shares enough content words with the question."""

    def __init__(self, threshold: float = 0.34, keep_at_least: int = 1) -> None:
        self.threshold, self.keep_at_least = threshold, keep_at_least

    def select(self, question: str, documents: Sequence[dict]) -> list[int]:
        q_words = set(content_words(question))
        if not documents:
            return []
        scores = []
        for i, d in enumerate(documents):
            d_words = set(content_words(f"{d.get('title', '')} {d.get('text', '')}"))
            title_words = set(content_words(d.get("title", "")))
            overlap = len(q_words & d_words) / max(len(q_words), 1)
            title_hit = 0.5 if title_words and title_words <= q_words else 0.0
            scores.append((overlap + title_hit, i))
        keep = [i for s, i in scores if s >= self.threshold]
        if len(keep) < self.keep_at_least:
            keep = [i for _, i in sorted(scores, key=lambda t: (-t[0], t[1]))[: self.keep_at_least]]
        return sorted(keep)

    def act(self, role: str, observation: dict[str, str]) -> str:
        docs = fields_of(observation).get("documents", [])
        return "<id>" + ",".join(f"Document{i}" for i in self.select(observation["question"], docs)) + "</id>"


class AnswerGenerator:
    """AG: extract a span from the documents (entities, dates, numbers, yes/no), scored by overlap and type."""

    PLACE_CUES = frozenset({"in", "from", "at", "near", "of"})
    PERSON_CUES = frozenset({"by"})

    def candidates(self, sentence: str, kind: str) -> list[tuple[str, float]]:
        """Candidate answer spans of a sentence with a bonus for the expected answer type and its cues."""
        spans: list[tuple[str, float]] = []
        dates = [m.group(0) for m in DATE.finditer(sentence)]
        if kind == "date":
            spans += [(d, 2.5 if not d.isdigit() else 2.0) for d in dates]
        if kind == "number":
            spans += [(m.group(0), 2.0) for m in NUMBER.finditer(sentence) if m.group(0) not in dates]
        for e, previous in entity_spans_with_context(sentence):
            if DATE.fullmatch(e) or e.replace(",", "").isdigit():
                continue
            bonus = 1.0 if kind in ("person", "place", "entity") else 0.0
            if kind == "place":
                bonus += 1.0 if previous in self.PLACE_CUES else (-0.5 if previous in self.PERSON_CUES else 0.0)
            elif kind == "person":
                bonus += (1.0 if previous in self.PERSON_CUES else 0.0) + (0.3 if len(e.split()) >= 2 else 0.0)
                bonus -= 0.5 if previous in self.PLACE_CUES else 0.0
            spans.append((e, bonus))
        return spans

    def answer(self, question: str, documents: Sequence[dict]) -> str:
        kind = answer_type(question)
        if kind == "yesno":
            return self.yes_no(question, documents)
        if not documents:
            return "unknown"
        q_words = set(content_words(question))
        q_lower = question.lower()
        best: tuple[float, int, str] | None = None
        order = 0
        for d in documents:
            title = d.get("title", "")
            # the passage about the very entity the question names beats its near-namesakes
            title_bonus = 2.0 if title and title.lower() in q_lower else 0.0
            for s_idx, sent in enumerate(sentences(d.get("text", ""))):
                s_words = set(content_words(sent))
                s_score = len(q_words & s_words) + 0.5 * len(q_words & set(content_words(title))) + title_bonus
                for span, bonus in self.candidates(sent, kind):
                    span_words = set(content_words(span))
                    if not span_words or span.lower() in q_lower or span_words <= q_words:
                        continue  # an answer rarely repeats the question
                    score = s_score + bonus - 0.1 * s_idx
                    order -= 1
                    key = (score, order, span)
                    if best is None or key[:2] > best[:2]:
                        best = key
        return best[2] if best else documents[0].get("title", "unknown") or "unknown"

    def yes_no(self, question: str, documents: Sequence[dict]) -> str:
        """Yes when the question's content words are all found in one document, else no."""
        q_words = set(content_words(question))
        for d in documents:
            if q_words and q_words <= set(content_words(f"{d.get('title', '')} {d.get('text', '')}")):
                return "yes"
        return "no" if documents else "yes"

    def act(self, role: str, observation: dict[str, str]) -> str:
        docs = fields_of(observation).get("documents", [])
        return f"<answer>{self.answer(observation['question'], docs)}</answer>"


_COMPARE = re.compile(r"\b(first|earlier|older|oldest|before|younger|youngest|later|after|more recent|latest|newer)\b", re.I)
_YEAR = re.compile(r"\b(\d{3,4})\b")


class AnswerSummariser:
    """AS: combine the sub-answers: comparisons by date, same/both questions by equality, else the last answer."""

    def summarise(self, question: str, pairs: Sequence[Sequence[str]]) -> str:
        answers = [a for _, a in pairs]
        if not answers:
            return "unknown"
        q = question.lower()
        if is_yes_no_question(question):
            if " same " in f" {q} " or "both" in q:
                norm = {" ".join(content_words(a)) for a in answers}
                return "yes" if len(norm) == 1 else "no"
            return "yes" if all(a.lower().startswith("yes") for a in answers) else "no"
        m = _COMPARE.search(question)
        options = re.split(r",\s*|\s+or\s+", question.rstrip("?"))
        if m and len(pairs) >= 2 and " or " in q:
            years = []
            for _sub, a in pairs:
                y = _YEAR.search(a)
                years.append(int(y.group(1)) if y else None)
            if all(y is not None for y in years):
                earliest = m.group(1).lower() in ("first", "earlier", "older", "oldest", "before")
                pick = min if earliest else max
                idx = years.index(pick(years))  # type: ignore[arg-type]
                subject = self._subject(pairs[idx][0], options)
                if subject:
                    return subject
        return answers[-1]

    @staticmethod
    def _subject(subquestion: str, options: Sequence[str]) -> str:
        """The option of the comparison that the sub-question is about."""
        sub = subquestion.lower()
        for opt in options[::-1]:
            opt = opt.strip()
            if opt and opt.lower() in sub:
                return opt
        ents = entity_spans(subquestion)
        return ents[0] if ents else ""

    def act(self, role: str, observation: dict[str, str]) -> str:
        f = fields_of(observation)
        return f"<answer>{self.summarise(f.get('original_question', observation['question']), f.get('history', []))}</answer>"
