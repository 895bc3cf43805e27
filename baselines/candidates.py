"""Candidate actions per role, for compact policies that choose rather than write.

A compact policy picks one of at most ``N_CANDIDATES`` texts for the acting role. The candidates come
from the scripted executors' generators, so every role has real alternatives to learn between:

==========  ===========================================================================================
role        candidates
==========  ===========================================================================================
planner     the 8 top-level workflows (sub-questions: the 6 direct ones); ``allow_ds=False`` masks DS
qds / qdp   the rule decomposition; the question as one sub-question; the decomposition reversed
qr          the entity/keyword query; the question with ``#k`` filled; entities only
ds          every document; the rule selection; the top 1, 2 and 3 documents; none
ag / as     the top answer spans of the scripted extractor (AS: the summary, each sub-answer)
agent       (monolithic) two searches while turns remain, and answer spans from the documents found
==========  ===========================================================================================

Each candidate also gets a small feature vector (its length, overlap with the question and the
documents, its rank under the scripted scorer), so the policy can tell candidates apart.
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
CANDIDATE_FEATURES = 6
WORKFLOW_TEXTS = tuple(",".join(w) for w in TOP_LEVEL_WORKFLOWS)


@dataclass(frozen=True, slots=True)
class Candidates:
    """The texts a role may output (padded with masked slots) and one feature row per slot."""

    texts: tuple[str, ...]
    mask: np.ndarray
    features: np.ndarray


class CandidateGenerator:
    """Makes the candidates of the acting role from its observation (see the module docstring)."""

    def __init__(self, allow_ds: bool = True) -> None:
        self.allow_ds = allow_ds
        self.rewriter, self.selector = QueryRewriter(), DocumentSelector()
        self.generator, self.summariser = AnswerGenerator(), AnswerSummariser()

    def texts(self, role: str, obs: dict[str, str]) -> list[str]:
        f = fields_of(obs)
        question = obs["question"]
        docs = f.get("documents", [])
        if role == "planner":
            allowed = set(f.get("modules", [])) or {"QR", "QDS", "QDP", "R", "DS", "AG"}
            out = []
            for w in WORKFLOW_TEXTS:
                modules = set(w.split(","))
                if modules <= allowed and (self.allow_ds or "DS" not in modules):
                    out.append(f"<workflow>{w}</workflow>")
            return out
        if role in ("qds", "qdp"):
            subs = split_question(question, serial=role == "qds")
            options = [subs, list(reversed(subs)) if len(subs) > 1 else [], [f"What is known about {question.rstrip('?')}?"]]
            return ["".join(f"<q{i}>{s}</q{i}>" for i, s in enumerate(o, start=1)) for o in options if o]
        if role == "qr":
            history = f.get("history", [])
            options = [self.rewriter.rewrite(question, history), self.rewriter.resolve(question, history),
                       " ".join(entity_spans(question)) or question + " information"]
            return [f"<query>{o}</query>" for o in dict.fromkeys(options) if o.strip()]
        if role == "ds":
            n = len(docs)
            rule = self.selector.select(question, docs)
            options = [list(range(n)), rule, list(range(min(1, n))), list(range(min(2, n))), list(range(min(3, n))), []]
            unique = list(dict.fromkeys(tuple(o) for o in options))
            return ["<id>" + ",".join(f"Document{i}" for i in o) + "</id>" for o in unique]
        if role == "ag":
            return [f"<answer>{a}</answer>" for a in self.answers(question, docs)]
        if role == "agent":  # monolithic: search (while turns remain) or answer from what was found
            out = []
            if f.get("turn", 0) < f.get("max_turns", 4) - 1:
                query = self.rewriter.rewrite(question, [])
                out += [f"<search>{q}</search>" for q in dict.fromkeys([query, " ".join(entity_spans(question)) or query])]
            if docs:
                out += [f"<answer>{a}</answer>" for a in self.answers(question, docs, limit=N_CANDIDATES - len(out))]
            return out or [f"<answer>{self.generator.answer(question, docs)}</answer>"]
        if role == "as":
            pairs = f.get("history", [])
            options = [self.summariser.summarise(f.get("original_question", question), pairs)] + [a for _, a in pairs]
            return [f"<answer>{a}</answer>" for a in dict.fromkeys(o for o in options if o)]
        return []

    def answers(self, question: str, docs: list[dict], limit: int = N_CANDIDATES) -> list[str]:
        """The scripted extractor's answer first, then other spans of the best sentences."""
        first = self.generator.answer(question, docs)
        spans = [first]
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
        texts = self.texts(role, obs)[:N_CANDIDATES] or ["<answer>unknown</answer>"]
        q_words = set(content_words(obs["question"]))
        doc_words = set(content_words(" ".join(d.get("text", "") for d in fields_of(obs).get("documents", []))))
        features = np.zeros((N_CANDIDATES, CANDIDATE_FEATURES), dtype=np.float32)
        for i, text in enumerate(texts):
            words = set(content_words(text))
            features[i] = [1.0, i / N_CANDIDATES, min(len(text), 400) / 400, len(words & q_words) / max(len(words), 1),
                           len(words & doc_words) / max(len(words), 1), float(i == 0)]
        mask = np.zeros(N_CANDIDATES, dtype=bool)
        mask[: len(texts)] = True
        padded = tuple(texts) + ("",) * (N_CANDIDATES - len(texts))
        return Candidates(padded, mask, features)


#: the roles a compact policy can play: the team's, and the monolithic paradigm's single ``agent``
ROLE_SLOTS: tuple[str, ...] = (*ROLES, "agent")
ROLE_INDEX = {r: i for i, r in enumerate(ROLE_SLOTS)}
