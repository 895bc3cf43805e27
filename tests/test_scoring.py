"""The one scorer: every rule on hand-written cases, and on the real HotpotQA dev file."""

from __future__ import annotations

import json
import math

import pytest

from jade_env.scoring import (
    AnswerScore,
    exact_match,
    f1,
    normalize_answer,
    score_answer,
    score_corpus,
    sub_em,
    supporting_title_recall,
)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("The Beatles", "beatles"),
        ("  A   man, a plan; a canal: Panama! ", "man plan canal panama"),
        ("an Apple", "apple"),
        ("Theatre", "theatre"),  # "the" only as a whole word
        ("U.S.A.", "usa"),
        ("Yes.", "yes"),
        ("", ""),
        ("Café «Noir»", "café «noir»"),  # only ASCII punctuation is removed, as in SQuAD
        ("A\tB\nC", "b c"),
    ],
)
def test_normalize_answer(raw: str, normalised: str) -> None:
    assert normalize_answer(raw) == normalised


def test_exact_match_after_normalisation() -> None:
    assert exact_match("the Eiffel Tower.", "Eiffel tower") == 1.0
    assert exact_match("Eiffel", "Eiffel Tower") == 0.0
    assert exact_match("", "") == 1.0


def test_f1_precision_recall_by_hand() -> None:
    # pred tokens: english novelist jane austen (4), gold: jane austen (2); common 2
    s = score_answer("the English novelist Jane Austen", "Jane Austen")
    assert s.precision == pytest.approx(0.5)
    assert s.recall == pytest.approx(1.0)
    assert s.f1 == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert s.em == 0.0
    assert s.sub_em == 1.0


def test_f1_counts_repeated_tokens_once_per_match() -> None:
    # pred "new new york" vs gold "new york": common = min counts = {new: 1, york: 1} = 2
    s = score_answer("new new york", "new york")
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("pred", "gold", "expected_f1"),
    [
        ("yes", "no", 0.0),
        ("yes it is", "yes", 0.0),  # gold is yes, prediction differs: 0 (HotpotQA rule)
        ("no", "no doubt about it", 0.0),  # prediction is no, gold differs: 0
        ("noanswer", "no answer given", 0.0),
        ("Yes.", "yes", 1.0),
        ("no", "No", 1.0),
    ],
)
def test_hotpotqa_yes_no_rule(pred: str, gold: str, expected_f1: float) -> None:
    assert f1(pred, gold) == expected_f1


def test_squad_variant_has_no_yes_no_rule() -> None:
    assert f1("yes it is", "yes", variant="squad") == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))
    assert f1("yes it is", "yes", variant="hotpotqa") == 0.0


def test_sub_em_is_substring_of_normalised_strings() -> None:
    assert sub_em("He was born in Paris, France", "Paris") == 1.0
    assert sub_em("Parisian", "Paris") == 1.0  # plain containment, as FlashRAG's acc
    assert sub_em("Lyon", "Paris") == 0.0


def test_max_over_aliases_and_consistent_precision_recall() -> None:
    golds = ["United States of America", "USA", "US"]
    s = score_answer("the USA", golds)
    assert s.em == 1.0 and s.f1 == 1.0 and s.precision == 1.0 and s.recall == 1.0
    # the best-F1 alias gives precision and recall together
    s = score_answer("United States", ["United States of America", "States"])
    assert s.f1 == pytest.approx(max(2 * 1 * 0.5 / 1.5, 2 * 0.5 * 1 / 1.5))
    assert (s.precision, s.recall) == (pytest.approx(1.0), pytest.approx(0.5))


def test_empty_prediction_and_empty_gold_list() -> None:
    assert score_answer("", "Paris") == AnswerScore(0.0, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="gold answer list is empty"):
        score_answer("x", [])
    with pytest.raises(ValueError, match="unknown scoring variant"):
        score_answer("x", "x", variant="official")


def test_score_corpus_missing_and_extra_ids() -> None:
    golds = {"a": ["Paris"], "b": ["yes"], "c": ["Jane Austen"]}
    preds = {"a": "Paris", "b": "no", "zzz": "whatever"}
    r = score_corpus(golds, preds)
    assert r["em"] == pytest.approx(1 / 3)
    assert r["f1"] == pytest.approx(1 / 3)
    assert (r["n"], r["n_missing"], r["n_extra"]) == (3, 1, 1)
    assert r["variant"] == "hotpotqa"


def test_jade_authors_variant_excludes_yes_no_gold_from_f1_mean() -> None:
    golds = {"a": ["Paris"], "b": ["yes"], "c": ["Jane Austen"], "d": ["no"]}
    preds = {"a": "Paris", "b": "yes", "c": "Austen", "d": "yes"}
    default = score_corpus(golds, preds)
    authors = score_corpus(golds, preds, variant="jade_authors")
    # default: F1 over all four questions: 1, 1, 2/3, 0
    assert default["f1"] == pytest.approx((1 + 1 + 2 / 3 + 0) / 4)
    # authors: F1 over the two non-yes/no questions only; EM still over all four
    assert authors["f1"] == pytest.approx((1 + 2 / 3) / 2)
    assert authors["n_f1"] == 2
    assert authors["em"] == default["em"] == pytest.approx(2 / 4)
    assert "n_f1" not in default


def test_cost_means_and_supporting_title_recall() -> None:
    golds = {"a": ["x"], "b": ["y"]}
    r = score_corpus(
        golds,
        {"a": "x", "b": "y"},
        costs={"a": {"rounds": 1, "retrieval_calls": 2}, "b": {"rounds": 3}},
        supporting_titles={"a": ["T1", "T2"], "b": []},
        retrieved_titles={"a": ["T1", "T9"], "b": ["T3"]},
    )
    assert r["rounds_mean"] == pytest.approx(2.0)
    assert r["retrieval_calls_mean"] == pytest.approx(2.0)
    assert r["supporting_title_recall"] == pytest.approx(0.5)
    assert r["n_supporting"] == 1
    assert supporting_title_recall([], ["a"]) is None
    assert supporting_title_recall(["a", "a", "b"], ["a"]) == 0.5


def test_real_hotpotqa_dev_gold_as_prediction_scores_one(shared_data) -> None:
    gold = json.loads((shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json").read_text())
    golds = {d["_id"]: [d["answer"]] for d in gold}
    r = score_corpus(golds, {d["_id"]: d["answer"] for d in gold})
    assert len(golds) == 103
    assert all(r[m] == 1.0 for m in ("em", "f1", "precision", "recall", "sub_em"))


def test_real_hotpotqa_dev_perturbed_predictions(shared_data) -> None:
    gold = json.loads((shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json").read_text())
    golds = {d["_id"]: [d["answer"]] for d in gold}
    n = len(gold)
    yes_no = [d for d in gold if normalize_answer(d["answer"]) in ("yes", "no")]
    assert 0 < len(yes_no) < n
    # 1. every answer flipped to "yes": right exactly on the yes-gold questions
    r = score_corpus(golds, {d["_id"]: "yes" for d in gold})
    n_yes = sum(normalize_answer(d["answer"]) == "yes" for d in gold)
    assert r["em"] == pytest.approx(n_yes / n) and r["f1"] == pytest.approx(n_yes / n)
    # 2. every answer padded with two extra words: EM 0 except none; F1 per question 2t/(2t+2)
    padded = {d["_id"]: d["answer"] + " extra words" for d in gold}
    r = score_corpus(golds, padded)
    expected = []
    for d in gold:
        t = len(normalize_answer(d["answer"]).split())
        if normalize_answer(d["answer"]) in ("yes", "no") or t == 0:
            expected.append(0.0)
        else:
            p, rc = t / (t + 2), 1.0
            expected.append(2 * p * rc / (p + rc))
    assert r["em"] == 0.0
    assert math.isclose(r["f1"], sum(expected) / n, abs_tol=1e-12)
    assert r["sub_em"] == pytest.approx(1.0)
    # 3. only the first half answered: the rest score 0
    half = {d["_id"]: d["answer"] for d in gold[: n // 2]}
    r = score_corpus(golds, half)
    assert r["em"] == pytest.approx((n // 2) / n) and r["n_missing"] == n - n // 2
