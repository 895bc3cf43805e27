"""The observation's ``fields`` text (issue 17, env step overhead): :class:`FieldsEncoder` gives exactly
``json.dumps(fields, ensure_ascii=False)``, for the team's schema (its fast path, per-passage fragments kept) and
for anything else (json's own path), and a passage whose id comes back with another text is encoded anew."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from jade_env.envs.observation import FieldsEncoder, bounded_json
from jade_env.roles.prompts import DocumentView, RoleView, view_fields

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ['"', "\\", "\n\t\x00\x1f", "é ü 北京", "\U0001F600", "\u2028\u2029", "Document0"])
DOCS = st.lists(st.tuples(st.sampled_from(["p1", "p2", "p3", 'p"4']), TEXT, TEXT), max_size=6)


@settings(max_examples=300, deadline=None)
@given(docs=DOCS, question=TEXT, history=st.lists(st.tuples(TEXT, TEXT), max_size=3),
       modules=st.lists(st.sampled_from(["QR", "R", "DS", "AG", "QDS"]), max_size=4), depth=st.integers(0, 3),
       limit=st.integers(1, 9))
def test_the_team_fields_text_is_json_dumps(docs, question, history, modules, depth, limit) -> None:
    encode = FieldsEncoder(cache_size=4)  # small: the cache is cleared while encoding
    view = RoleView("ag", question, question, documents=tuple(DocumentView(*d) for d in docs), history=tuple(history),
                    modules=tuple(modules), depth=depth, max_subquestions=limit)
    fields = view_fields(view)
    for _ in range(2):  # a second time from the kept fragments
        assert encode(fields) == json.dumps(fields, ensure_ascii=False)
    for cap in (40, 200, 10_000):
        assert bounded_json(fields, cap, encode) == bounded_json(fields, cap)


def test_a_passage_id_seen_with_another_text_is_encoded_anew_and_other_schemas_take_json_s_path() -> None:
    encode = FieldsEncoder()
    first = view_fields(RoleView("ds", "q?", "q?", documents=(DocumentView("p1", "T", "old text"),)))
    second = view_fields(RoleView("ds", "q?", "q?", documents=(DocumentView("p1", "T", "new text"),)))
    assert '"old text"' in encode(first) and '"new text"' in encode(second) and "old" not in encode(second)
    retitled = view_fields(RoleView("ds", "q?", "q?", documents=(DocumentView("p1", "U", "new text"),)))
    assert '"title": "U"' in encode(retitled)
    odd = [{**first, "depth": True}, {**first, "documents": [{"id": 3, "title": "T", "text": "x"}]},
           {"question": "q", "documents": []}, {**first, "extra": 1}, ["not", "a", "dict"], {**first, "max_subquestions": 2.5}]
    for fields in odd:
        assert encode(fields) == json.dumps(fields, ensure_ascii=False)
