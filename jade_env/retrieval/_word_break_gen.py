"""Regenerates :mod:`jade_env.retrieval._word_break_tables`: the character classes of Lucene's StandardTokenizer.

    python -m jade_env.retrieval._word_break_gen    # needs the lucene extra and `pip install regex`; about 2 minutes

A development tool: nothing imports it at run time. Lucene's tokenizer is generated from the Unicode tables of
its own time, so the current Unicode data alone disagrees with it on some 21,000 code points (characters assigned
since, and an older emoji list). The classes are therefore *observed*: every code point is run through
Lucene's StandardTokenizer (the Anserini jar, through pyjnius) alone and between letters, digits and
Katakana, and classed by what Lucene does with it (joins letters, joins digits, both, attaches to the
character before, is a token of its own, ...). Unicode properties from the ``regex`` package only split
the classes Lucene treats alike here: letters from digits (they differ across ``.``), Hebrew letters (their
quote rules), Han and Hiragana from emoji (emoji join across ZWJ).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import regex

MARK = "qqqq"
PROBES: dict[str, Callable[[str], str]] = {
    "alone": lambda c: c, "x_c_x": lambda c: f"x{c}x", "7_c_7": lambda c: f"7{c}7", "c_c": lambda c: c + c,
    "x_c": lambda c: f"x{c}", "c_x": lambda c: f"{c}x", "ka_c_ka": lambda c: f"\u30ab{c}\u30ab",
}


def code_points() -> list[int]:
    return [c for c in range(0x21, 0x110000) if not 0xD800 <= c < 0xE000 and chr(c) not in "\u2028\u2029\x85"]


def observe(points: list[int]) -> dict[str, dict[int, list[str]]]:
    """Lucene's tokens of every probe of every code point (probes joined by a marker token, 3,000 at a time)."""
    from jade_env.retrieval.lucene import java_class

    utils = java_class("io.anserini.analysis.AnalyzerUtils")
    analyzer = java_class("org.apache.lucene.analysis.standard.StandardAnalyzer")()
    seen: dict[str, dict[int, list[str]]] = {name: {} for name in PROBES}
    for name, probe in PROBES.items():
        for i in range(0, len(points), 3000):
            chunk = points[i: i + 3000]
            groups: list[list[str]] = [[]]
            for token in utils.analyze(analyzer, f" {MARK} ".join(probe(chr(c)) for c in chunk)):
                if token == MARK:
                    groups.append([])
                else:
                    groups[-1].append(token)
            assert len(groups) == len(chunk), f"probe {name} at U+{chunk[0]:04X}: the marker was split"
            seen[name].update(zip(chunk, groups, strict=True))
    return seen


def lucene_class(seen: dict[str, dict[int, list[str]]], c: int) -> str:
    def n(probe: str) -> int:
        return len(seen[probe][c])

    if n("alone") == 1:
        if n("c_c") == 2:
            return "SINGLE"  # a token of its own: Han, Hiragana, emoji
        if n("ka_c_ka") == 1:
            return "KATAKANA"
        if n("x_c") == 2:
            return "COMPLEX_CONTEXT"
        return "LETTER_OR_DIGIT"
    if n("c_c") == 1:
        return "REGIONAL_INDICATOR"
    joins_letters, joins_digits = n("x_c_x") == 1, n("7_c_7") == 1
    if joins_letters and joins_digits:
        if n("ka_c_ka") == 1:
            return "EXTEND" if len(seen["c_x"][c][0]) == 1 else "EXTEND_NUM_LET"
        return "MID_NUM_LET"
    return "MID_LETTER" if joins_letters else ("MID_NUM" if joins_digits else "OTHER")


def cps(pattern: str) -> set[int]:
    r = regex.compile(pattern)
    return {c for c in range(0x110000) if r.match(chr(c))}


def ranges(points: set[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for c in sorted(points):
        if out and c == out[-1][1] + 1:
            out[-1] = (out[-1][0], c)
        else:
            out.append((c, c))
    return out


def esc(c: int) -> str:
    return f"\\u{c:04x}" if c <= 0xFFFF else f"\\U{c:08x}"


def cls(s: set[int]) -> str:
    return "".join(esc(a) if a == b else (esc(a) + esc(b) if b == a + 1 else f"{esc(a)}-{esc(b)}") for a, b in ranges(s))


def main() -> None:
    points = code_points()
    seen = observe(points)
    by_class: dict[str, set[int]] = {}
    for c in points:
        by_class.setdefault(lucene_class(seen, c), set()).add(c)
    modifiers = cps(r"\p{Emoji_Modifier}")
    unicode_extend = cps(r"\p{Word_Break=Extend}") | cps(r"\p{Word_Break=Format}") | cps(r"\p{Word_Break=ZWJ}")
    complex_context = cps(r"\p{Line_Break=Complex_Context}")
    # South-East Asian combining marks start a run alone and attach to Katakana: both classes of theirs
    sa_marks = by_class.get("KATAKANA", set()) & unicode_extend & complex_context
    letters_or_digits = by_class.get("LETTER_OR_DIGIT", set()) - modifiers
    numeric = letters_or_digits & (cps(r"\p{Word_Break=Numeric}") | set(range(0xFF10, 0xFF1A)))
    hebrew = letters_or_digits & cps(r"\p{Word_Break=Hebrew_Letter}")
    single = by_class.get("SINGLE", set()) - modifiers
    ideographic = single & (cps(r"\p{Script=Han}") | cps(r"\p{Script=Hiragana}") | cps(r"\p{Ideographic}"))
    tables = {
        "ALETTER": letters_or_digits - numeric - hebrew,
        "HEBREW_LETTER": hebrew,
        "NUMERIC": numeric,
        "KATAKANA": by_class.get("KATAKANA", set()) - sa_marks - modifiers,
        "EXTEND_NUM_LET": by_class.get("EXTEND_NUM_LET", set()),
        "MID_LETTER": by_class.get("MID_LETTER", set()),
        "MID_NUM": by_class.get("MID_NUM", set()),
        "MID_NUM_LET": by_class.get("MID_NUM_LET", set()),
        "EXTEND": by_class.get("EXTEND", set()) | sa_marks | modifiers,
        "REGIONAL_INDICATOR": by_class.get("REGIONAL_INDICATOR", set()),
        "IDEOGRAPHIC": ideographic,
        "COMPLEX_CONTEXT": by_class.get("COMPLEX_CONTEXT", set()) | sa_marks,
        "EMOJI": single - ideographic,
        "EMOJI_MODIFIER": modifiers,
    }
    lines = ['"""The character classes of Lucene\'s StandardTokenizer, for :mod:`jade_env.retrieval.analysis`, as ``re``',
             'character-class bodies: NAME holds a class\'s characters below U+10000 and NAME_ASTRAL the others (kept',
             'apart because ``re`` tests a class with astral ranges range by range, and most text has none).',
             '',
             'Generated data, not code: observed from Lucene itself (Anserini\'s jar) on every code point and split with',
             f'the Unicode properties of ``regex`` {regex.__version__}; see :mod:`jade_env.retrieval._word_break_gen`, which',
             'rewrites this file. MID_NUM_LET includes the apostrophe; EXTEND is Extend | Format | ZWJ (skin-tone',
             'modifiers too); IDEOGRAPHIC (Han, Hiragana) and EMOJI characters are tokens of their own.',
             '"""', "", "# ruff: noqa: E501", ""]
    for name, points_ in tables.items():
        lines.append(f'{name} = r"{cls({c for c in points_ if c <= 0xFFFF})}"')
        lines.append(f'{name}_ASTRAL = r"{cls({c for c in points_ if c > 0xFFFF})}"')
    Path(__file__).with_name("_word_break_tables.py").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
