"""JSON text as ``json.dumps(value, ensure_ascii=False)`` writes it, made without its per-call overhead.

The observation's ``fields`` and the info's list-valued keys are JSON text made at every step; these give exactly the
text ``json.dumps`` gives (tested against it), faster for the common cases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from json.encoder import encode_basestring

#: ``json.dumps(value, ensure_ascii=False)``, without building an encoder at every call (the same settings, the same text)
to_json = json.JSONEncoder(ensure_ascii=False).encode
#: what ``json.dumps(..., ensure_ascii=False)`` escapes in a string: control characters, the backslash, the quote
_ESCAPED = re.compile(r'[\x00-\x1f\\"]')
_INF = float("inf")


def strings_json(values: Sequence[str]) -> str:
    """``json.dumps(list(values), ensure_ascii=False)`` of a sequence of strings (anything else takes ``json``'s path).

    Retrieved ids and titles, roles and codes rarely hold a character JSON escapes: then the text is the strings joined
    between quotes, one regular-expression scan in all instead of one encoder call per string."""
    if not values:
        return "[]"
    try:
        plain = "".join(values)  # a TypeError unless every value is a string
    except TypeError:
        return to_json(list(values))
    if _ESCAPED.search(plain) is not None:
        return to_json(list(values))
    return '["' + '", "'.join(values) + '"]'


def pairs_json(pairs: Sequence[tuple[str, str]]) -> str:
    """``json.dumps([list(p) for p in pairs], ensure_ascii=False)`` of (sub-question, answer) pairs of strings (anything
    else takes ``json``'s path)."""
    if not pairs:
        return "[]"
    try:
        return "[" + ", ".join(f"[{encode_basestring(q)}, {encode_basestring(a)}]" for q, a in pairs) + "]"
    except (TypeError, ValueError):  # not pairs of strings
        return to_json([list(p) for p in pairs])


def floats_json(values: Sequence[float]) -> str:
    """``json.dumps(list(values))`` of a sequence of numbers: finite floats joined by their ``repr``, as ``json`` writes
    them (anything else, ``nan`` and ``inf`` included, takes ``json``'s path)."""
    if not values:
        return "[]"
    if all(type(v) is float and -_INF < v < _INF for v in values):
        return "[" + ", ".join(map(float.__repr__, values)) + "]"
    return to_json(list(values))
