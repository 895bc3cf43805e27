"""The Synthetic world: determinism, the hop mix, correct answers, and multi-hop questions no single passage answers."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from jade_env.data.synthetic import KINDS, generate_world, load_synthetic, synthetic_corpus
from jade_env.scoring import normalize_answer


def serialise(world) -> str:
    return json.dumps([[e.id, e.question, e.answers, e.type, e.supporting_titles, [(p.id, p.title, p.text) for p in e.context],
                        [(s.question, s.answer, s.support_title) for s in e.decomposition]] for e in world.examples]
                      + [[p.id, p.title, p.text] for p in world.corpus])


@pytest.fixture(scope="module")
def world():
    return generate_world(3000, seed=11)


def test_same_seed_same_world_byte_for_byte() -> None:
    assert serialise(generate_world(400, seed=3)) == serialise(generate_world(400, seed=3))
    assert serialise(generate_world(400, seed=3)) != serialise(generate_world(400, seed=4))
    assert synthetic_corpus(200, seed=1).hash == synthetic_corpus(200, seed=1).hash


def test_counts_and_hop_mix(world) -> None:
    assert len(world.examples) == 3000
    mix = Counter(e.type for e in world.examples)
    for kind, share in {"1-hop": 0.3, "bridge": 0.3, "comparison": 0.15, "yesno": 0.1, "3-hop": 0.15}.items():
        assert abs(mix[kind] / 3000 - share) < 0.04, (kind, mix)
    only = generate_world(200, seed=1, hop_mix={"bridge": 1.0})
    assert {e.type for e in only.examples} == {"bridge"}


def test_names_are_unique_and_every_fact_has_one_passage(world) -> None:
    titles = [p.title for p in world.corpus]
    assert len(titles) == len(set(titles))
    assert len({p.id for p in world.corpus}) == len(world.corpus)


def _passage(world, title: str) -> str:
    return world.passages_by_title[title].text


def test_answers_follow_the_world_relations(world) -> None:
    """Re-derive every gold answer by reading the passages along the gold decomposition."""
    for e in world.examples:
        steps = e.decomposition
        assert steps, e
        for s in steps:
            assert s.support_title in world.passages_by_title
            text = _passage(world, s.support_title)
            assert s.answer in text, (s, text)
        if e.type in ("1-hop", "bridge", "3-hop"):
            assert normalize_answer(steps[-1].answer) == normalize_answer(e.answers[0])
        if e.type in ("bridge", "3-hop"):
            for i, s in enumerate(steps[1:], start=1):
                assert f"#{i}" in s.question  # refers to the previous answer
                assert steps[i - 1].answer == s.support_title  # the previous answer is the next passage's entity
        if e.type == "comparison":
            years = [int(re.search(r"\d{4}", s.answer).group()) for s in steps]
            options = [s.support_title for s in steps]
            if "born" in e.question:
                assert e.answers[0] in options
            assert e.answers[0] == options[years.index(min(years))] or years[0] == years[1]
        if e.type == "yesno":
            assert e.answers[0] == ("yes" if steps[0].answer == steps[1].answer else "no")
    yes = sum(e.answers[0] == "yes" for e in world.examples if e.type == "yesno")
    n = sum(e.type == "yesno" for e in world.examples)
    assert 0.3 < yes / n < 0.7


def anchors(e) -> list[str]:
    """The entities a multi-hop question names."""
    if e.type in ("comparison", "yesno"):
        return [s.support_title for s in e.decomposition]
    return [e.decomposition[0].support_title]


@pytest.mark.parametrize("kind", ["bridge", "3-hop", "comparison", "yesno"])
def test_no_single_passage_answers_a_multi_hop_question(kind: str) -> None:
    world = generate_world(1500, seed=5)
    texts = [(p, f"{p.title} {p.text}") for p in world.corpus]
    examples = [e for e in world.examples if e.type == kind]
    assert examples
    for e in examples:
        names = anchors(e)
        for p, text in texts:
            if not all(n in text for n in names):
                continue
            if kind in ("bridge", "3-hop"):
                assert e.answers[0] not in text, (e.question, p)
            else:  # comparison / yesno need both entities' facts: no passage names both
                pytest.fail(f"{p} names every entity of {e.question!r}")


def test_supporting_passages_are_in_the_context(world) -> None:
    for e in world.examples:
        titles = {p.title for p in e.context}
        assert set(e.supporting_titles) <= titles
        assert len(e.context) == len(e.supporting_titles) + 8


def test_near_namesakes_exist_as_distractors(world) -> None:
    near = 0
    for e in world.examples[:500]:
        sup = set(e.supporting_titles)
        for p in e.context:
            if p.title not in sup and any(p.title[:6] == s[:6] and p.title != s for s in sup):
                near += 1
    assert near > 50


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_questions": 0}, "n_questions must be a positive integer"),
        ({"hop_mix": {"4-hop": 1.0}}, "unknown kind '4-hop'"),
        ({"hop_mix": {"bridge": -1.0}}, "non-negative"),
        ({"hop_mix": {"bridge": 0.0}}, "positive sum"),
        ({"distractor_rate": 1.5}, "distractor_rate"),
        ({"n_distractors": -1}, "n_distractors"),
        ({"seed": None}, "seed must be an integer, got None"),  # a new world in every process, under the same ids
        ({"seed": "x"}, "seed must be an integer"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"hop_mix": "x"}, "hop_mix must be a dict"),
        ({"distractor_rate": "x"}, "distractor_rate"),
    ],
)
def test_argument_validation(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        generate_world(**{"n_questions": 10, **kwargs})


@pytest.mark.parametrize("synthetic", [{"seed": None}, {"hop_mix": "x"}])
def test_the_env_names_a_bad_world_argument(synthetic) -> None:
    """Through ``gym.make`` (the world is built from its cached, frozen arguments) the message is the generator's."""
    import gymnasium as gym

    import jade_env  # noqa: F401

    with pytest.raises(ValueError, match="seed must be an integer|hop_mix must be a dict"):
        gym.make("JadeRAG-Synthetic-v0", n=10, synthetic=synthetic)


def test_load_synthetic_caches_the_world() -> None:
    a = load_synthetic(300, seed=2)
    b = load_synthetic(300, seed=2)
    assert a == b and a is not b
    assert set(KINDS) == {e.type for e in generate_world(2000, seed=0).examples}
