"""The JSON text helpers of the observation and the info (issue 17, env step overhead) give exactly ``json.dumps``'s
text (``ensure_ascii=False``), on the fast path and on the fallback."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jade_env.json_text import floats_json, pairs_json, strings_json, to_json

TEXT = st.text(max_size=30) | st.sampled_from(['"', "\\", "\n\t\x00\x1f\x7f", "é ü 北京", "\U0001F600", "\u2028\u2029",
                                               "\ud800", "Document0", '", "'])


@settings(max_examples=500, deadline=None)
@given(values=st.lists(TEXT, max_size=8) | st.tuples(TEXT, TEXT))
def test_strings_json_is_json_dumps(values) -> None:
    assert strings_json(values) == json.dumps(list(values), ensure_ascii=False) == to_json(list(values))


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(TEXT, TEXT) | st.tuples(TEXT, st.integers()) | st.tuples(TEXT, TEXT, TEXT), max_size=4))
def test_pairs_json_is_json_dumps(pairs) -> None:
    assert pairs_json(pairs) == json.dumps([list(p) for p in pairs], ensure_ascii=False)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.floats() | st.integers(-10**20, 10**20) | st.booleans(), max_size=6))
def test_floats_json_is_json_dumps(values) -> None:
    assert floats_json(values) == json.dumps(values)
    if values and all(type(v) is float and math.isfinite(v) for v in values):
        json.loads(floats_json(values))


def test_other_values_take_json_s_path() -> None:
    for values in (["a", 1], [None], [["a"]], ("a", 2.5)):
        assert strings_json(values) == json.dumps(list(values), ensure_ascii=False)
    for unencodable in (["a", b"b"], [object()]):  # what json cannot write, neither can these
        with pytest.raises(TypeError):
            json.dumps(unencodable)
        with pytest.raises(TypeError):
            strings_json(unencodable)
