"""Frozen executor specs: each role's behaviour as a choice among that role's candidates.

A spec picks, for every role, one of the candidates of :mod:`baselines.candidates` by kind, so whatever a
frozen executor does, a trained policy could do too: the frozen arm's choices lie inside the joint arm's
action set. Specs (``--spec`` of ``jade-rag train`` and ``jade-rag ablate``):

==================  ==============================================================================================
``matched``         the scripted team: rule plan (QDS for bridges, QDP for comparisons, else R,AG), the fine split,
                    QR fills ``#k`` with the answers found, the rule document selection, the scripted extractor and
                    summariser. Its decomposer and rewriter are made for each other.
``mismatched-qr``   ``matched``, but the serial QR ignores the answers found: it writes a keyword query of the
                    sub-question as written (``Where was #1 born?`` -> ``born``), so a serial decomposition cannot
                    reach the second hop unless QR changes
``mismatched-qds``  ``matched``, but the decomposer splits coarsely: composite attributes are not split into links
                    (``In which country was #1 born?`` stays one sub-question), so three-hop questions fail unless
                    QDS changes
``mismatched-ds``   ``matched``, but DS keeps only the top document and AG answers from the first document it is
                    given (a distractible reader): a near-namesake ranked first wins
==================  ==============================================================================================

:class:`SpecExecutor` plays a spec as the frozen executors of an env (``gym.make(..., executor=...)``):
while training it explores, taking a uniformly random candidate with probability ``epsilon`` (seeded);
with ``epsilon=0`` it is deterministic (evaluation). :func:`soft_targets` gives the same behaviour as a
distribution over candidates, for behaviour cloning.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from baselines.candidates import CandidateGenerator, Candidates
from jade_env.errors import JadeError
from jade_env.executors.decomposer import split_question
from jade_env.roles.prompts import fields_of

#: role -> the candidate kinds a spec prefers, in order (``qr`` has one list for serial sub-questions, one otherwise)
Preferences = dict[str, tuple[str, ...]]

MATCHED: Preferences = {
    "qds": ("qd:fine",), "qdp": ("qd:fine",), "qr": ("qr:keywords",), "qr-serial": ("qr:fill",), "ds": ("ds:rule",),
    "ag": ("ag:best",), "as": ("as:summary",), "agent": ("agent:search", "agent:answer"),
}
SPECS: dict[str, Preferences] = {
    "matched": MATCHED,
    "mismatched-qr": {**MATCHED, "qr-serial": ("qr:raw",)},
    "mismatched-qds": {**MATCHED, "qds": ("qd:coarse",), "qdp": ("qd:coarse",)},
    "mismatched-ds": {**MATCHED, "ds": ("ds:top1",), "ag": ("ag:first-doc",)},
}


def rule_plan(question: str, depth: int) -> str:
    """The scripted planner's workflow: QDS for a bridge, QDP for a comparison, R,AG otherwise and below the top."""
    if depth > 0:
        return "wf:R,AG"
    subs = split_question(question, serial=True)
    if len(subs) >= 2:
        return "wf:QDS" if any("#" in s for s in subs) else "wf:QDP"
    return "wf:R,AG"


@dataclass
class ExecutorSpec:
    """A named spec: which candidate each role picks (see the module docstring)."""

    name: str
    preferences: Preferences = field(repr=False)

    @classmethod
    def named(cls, name: str) -> ExecutorSpec:
        if name not in SPECS:
            raise JadeError(f"unknown executor spec {name!r}; expected one of {', '.join(SPECS)}")
        return cls(name, SPECS[name])

    def choose(self, role: str, obs: dict[str, str], candidates: Candidates) -> int:
        """The index of the spec's candidate for ``role`` in this observation."""
        fields = fields_of(obs)
        if role == "planner":
            return candidates.index_of((rule_plan(obs["question"], fields.get("depth", 0)), "wf:R,AG"))
        if role == "qr" and fields.get("history"):
            return candidates.index_of(self.preferences["qr-serial"])
        if role == "agent" and fields.get("documents"):
            return candidates.index_of(("agent:answer",))
        return candidates.index_of(self.preferences.get(role, ()))

    def soft_targets(self, role: str, obs: dict[str, str], candidates: Candidates, epsilon: float,
                     planner: str = "uniform") -> np.ndarray:
        """The spec's choice with probability ``1 - epsilon``, plus ``epsilon`` spread over every valid candidate.

        ``planner="uniform"``: the planner's target is uniform over its choices (a start that knows no plan, which
        both arms must learn); ``"rule"``: the scripted planner's choice, as for the executors.
        """
        valid = candidates.mask.astype(np.float64)
        if role == "planner" and planner == "uniform":
            return valid / valid.sum()
        target = epsilon * valid / valid.sum()
        target[self.choose(role, obs, candidates)] += 1.0 - epsilon
        return target


class SpecExecutor:
    """A spec as an env's frozen executors: ``act(role, observation) -> str``, exploring with ``epsilon`` (seeded)."""

    def __init__(self, spec: str | ExecutorSpec, epsilon: float = 0.0, seed: int = 0, allow_ds: bool = True) -> None:
        self.spec = spec if isinstance(spec, ExecutorSpec) else ExecutorSpec.named(spec)
        if not 0.0 <= epsilon <= 1.0:
            raise JadeError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon, self.rng = epsilon, random.Random(seed)
        self.generator = CandidateGenerator(allow_ds=allow_ds)

    def act(self, role: str, observation: dict[str, str]) -> str:
        candidates = self.generator(role, observation)
        if self.epsilon and self.rng.random() < self.epsilon:
            return candidates.texts[self.rng.choice(np.flatnonzero(candidates.mask).tolist())]
        return candidates.texts[self.spec.choose(role, observation, candidates)]
