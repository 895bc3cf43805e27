"""Candidate actions per role, for compact policies that choose rather than write.

A compact policy picks one of at most ``N_CANDIDATES`` texts for the acting role. The candidates come from
the scripted executors' generators, so every role has real alternatives to learn between. Each candidate
has a *kind* (what it is, e.g. ``qr:fill``); a frozen executor spec (:mod:`baselines.executor_specs`) is a
preference over kinds, so every frozen choice is one of the candidates the trained policy chooses from.

==========  ===========================================================================================
role        candidates (kinds)
==========  ===========================================================================================
planner     the 8 top-level workflows (``wf:QDS``, ...; sub-questions: the 6 direct ones); ``allow_ds=False``
            masks those with DS, ``workflows=`` keeps only the listed ones
qds / qdp   the rule split with composite attributes split into links (``qd:fine``); the rule split
            without that (``qd:coarse``); the split reversed (``qd:reversed``); one restated question
            (``qd:restate``)
qr          the sub-question with each ``#k`` replaced by the k-th answer (``qr:fill``); a keyword query of
            that (``qr:keywords``); a keyword query of the sub-question as written, ``#k`` ignored
            (``qr:raw``); its named entities (``qr:entities``)
ds          every document (``ds:all``); the rule selection (``ds:rule``); the top 1, 2 and 3 documents
            (``ds:top1``...); none (``ds:none``)
ag          the scripted extractor's answer (``ag:best``); the best span of the first document alone
            (``ag:first-doc``, distractible: the top document decides); other spans (``ag:span``)
as          the scripted summary (``as:summary``); each sub-answer (``as:sub``)
agent       (monolithic) keyword and entity searches while turns remain (``agent:search``,
            ``agent:search-entities``), and answer spans from the documents found (``agent:answer``,
            ``agent:answer-span``)
==========  ===========================================================================================

Candidates with the same text are merged, keeping every kind. Each candidate also gets a feature row
(its length, overlap with the question and the documents, its position, and its kinds), so the policy can
tell candidates apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jade_env.executors.decomposer import split_question
from jade_env.executors.scripted import AnswerGenerator, AnswerSummariser, DocumentSelector, QueryRewriter
from jade_env.executors.text import content_words, entity_spans, sentences
from jade_env.roles.ids import ROLES, TOP_LEVEL_WORKFLOWS
from jade_env.roles.prompts import fields_of

N_CANDIDATES = 8
WORKFLOW_TEXTS = tuple(",".join(w) for w in TOP_LEVEL_WORKFLOWS)
#: every candidate kind, in a fixed order (the one-hot of the candidate features)
KINDS: tuple[str, ...] = (
    *(f"wf:{w}" for w in WORKFLOW_TEXTS),
    "qd:fine", "qd:coarse", "qd:reversed", "qd:restate",
    "qr:fill", "qr:keywords", "qr:raw", "qr:entities",
    "ds:all", "ds:rule", "ds:top1", "ds:top2", "ds:top3", "ds:none",
    "ag:best", "ag:first-doc", "ag:span",
    "as:summary", "as:sub",
    "agent:search", "agent:search-entities", "agent:answer", "agent:answer-span",
)
KIND_INDEX = {k: i for i, k in enumerate(KINDS)}
CANDIDATE_FEATURES = 6 + len(KINDS)
#: the roles a compact policy can play: the team's, and the monolithic paradigm's single ``agent``
ROLE_SLOTS: tuple[str, ...] = (*ROLES, "agent")
ROLE_INDEX = {r: i for i, r in enumerate(ROLE_SLOTS)}


@dataclass(frozen=True, slots=True)
class Candidates:
    """The texts a role may output (padded with masked slots), their kinds, and one feature row per slot."""

    texts: tuple[str, ...]
    kinds: tuple[frozenset[str], ...]
    mask: np.ndarray
    features: np.ndarray

    def index_of(self, preferences: tuple[str, ...]) -> int:
        """The first candidate of the first preferred kind present (0 when none is)."""
        for kind in preferences:
            for i, kinds in enumerate(self.kinds):
                if kind in kinds:
                    return i
        return 0


def _tags(items: list[str], tag: str = "q") -> str:
    return "".join(f"<{tag}{i}>{s}</{tag}{i}>" for i, s in enumerate(items, start=1))


class CandidateGenerator:
    """Makes the candidates of the acting role from its observation (see the module docstring)."""

    def __init__(self, allow_ds: bool = True, workflows: tuple[str, ...] | None = None) -> None:
        self.allow_ds, self.workflows = allow_ds, workflows
        self.rewriter, self.selector = QueryRewriter(), DocumentSelector()
        self.generator, self.summariser = AnswerGenerator(), AnswerSummariser()

    def labelled(self, role: str, obs: dict[str, str]) -> list[tuple[str, str]]:
        """``(kind, text)`` candidates of ``role``, before merging."""
        f = fields_of(obs)
        question = obs["question"]
        docs = f.get("documents", [])
        if role == "planner":
            allowed = set(f.get("modules", [])) or {"QR", "QDS", "QDP", "R", "DS", "AG"}
            out = []
            for w in WORKFLOW_TEXTS:
                modules = set(w.split(","))
                if modules <= allowed and (self.allow_ds or "DS" not in modules) and (self.workflows is None or w in self.workflows):
                    out.append((f"wf:{w}", f"<workflow>{w}</workflow>"))
            return out
        if role in ("qds", "qdp"):
            serial = role == "qds"
            fine, coarse = split_question(question, serial=serial), split_question(question, serial=serial, fine=False)
            out = [("qd:fine", _tags(fine)), ("qd:coarse", _tags(coarse))]
            if len(fine) > 1:
                out.append(("qd:reversed", _tags(list(reversed(fine)))))
            out.append(("qd:restate", _tags([f"What is known about {question.rstrip('?')}?"])))
            return out
        if role == "qr":
            history = f.get("history", [])
            options = [("qr:fill", self.rewriter.resolve(question, history)), ("qr:keywords", self.rewriter.rewrite(question, history)),
                       ("qr:raw", self.rewriter.rewrite(question, [])),
                       ("qr:entities", " ".join(entity_spans(question)) or question + " information")]
            return [(k, f"<query>{o}</query>") for k, o in options if o.strip()]
        if role == "ds":
            n = len(docs)
            options = [("ds:all", list(range(n))), ("ds:rule", self.selector.select(question, docs)), ("ds:top1", list(range(min(1, n)))),
                       ("ds:top2", list(range(min(2, n)))), ("ds:top3", list(range(min(3, n)))), ("ds:none", [])]
            return [(k, "<id>" + ",".join(f"Document{i}" for i in o) + "</id>") for k, o in options]
        if role == "ag":
            first = self.generator.answer(question, docs[:1]) if docs else self.generator.answer(question, docs)
            return ([("ag:best", f"<answer>{self.generator.answer(question, docs)}</answer>"), ("ag:first-doc", f"<answer>{first}</answer>")]
                    + [("ag:span", f"<answer>{a}</answer>") for a in self.answers(question, docs)[1:]])
        if role == "agent":  # monolithic: search (while turns remain) or answer from what was found
            out = []
            if f.get("turn", 0) < f.get("max_turns", 4) - 1:
                query = self.rewriter.rewrite(question, [])
                out += [("agent:search", f"<search>{query}</search>"),
                        ("agent:search-entities", f"<search>{' '.join(entity_spans(question)) or query}</search>")]
            if docs:
                spans = self.answers(question, docs, limit=N_CANDIDATES - len(out))
                out += [("agent:answer" if i == 0 else "agent:answer-span", f"<answer>{a}</answer>") for i, a in enumerate(spans)]
            return out or [("agent:answer", f"<answer>{self.generator.answer(question, docs)}</answer>")]
        if role == "as":
            pairs = f.get("history", [])
            return ([("as:summary", f"<answer>{self.summariser.summarise(f.get('original_question', question), pairs)}</answer>")]
                    + [("as:sub", f"<answer>{a}</answer>") for _, a in pairs if a])
        return []

    def answers(self, question: str, docs: list[dict], limit: int = N_CANDIDATES) -> list[str]:
        """The scripted extractor's answer first, then other spans of the best sentences."""
        spans = [self.generator.answer(question, docs)]
        q_words = set(content_words(question))
        scored = []
        for d in docs:
            for sent in sentences(d.get("text", "")):
                overlap = len(q_words & set(content_words(sent)))
                for span, bonus in self.generator.candidates(sent, "entity"):
                    if span.lower() not in question.lower():
                        scored.append((overlap + bonus, span))
        for _, span in sorted(scored, key=lambda t: -t[0]):
            if span not in spans:
                spans.append(span)
            if len(spans) >= limit:
                break
        return spans

    def __call__(self, role: str, obs: dict[str, str]) -> Candidates:
        merged: dict[str, set[str]] = {}
        for kind, text in self.labelled(role, obs):
            if text in merged or len(merged) < N_CANDIDATES:
                merged.setdefault(text, set()).add(kind)
        if not merged:
            merged["<answer>unknown</answer>"] = set()
        texts = list(merged)
        q_words = set(content_words(obs["question"]))
        doc_words = set(content_words(" ".join(d.get("text", "") for d in fields_of(obs).get("documents", []))))
        features = np.zeros((N_CANDIDATES, CANDIDATE_FEATURES), dtype=np.float32)
        for i, text in enumerate(texts):
            words = set(content_words(text))
            features[i, :6] = [1.0, i / N_CANDIDATES, min(len(text), 400) / 400, len(words & q_words) / max(len(words), 1),
                               len(words & doc_words) / max(len(words), 1), float(i == 0)]
            for kind in merged[text]:
                features[i, 6 + KIND_INDEX[kind]] = 1.0
        mask = np.zeros(N_CANDIDATES, dtype=bool)
        mask[: len(texts)] = True
        pad = N_CANDIDATES - len(texts)
        return Candidates(tuple(texts) + ("",) * pad, tuple(frozenset(merged[t]) for t in texts) + (frozenset(),) * pad, mask, features)
