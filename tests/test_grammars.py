"""Per-role output grammars: every sampled output parses valid, and the grammar and the parser agree.

Samples are drawn from each grammar (at real observations of the Synthetic and HotpotQA envs, and at
edge cases) and parsed, strict and lenient; the regex and (when installed) xgrammar's GBNF and regex
engines must accept each one. Perturbed copies of the question check that a query or sub-question is in
the grammar exactly when the parser accepts it.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import jade_env  # noqa: F401
from jade_env.roles.grammars import (
    OutputGrammar,
    answer_grammar,
    doc_ids_grammar,
    output_grammar,
    query_grammar,
    subquestion_step_grammar,
    subquestions_grammar,
    valid_workflows,
    workflow_grammar,
)
from jade_env.roles.ids import MODULE_CODES, SUB_MODULES, TOP_LEVEL_WORKFLOWS
from jade_env.roles.parsers import MAX_ANSWER_WORDS, parse_answer, parse_doc_ids, parse_query, parse_subquestions, parse_workflow

QUESTIONS = [
    "Who directed the film Mira Vale?",
    "Which American actor, who starred in the 1990s sitcom set in a New York coffee shop, was born in the same year as Tomas Arlen?",
    "Is Straße longer than the Kelvin street?",  # multi-character and non-trivial case foldings
    "What is 3 < 4?",  # a character that may not appear inside a tag
    "a",
]


def parse(grammar: OutputGrammar, text: str, context: dict, strict: bool = True):
    role = grammar.role
    if role == "planner":
        return parse_workflow(text, allowed=context.get("allowed"), strict=strict)
    if role in ("qds", "qdp"):
        return parse_subquestions(text, question=context["question"], max_subquestions=context["max_subquestions"], strict=strict)
    if role == "qr":
        return parse_query(text, input_question=context["question"], strict=strict)
    if role == "ds":
        return parse_doc_ids(text, n_documents=context["n_documents"], strict=strict)
    return parse_answer(text, strict=strict)


def grammars_and_contexts():
    cases = []
    for allowed in (frozenset(MODULE_CODES), SUB_MODULES):
        cases.append((workflow_grammar(allowed), {"allowed": allowed}))
    for q in QUESTIONS:
        cases.append((query_grammar(q), {"question": q}))
        cases.append((subquestions_grammar("qds", q, 4), {"question": q, "max_subquestions": 4}))
        cases.append((subquestions_grammar("qdp", q, 1), {"question": q, "max_subquestions": 1}))
    for n in (0, 1, 5, 12):
        cases.append((doc_ids_grammar(n), {"n_documents": n}))
    cases.append((answer_grammar("ag"), {}))
    cases.append((answer_grammar("as"), {}))
    return cases


CASES = grammars_and_contexts()


@pytest.mark.parametrize(("grammar", "context"), CASES, ids=[f"{g.role}-{i}" for i, (g, _) in enumerate(CASES)])
def test_every_sample_parses_valid_and_matches_the_regex(grammar: OutputGrammar, context: dict) -> None:
    rng = random.Random(7)
    for _ in range(300):
        text = grammar.sample(rng, max_extra=rng.choice([1, 3, 12]))
        assert grammar.matches(text), text
        for strict in (True, False):
            parsed = parse(grammar, text, context, strict)
            if grammar.complete or "two sub-questions are the same" not in parsed.message:
                assert parsed.valid, (text, parsed.message)


def test_the_grammars_use_the_tags_the_parsers_extract() -> None:
    from jade_env.roles import parsers

    assert set(parsers.ROLE_TAGS.values()) <= set(parsers._TAGS)
    for role, tag in parsers.ROLE_TAGS.items():
        grammar = answer_grammar(role) if role in ("ag", "as") else output_grammar({"role": role, "question": "q", "fields": "{}"})
        assert grammar.prefix == f"<{tag}>" and grammar.closing == f"</{tag}>"
    assert parsers._Q_TAG.fullmatch("<q3>x</q3>") and parsers._DOC_ID.fullmatch(parsers.DOCUMENT_ID_PREFIX + "7")


def test_the_planner_grammar_is_exactly_the_parsers_workflows() -> None:
    assert set(valid_workflows(frozenset(MODULE_CODES))) == set(TOP_LEVEL_WORKFLOWS)
    sub = set(valid_workflows(SUB_MODULES))
    assert len(sub) == 6 and all("QDS" not in w and "QDP" not in w for w in sub)
    top = workflow_grammar(MODULE_CODES)
    below = workflow_grammar(SUB_MODULES)
    assert top.matches("<workflow>QDS</workflow>") and not below.matches("<workflow>QDS</workflow>")
    for bad in ("<workflow>AG,R</workflow>", "<workflow>R, AG</workflow>", "<workflow></workflow>", "<workflow>DS,AG</workflow>"):
        assert not top.matches(bad)


def _perturbations(question: str, rng: random.Random) -> list[str]:
    words = question.split()
    out = [question, question.upper(), question.lower(), question.swapcase(), question + " again", question[:-1],
           " ".join(words[:-1]), " ".join(words[1:]), question + "s", question.replace(words[0], words[0] + "x")]
    for _ in range(40):
        w = list(words)
        i = rng.randrange(len(w))
        op = rng.choice(["drop", "case", "char", "dup", "swap"])
        if op == "drop" and len(w) > 1:
            w.pop(i)
        elif op == "case":
            w[i] = w[i].upper() if rng.random() < 0.5 else w[i].capitalize()
        elif op == "char":
            j = rng.randrange(len(w[i]))
            w[i] = w[i][:j] + rng.choice("aeiouXYZ?") + w[i][j + 1:]
        elif op == "dup":
            w.insert(i, w[i])
        elif op == "swap" and len(w) > 1:
            j = rng.randrange(len(w))
            w[i], w[j] = w[j], w[i]
        out.append(" ".join(w))
    return out


@pytest.mark.parametrize("question", QUESTIONS)
def test_query_grammar_agrees_with_the_parser_on_canonical_texts(question: str) -> None:
    grammar = query_grammar(question)
    rng = random.Random(1)
    special = {"Straße": ["STRASSE", "strasse", "STRAßE"], "Kelvin": ["\u212aelvin", "KELVIN"]}
    extra = [question.replace(k, v) for k, vs in special.items() if k in question for v in vs]
    for text in _perturbations(question, rng) + extra:
        tagged = f"<query>{text}</query>"
        valid = parse_query(tagged, input_question=question).valid
        if grammar.matches(tagged):
            assert valid, text
        # by design the grammar never writes '<' inside a tag, nor, while a text still matches the question,
        # a character whose case folding has several characters (such as 'ß'): stricter than the parser
        elif "<" not in text and all(len(c.casefold()) == 1 for c in text):
            assert not valid, text
    assert not grammar.matches(f"<query>{question}</query>")
    assert not grammar.matches(f"<query>{' '.join(question.upper().split())}</query>")


def test_word_limits_and_ids() -> None:
    answer = answer_grammar()
    assert answer.matches("<answer>" + " ".join(["w"] * MAX_ANSWER_WORDS) + "</answer>")
    assert not answer.matches("<answer>" + " ".join(["w"] * (MAX_ANSWER_WORDS + 1)) + "</answer>")
    assert not answer.matches("<answer></answer>") and not answer.matches("<answer> x</answer>")
    ids = doc_ids_grammar(5)
    assert ids.matches("<id></id>") and ids.matches("<id>Document0,Document3,Document4</id>")
    for bad in ("<id>Document5</id>", "<id>Document1,Document1</id>", "<id>Document3,Document1</id>", "<id>Document0,</id>"):
        assert not ids.matches(bad)


def test_decompositions_step_by_step_always_parse_and_the_one_request_grammar_says_what_it_misses() -> None:
    question = "Who directed the film Mira Vale and where was the director born?"
    static = subquestions_grammar("qds", question, 4)
    assert not static.complete
    duplicate = "<q1>Who directed Mira Vale?</q1><q2>Who directed Mira Vale?</q2>"
    assert static.matches(duplicate) and "same" in parse_subquestions(duplicate, question=question).message
    step2 = subquestion_step_grammar("qds", question, ["Who directed Mira Vale?"], 4)
    assert not step2.matches("<q2>who directed  MIRA vale?</q2>") and step2.matches("<q2>Where was he born?</q2>")
    rng = random.Random(3)
    for _ in range(200):
        written: list[str] = []
        text = ""
        while True:
            k = len(written) + 1
            step = subquestion_step_grammar("qds", question, written, 4)
            body = step.sample(rng, max_extra=2)[len(step.prefix):]  # "...</qk>" or "...</qk><qk+1>"
            content = body.split(f"</q{k}>")[0]
            written.append(" ".join(content.split()))
            text += f"<q{k}>{content}</q{k}>"
            if not body.endswith(f"<q{k + 1}>"):
                break
        parsed = parse_subquestions(text, question=question, max_subquestions=4)
        assert parsed.valid, (text, parsed.message)
        assert len(parsed.value) == len(written) <= 4


def test_output_grammar_follows_the_step(shared_data: Path) -> None:
    """At real observations, the grammar of the step is the one the parser applies at that step."""
    envs = [gym.make("JadeRAG-Synthetic-v0", n=40, synthetic={"seed": 3}, top_k=4),
            gym.make("JadeRAG-HotpotQA-v0", data_path=str(shared_data / "hotpotqa" / "hotpot_dev_distractor_v1_100.json"), n=10)]
    rng = random.Random(0)
    seen: set[tuple[str, int]] = set()
    for env in envs:
        for episode in range(6):
            obs, _ = env.reset(seed=episode)
            done = False
            while not done:
                grammar = output_grammar(obs)
                fields = json.loads(obs["fields"])
                seen.add((obs["role"], fields["depth"] if obs["role"] == "planner" else 0))
                if obs["role"] == "ds":  # a junk query may retrieve nothing: then only <id></id> is valid
                    n = len(fields["documents"])
                    assert grammar.matches(f"<id>Document{n - 1}</id>") == (n > 0) and not grammar.matches(f"<id>Document{n}</id>")
                if obs["role"] == "planner":
                    assert grammar.matches("<workflow>QDS</workflow>") == (fields["depth"] == 0)
                # drive the episode through every role with grammar samples: the env must find them valid
                action = grammar.sample(rng) if obs["role"] not in ("qds", "qdp") else f"<q1>{obs['question']} first part</q1>"
                if obs["role"] == "planner" and fields["depth"] == 0:
                    action = rng.choice(["<workflow>QDS</workflow>", "<workflow>QR,R,DS,AG</workflow>", "<workflow>QDP</workflow>"])
                obs, _, terminated, truncated, info = env.step(action)
                assert info["valid"], (info["role"], action, info["message"])
                done = terminated or truncated
        env.close()
    assert {("planner", 0), ("planner", 1), ("qds", 0), ("qdp", 0), ("qr", 0), ("ds", 0), ("ag", 0), ("as", 0)} <= seen


def test_gbnf_renders_the_same_in_every_process() -> None:
    code = ("from jade_env.roles.grammars import query_grammar, subquestion_step_grammar; "
            "print(query_grammar('Who directed Mira Vale?').gbnf + subquestion_step_grammar('qds', 'Who is X?', ['a b'], 4).gbnf)")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout for seed in (1, 2)}
    assert len(outs) == 1
    assert re.search(r"^root ::= ", outs.pop(), re.M)


def test_request_fields() -> None:
    grammar = answer_grammar()
    assert grammar.request_fields("vllm") == {"structured_outputs": {"grammar": grammar.gbnf}}
    assert grammar.request_fields("vllm-legacy") == {"guided_grammar": grammar.gbnf}
    assert grammar.request_fields("llama.cpp") == {"grammar": grammar.gbnf}
    assert grammar.request_fields("regex") == {"structured_outputs": {"regex": grammar.regex}}
    with pytest.raises(ValueError, match="unknown server kind"):
        grammar.request_fields("tgi")
    with pytest.raises(ValueError, match="no output grammar for role"):
        output_grammar({"role": "retriever"})


@pytest.fixture(scope="module")
def xgrammar_matcher():
    xgr = pytest.importorskip("xgrammar", reason="xgrammar (the llm extra) is not installed")
    from baselines.policies.tiny import train_tokenizer

    tokenizer = train_tokenizer(["<answer>a b</answer> Document0 <q1>x</q1> Who is?"], vocab_size=300)
    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer), stop_token_ids=[tokenizer.eos_token_id])
    compiler = xgr.GrammarCompiler(info, max_threads=1, cache_enabled=False)

    def accepts(compiled, text: str) -> bool:
        matcher = xgr.GrammarMatcher(compiled)
        return matcher.accept_string(text) and matcher.accept_token(tokenizer.eos_token_id)

    return compiler, accepts


XGRAMMAR_CASES = [workflow_grammar(MODULE_CODES), query_grammar(QUESTIONS[0]), query_grammar(QUESTIONS[2]),
                  subquestion_step_grammar("qds", QUESTIONS[1], ["Who starred in the sitcom?"], 4), doc_ids_grammar(5), answer_grammar()]


@pytest.mark.parametrize("grammar", XGRAMMAR_CASES, ids=[g.role for g in XGRAMMAR_CASES])
def test_xgrammar_accepts_every_sample_of_the_gbnf_and_the_regex(xgrammar_matcher, grammar: OutputGrammar) -> None:
    compiler, accepts = xgrammar_matcher
    by_gbnf, by_regex = compiler.compile_grammar(grammar.full_gbnf), compiler.compile_regex(grammar.full_regex)
    rng = random.Random(11)
    for _ in range(60):
        text = grammar.sample(rng)
        assert accepts(by_gbnf, text) and accepts(by_regex, text), text


def test_xgrammar_refuses_what_the_parser_refuses(xgrammar_matcher) -> None:
    compiler, accepts = xgrammar_matcher
    query = compiler.compile_grammar(query_grammar(QUESTIONS[2]).full_gbnf)
    for text in (QUESTIONS[2], QUESTIONS[2].upper(), QUESTIONS[2].replace("Straße", "STRASSE")):
        assert not parse_query(f"<query>{text}</query>", input_question=QUESTIONS[2]).valid
        assert not accepts(query, f"<query>{text}</query>")
    assert accepts(query, "<query>Straße length Kelvin street</query>")
    ids = compiler.compile_grammar(doc_ids_grammar(3).full_gbnf)
    assert accepts(ids, "<id>Document0,Document2</id>") and not accepts(ids, "<id>Document2,Document2</id>")


def test_search_turn_grammar_samples_are_turns_the_monolithic_parser_accepts() -> None:
    from jade_env.roles.grammars import search_turn_grammar
    from jade_env.roles.parsers import parse_search_turn

    grammar, rng = search_turn_grammar(), random.Random(0)
    kinds = set()
    for _ in range(200):
        text = grammar.sample(rng)
        parsed = parse_search_turn(text)
        assert parsed.valid and grammar.matches(text), text
        kinds.add(parsed.value[0])
    assert kinds == {"search", "answer"}
    assert not grammar.matches("thinking <search>q</search>") and not grammar.matches("<search>a</search><answer>b</answer>")
    assert output_grammar({"role": "agent", "question": "q", "fields": "{}"}).gbnf == grammar.gbnf
