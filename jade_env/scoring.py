"""The one scorer of jade_env, used by the rewards, ``jade-rag evaluate``/``score`` and the leaderboard.

Per question (:func:`score_answer`), against every gold alias, taking the maximum:

* ``em``: the SQuAD-normalised prediction equals the normalised gold.
* ``f1``, ``precision``, ``recall``: token overlap of the normalised strings, with the rule of the
  official HotpotQA script: when either normalised side is ``yes``, ``no`` or ``noanswer`` and the
  two differ, all three are 0. ``precision`` and ``recall`` are those of the alias with the best F1
  (the first such alias on ties), so the three numbers always belong together.
* ``sub_em``: a normalised gold is contained in the normalised prediction (FlashRAG's ``acc``;
  plain substring containment, as FlashRAG does it).

Normalisation (:func:`normalize_answer`) is SQuAD's: lower case, remove ASCII punctuation, remove
the articles a/an/the, squeeze white space.

Corpus level (:func:`score_corpus`): means over every gold question. A gold question without a
prediction scores 0 on every metric, as in the official HotpotQA and SQuAD scripts; predictions
for ids not in the gold set are counted (``n_extra``) and ignored.

Variants (``variant=``), each named for what it reproduces; ``hotpotqa`` is the default:

========================  ========================================================================
``hotpotqa``              the official HotpotQA answer metrics (``hotpot_evaluate_v1.py``), with
                          the maximum over aliases.
``squad``                 the official SQuAD v1.1 script (``evaluate-v1.1.py``): no yes/no rule.
``jade_authors``          the JADE authors' averaging: questions whose gold answer is yes or no
                          are left out of the F1, precision and recall means (they count in EM and
                          sub_em). ``n_f1`` says how many questions the F1 mean is over. Use it only
                          to compare with numbers reported that way; it is never the default.
========================  ========================================================================

Values are fractions in [0, 1]; multiply by 100 for the percentages papers print.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from jade_env.records import Record
from jade_env.records import set_field as _set

VARIANTS: tuple[str, ...] = ("hotpotqa", "squad", "jade_authors")
METRICS: tuple[str, ...] = ("em", "f1", "precision", "recall", "sub_em")
YES_NO_NOANSWER = frozenset({"yes", "no", "noanswer"})

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT_TABLE = str.maketrans("", "", string.punctuation)


@lru_cache(maxsize=65536)
def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation, drop articles, squeeze white space."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT_TABLE)).split())


class AnswerScore(Record):
    """The metrics of one prediction against its gold aliases (a frozen record: :mod:`jade_env.records`)."""

    __slots__ = ("em", "f1", "precision", "recall", "sub_em")
    em: float
    f1: float
    precision: float
    recall: float
    sub_em: float

    def __init__(self, em: float, f1: float, precision: float, recall: float, sub_em: float) -> None:
        _set(self, "em", em)
        _set(self, "f1", f1)
        _set(self, "precision", precision)
        _set(self, "recall", recall)
        _set(self, "sub_em", sub_em)

    def as_dict(self) -> dict[str, float]:
        return {"em": self.em, "f1": self.f1, "precision": self.precision, "recall": self.recall, "sub_em": self.sub_em}


ZERO = AnswerScore(0.0, 0.0, 0.0, 0.0, 0.0)


@lru_cache(maxsize=65536)
def _f1_precision_recall(pred: str, gold: str, yes_no_rule: bool) -> tuple[float, float, float]:
    """F1, precision and recall of two *normalised* strings (a pure function: kept for the pairs seen again)."""
    if yes_no_rule and pred != gold and (pred in YES_NO_NOANSWER or gold in YES_NO_NOANSWER):
        return 0.0, 0.0, 0.0
    pred_tokens = pred.split()
    gold_tokens = gold.split()
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0, 0.0, 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall), precision, recall


def score_answer(prediction: str, golds: str | Sequence[str], variant: str = "hotpotqa") -> AnswerScore:
    """Score one prediction against one gold answer or a list of aliases (the maximum over them)."""
    _check_variant(variant)
    if isinstance(golds, str):
        golds = (golds,)
    if not golds:
        raise ValueError("score_answer: the gold answer list is empty; expected at least one gold answer")
    pred = normalize_answer(prediction)
    yes_no_rule = variant != "squad"
    em = sub = 0.0
    best = (-1.0, 0.0, 0.0)
    for gold_text in golds:
        gold = normalize_answer(gold_text)
        if pred == gold:
            em = 1.0
        if gold in pred:
            sub = 1.0
        f1pr = _f1_precision_recall(pred, gold, yes_no_rule)
        if f1pr[0] > best[0]:
            best = f1pr
    return AnswerScore(em=em, f1=best[0], precision=best[1], recall=best[2], sub_em=sub)


def exact_match(prediction: str, golds: str | Sequence[str]) -> float:
    """EM against one gold answer or the best of several aliases."""
    return score_answer(prediction, golds).em


def f1(prediction: str, golds: str | Sequence[str], variant: str = "hotpotqa") -> float:
    """F1 against one gold answer or the best of several aliases (HotpotQA's yes/no rule by default)."""
    return score_answer(prediction, golds, variant).f1


def sub_em(prediction: str, golds: str | Sequence[str]) -> float:
    """1.0 when a normalised gold answer is contained in the normalised prediction."""
    return score_answer(prediction, golds).sub_em


def is_yes_no(golds: str | Sequence[str]) -> bool:
    """True when the (first) gold answer normalises to ``yes`` or ``no``."""
    first = golds if isinstance(golds, str) else golds[0]
    return normalize_answer(first) in ("yes", "no")


def supporting_title_recall(gold_titles: Iterable[str], retrieved_titles: Iterable[str]) -> float | None:
    """Share of the distinct gold supporting titles that were retrieved; None when there are none."""
    gold = set(gold_titles)
    if not gold:
        return None
    return len(gold & set(retrieved_titles)) / len(gold)


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown scoring variant {variant!r}; expected one of {', '.join(VARIANTS)}")


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def score_corpus(
    golds: Mapping[str, Sequence[str]],
    predictions: Mapping[str, str],
    *,
    variant: str = "hotpotqa",
    costs: Mapping[str, Mapping[str, float]] | None = None,
    supporting_titles: Mapping[str, Sequence[str]] | None = None,
    retrieved_titles: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, float | int | str]:
    """Corpus-level scores of ``predictions`` (id -> text) against ``golds`` (id -> aliases).

    Returns the means of :data:`METRICS` over every gold id (a missing prediction scores 0), ``n``,
    ``n_missing``, ``n_extra`` (predicted ids not in the gold, ignored) and ``variant``. With
    ``costs`` (id -> {counter: value}), adds the mean of each counter as ``<counter>_mean`` over the
    questions that report it. With ``supporting_titles`` and ``retrieved_titles`` (id -> titles),
    adds ``supporting_title_recall``, the mean over questions with gold supporting titles, and
    ``n_supporting``. Under ``variant="jade_authors"`` F1, precision and recall are averaged over the
    ``n_f1`` questions whose gold answer is not yes/no.
    """
    _check_variant(variant)
    per_metric: dict[str, list[float]] = {m: [] for m in METRICS}
    f1_values: dict[str, list[float]] = {m: [] for m in ("f1", "precision", "recall")}
    n_missing = 0
    for qid, aliases in golds.items():
        pred = predictions.get(qid)
        if pred is None:
            n_missing += 1
            s = ZERO
        else:
            s = score_answer(pred, aliases, variant)
        for m in METRICS:
            per_metric[m].append(getattr(s, m))
        if variant != "jade_authors" or not is_yes_no(aliases):
            for m in f1_values:
                f1_values[m].append(getattr(s, m))
    result: dict[str, float | int | str] = {m: _mean(per_metric[m]) for m in METRICS}
    if variant == "jade_authors":
        result.update({m: _mean(v) for m, v in f1_values.items()})
        result["n_f1"] = len(f1_values["f1"])
    result["n"] = len(golds)
    result["n_missing"] = n_missing
    result["n_extra"] = sum(1 for qid in predictions if qid not in golds)
    result["variant"] = variant
    if costs:
        counters: dict[str, list[float]] = {}
        for qid in golds:
            for name, value in costs.get(qid, {}).items():
                counters.setdefault(name, []).append(float(value))
        for name in sorted(counters):
            result[f"{name}_mean"] = _mean(counters[name])
    if supporting_titles is not None and retrieved_titles is not None:
        recalls = [
            r
            for qid in golds
            if (r := supporting_title_recall(supporting_titles.get(qid, ()), retrieved_titles.get(qid, ()))) is not None
        ]
        result["supporting_title_recall"] = _mean(recalls)
        result["n_supporting"] = len(recalls)
    return result
