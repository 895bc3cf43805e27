"""The observation's ``fields`` text (issue 17, env step overhead): :func:`fields_text` gives exactly
``json.dumps(view_fields(view), ensure_ascii=False)``, from kept per-passage fragments or anew, and a passage whose id
comes back with another title or text is encoded anew; the renderer shortens it into valid JSON when it is too long."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from jade_env.envs.observation import ObservationRenderer, bounded_json
from jade_env.roles import prompts
from jade_env.roles.prompts import DocumentView, RoleView, fields_text, view_fields
from jade_env.workflow.episode import ActRequest

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ['"', "\\", "\n\t\x00\x1f", "é ü 北京", "\U0001F600", "\u2028\u2029", "Document0"])
DOCS = st.lists(st.tuples(st.sampled_from(["p1", "p2", "p3", 'p"4']), TEXT, TEXT), max_size=6)


@settings(max_examples=300, deadline=None)
@given(docs=DOCS, question=TEXT, history=st.lists(st.tuples(TEXT, TEXT), max_size=3),
       modules=st.lists(st.sampled_from(["QR", "R", "DS", "AG", "QDS"]), max_size=4), depth=st.integers(0, 3),
       limit=st.integers(1, 9))
def test_the_fields_text_is_json_dumps_of_the_view_fields(docs, question, history, modules, depth, limit) -> None:
    view = RoleView("ag", question, question, documents=tuple(DocumentView(*d) for d in docs), history=tuple(history),
                    modules=tuple(modules), depth=depth, max_subquestions=limit)
    expected = json.dumps(view_fields(view), ensure_ascii=False)
    for _ in range(2):  # a second time from the kept fragments
        assert fields_text(view) == expected
    for cap in (40, 200, 10_000):  # what the renderer shows within a bound: valid JSON, the same as bounding the dict
        request = ActRequest("ag", question, "system", "user", expected)
        shown = ObservationRenderer(max(cap, 16))(_Pending(request))["fields"]
        assert shown == bounded_json(view_fields(view), max(cap, 16)) and len(shown) <= max(cap, 16)
        json.loads(shown)


class _Pending:
    """What the renderer reads of an episode: its pending request."""

    def __init__(self, request: ActRequest) -> None:
        self.pending = request


def test_a_passage_id_seen_with_another_text_is_encoded_anew_and_odd_values_take_json_s_path(monkeypatch) -> None:
    monkeypatch.setattr(prompts, "_DOCUMENT_JSON_SIZE", 2)  # small: the kept fragments are cleared while encoding
    first = RoleView("ds", "q?", "q?", documents=(DocumentView("p1", "T", "old text"),))
    second = RoleView("ds", "q?", "q?", documents=(DocumentView("p1", "T", "new text"),))
    assert '"old text"' in fields_text(first) and '"new text"' in fields_text(second) and "old" not in fields_text(second)
    retitled = RoleView("ds", "q?", "q?", documents=(DocumentView("p1", "U", "new text"),))
    assert '"title": "U"' in fields_text(retitled)
    many = RoleView("ds", "q?", "q?", documents=tuple(DocumentView(f"p{i}", "T", f"text {i}") for i in range(5)))
    assert fields_text(many) == json.dumps(view_fields(many), ensure_ascii=False)
    odd = [RoleView("ag", "q?", "q?", documents=(DocumentView(3, "T", "x"),)),  # type: ignore[arg-type]
           RoleView("ag", "q?", "q?", depth=True), RoleView("ag", "q?", "q?", max_subquestions=2.5),  # type: ignore[arg-type]
           RoleView("as", "q?", "q?", history=(("a", 1),))]  # type: ignore[arg-type]
    for view in odd:
        assert fields_text(view) == json.dumps(view_fields(view), ensure_ascii=False)
