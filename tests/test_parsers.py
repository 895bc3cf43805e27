"""One parser per tag: every validity rule of docs/environment.md ("Roles"), strict and lenient, and junk that never raises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jade_env.roles.ids import SUB_MODULES, TOP_LEVEL_WORKFLOWS
from jade_env.roles.parsers import (
    MAX_OUTPUT_CHARS,
    parse_answer,
    parse_doc_ids,
    parse_query,
    parse_search_turn,
    parse_subquestions,
    parse_workflow,
)


@pytest.mark.parametrize("workflow", TOP_LEVEL_WORKFLOWS)
def test_the_eight_top_level_workflows_are_valid(workflow: tuple[str, ...]) -> None:
    parsed = parse_workflow(f"<workflow>{','.join(workflow)}</workflow>")
    assert parsed.valid and parsed.value == workflow


def test_exactly_eight_workflows_are_valid_among_all_orderings() -> None:
    from itertools import permutations

    codes = ("QR", "QDS", "QDP", "R", "DS", "AG")
    valid = set()
    for n in range(1, 7):
        for combo in permutations(codes, n):
            if parse_workflow(f"<workflow>{','.join(combo)}</workflow>").valid:
                valid.add(combo)
    assert valid == set(TOP_LEVEL_WORKFLOWS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<workflow>R,AG,R</workflow>", "twice"),
        ("<workflow>QDS,AG</workflow>", "stand alone"),
        ("<workflow>AG,R</workflow>", "out of order"),
        ("<workflow>R</workflow>", "end in AG"),
        ("<workflow>DS,AG</workflow>", "DS needs R"),
        ("<workflow>XX,AG</workflow>", "unknown module"),
        ("<workflow></workflow>", "empty workflow"),
        ("R,AG", "no complete <workflow>"),
        ("Plan: <workflow>R,AG</workflow>", "outside the tag"),
        ("<workflow>R,AG</workflow><workflow>AG</workflow>", "nested or repeated"),
        ("<workflow>r,ag</workflow>", "unknown module"),
        ("<workflow><workflow>AG</workflow>", "nested or repeated"),
    ],
)
def test_invalid_workflows_say_why(text: str, message: str) -> None:
    parsed = parse_workflow(text)
    assert not parsed.valid and parsed.value is None and message in parsed.message


def test_sub_question_planner_may_not_decompose() -> None:
    parsed = parse_workflow("<workflow>QDS</workflow>", allowed=SUB_MODULES)
    assert not parsed.valid and "not allowed here" in parsed.message
    assert parse_workflow("<workflow>QR,R,AG</workflow>", allowed=SUB_MODULES).valid


def test_lenient_mode_takes_the_first_tag() -> None:
    text = "I think <workflow>r, ag</workflow> and then <workflow>AG</workflow>"
    assert not parse_workflow(text).valid
    lenient = parse_workflow(text, strict=False)
    assert lenient.valid and lenient.value == ("R", "AG")


def test_subquestions() -> None:
    q = "Who directed the film whose star was born in Rome?"
    ok = parse_subquestions(" <q1>Which star was born in Rome?</q1>\n<q2>Which film starred #1?</q2> ", question=q)
    assert ok.valid and ok.value == ("Which star was born in Rome?", "Which film starred #1?")
    cases = [
        ("<q1>a</q1><q3>b</q3>", "without gaps"),
        ("<q2>a</q2>", "without gaps"),
        ("<q1>a</q1><q2>a</q2>", "the same"),
        (f"<q1>{q}</q1>", "repeats the question"),
        ("<q1> </q1>", "is empty"),
        ("<q1>a</q1> extra", "outside the tags"),
        ("".join(f"<q{i}>s{i}</q{i}>" for i in range(1, 6)), "at most 4"),
        ("no tags", "no complete <qN>"),
        ("<q1>a</q2>", "no complete <qN>"),
    ]
    for text, message in cases:
        parsed = parse_subquestions(text, question=q)
        assert not parsed.valid and message in parsed.message, (text, parsed)
    fifty = "".join(f"<q{i}>sub {i}</q{i}>" for i in range(1, 51))
    assert "at most 4" in parse_subquestions(fifty, question=q).message
    assert "at most 4" in parse_subquestions("junk " + fifty, question=q, strict=False).message


def test_query() -> None:
    q = "Where was Ada Lovelace born?"
    assert parse_query("<query>Ada Lovelace birthplace</query>", input_question=q).value == "Ada Lovelace birthplace"
    assert "repeats the input" in parse_query(f"<query> {q.upper()} </query>", input_question=q).message
    assert "empty query" in parse_query("<query>  </query>", input_question=q).message
    assert "at most 100" in parse_query("<query>" + "word " * 101 + "</query>", input_question=q).message


def test_doc_ids() -> None:
    assert parse_doc_ids("<id>Document0,Document3</id>", n_documents=5).value == (0, 3)
    assert parse_doc_ids("<id>Document4, Document1</id>", n_documents=5).value == (4, 1)
    assert parse_doc_ids("<id></id>", n_documents=5).value == ()
    assert "does not exist" in parse_doc_ids("<id>Document5</id>", n_documents=5).message
    assert "twice" in parse_doc_ids("<id>Document1,Document1</id>", n_documents=5).message
    assert "not a document id" in parse_doc_ids("<id>Doc1</id>", n_documents=5).message
    assert "not a document id" in parse_doc_ids("<id>Document-1</id>", n_documents=5).message


def test_answer() -> None:
    assert parse_answer("<answer> Jane   Austen </answer>").value == "Jane Austen"
    assert "empty answer" in parse_answer("<answer></answer>").message
    assert "at most 40" in parse_answer("<answer>" + "w " * 41 + "</answer>").message
    assert not parse_answer("The answer is <answer>x</answer>").valid
    assert parse_answer("The answer is <answer>x</answer>", strict=False).value == "x"


def test_search_turn() -> None:
    """A monolithic turn: reasoning, then one element that ends it (strict); lenient takes the first element."""
    assert parse_search_turn("I should look it up. <search> born  where </search>\n").value == ("search", "born where")
    assert parse_search_turn("<answer>Paris</answer>").value == ("answer", "Paris")
    assert "text after </search>" in parse_search_turn("<search>born</search> trailing text").message
    assert "text after </answer>" in parse_search_turn("<answer>x</answer>.").message
    assert parse_search_turn("<search>born</search> trailing text", strict=False).value == ("search", "born")
    assert "exactly one" in parse_search_turn("<search>a</search><answer>b</answer>").message


def test_megabyte_output_is_invalid_without_scanning() -> None:
    big = "<answer>" + "a" * 1_000_000 + "</answer>"
    for parsed in (parse_answer(big), parse_workflow(big), parse_query(big, input_question="q"),
                   parse_doc_ids(big, n_documents=5), parse_subquestions(big, question="q")):
        assert not parsed.valid and f"at most {MAX_OUTPUT_CHARS}" in parsed.message


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_no_parser_raises_on_arbitrary_text(text: str) -> None:
    for strict in (True, False):
        for parsed in (
            parse_workflow(text, strict=strict),
            parse_subquestions(text, question="q?", strict=strict),
            parse_query(text, input_question="q?", strict=strict),
            parse_doc_ids(text, n_documents=3, strict=strict),
            parse_answer(text, strict=strict),
        ):
            assert parsed.valid or parsed.message
