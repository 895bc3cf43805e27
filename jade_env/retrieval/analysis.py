"""Text analysis identical to Anserini's ``DefaultEnglishAnalyzer``, the analyzer pyserini's BM25 uses by default.

Anserini's chain (io.anserini.analysis.DefaultEnglishAnalyzer, Lucene 9.9 inside Anserini 1.7) is
``StandardTokenizer -> EnglishPossessiveFilter -> LowerCaseFilter -> StopFilter(33 English stop words)
-> PorterStemFilter``. Each step here reproduces Lucene's behaviour, not a look-alike:

- **Tokenizer** (:func:`tokens`): UAX #29 word boundaries as Lucene's StandardTokenizer applies them. Letters
  and digits join (``abc123``); ``.``, ``'``, ``:`` and the other MidLetter characters join letters
  (``u.s.a``, ``don't``); ``,``, ``.``, ``;`` and the other MidNum characters join digits (``65,000``,
  ``3.14``); ``_`` and the other ExtendNumLet characters join anything (``foo_bar``); a letter and a digit
  across ``.`` do not join (``a.1`` is ``a``, ``1``); hyphens split; combining marks and format characters
  stay with the character before them; Katakana runs are one token; every Han ideograph and every Hiragana
  character is a token of its own; runs of South-East Asian script (Thai, Lao, Khmer, Myanmar) are one token;
  emoji sequences (skin tones, ZWJ families, flags, keycaps, ``©``) are tokens. A token longer than 255
  UTF-16 units is cut there and the rest is tokenized afresh, as Lucene's scanner buffer does.
- **Possessives**: a trailing ``'s``/``’s``/``＇s`` is removed (before lower-casing, so ``'S`` too).
- **Lower case**: per code point, as ``Character.toLowerCase`` (``İ`` -> ``i``, ``Σ`` -> ``σ`` even at the
  end of a word).
- **Stop words**: Lucene's ``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET``.
- **Stemming**: :func:`porter_stem`, Lucene's ``PorterStemmer`` (Martin Porter's reference implementation with
  its two departures from the published algorithm, ``-bli`` -> ``-ble`` and ``-logi`` -> ``-log``, and no
  stemming of words of 1-2 characters). PyStemmer's ``porter`` differs on all three.

Document length is the number of terms left, as Lucene counts them for its norms. The character classes come
from :mod:`jade_env.retrieval._word_break_tables` (generated Unicode data). ``tests/test_analysis_lucene.py``
checks every step against Lucene itself on the shared corpora and on generated edge cases.
"""

from __future__ import annotations

import re
from typing import Any

from jade_env.retrieval import _word_break_tables as wb

LUCENE_STOP_WORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of", "on",
    "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
))
MAX_QUERY_CHARS = 10_000
#: StandardTokenizer.DEFAULT_MAX_TOKEN_LENGTH, in UTF-16 code units
MAX_TOKEN_LENGTH = 255
#: the stem cache is bounded in bytes (a server fed unique words must not grow without limit)
CACHE_BYTES = 64 * 1024 * 1024


# ----------------------------------------------------------------------------- the tokenizer
_ASTRAL_CHAR = "(?=[\\U00010000-\\U0010ffff])"


#: a pattern that matches nothing: a class without members (in a cut table); the constructions below drop what needs it
NEVER = "(?!)"


def _one(tables: Any, *names: str) -> str:
    """One character of the union of the named classes (the astral part tried only on astral characters)."""
    bmp, astral = "".join(getattr(tables, n) for n in names), "".join(getattr(tables, n + "_ASTRAL") for n in names)
    if not bmp:
        return f"{_ASTRAL_CHAR}[{astral}]" if astral else NEVER
    return f"(?:[{bmp}]|{_ASTRAL_CHAR}[{astral}])" if astral else f"[{bmp}]"


def _many(tables: Any, *names: str) -> str:
    """Zero or more characters of the union of the named classes: a plain character-class loop on BMP text."""
    bmp, astral = "".join(getattr(tables, n) for n in names), "".join(getattr(tables, n + "_ASTRAL") for n in names)
    if not bmp:
        return f"(?:{_ASTRAL_CHAR}[{astral}])*" if astral else ""
    return f"[{bmp}]*(?:{_ASTRAL_CHAR}[{astral}][{bmp}]*)*" if astral else f"[{bmp}]*"


def _seq(*parts: str) -> str:
    """``parts`` one after the other (:data:`NEVER` when one of them is)."""
    return NEVER if NEVER in parts else "".join(parts)


def _alt(*options: str) -> str:
    """Any one of ``options``, those that are :data:`NEVER` left out."""
    kept = [o for o in options if o != NEVER]
    return f"(?:{'|'.join(kept)})" if kept else NEVER


def _repeat(part: str, times: str) -> str:
    """``part`` repeated (``times``: ``*``, ``+``, ``?``, ``{2}``); a repeat that may be empty of :data:`NEVER` is empty."""
    if part == NEVER:
        return "" if times in ("*", "?") else NEVER
    return f"(?:{part}){times}"


def _ahead(part: str) -> str:
    return NEVER if part == NEVER else f"(?={part})"


class _CutTables:
    """The word-break classes of :mod:`~jade_env.retrieval._word_break_tables` cut to the code points below ``limit``
    (ASCII, or the BMP: no astral part), for :data:`TOKEN_ASCII` and :data:`TOKEN_BMP`. On text below ``limit`` a
    pattern made from them matches exactly what :data:`TOKEN` matches, since a class only ever meets such characters."""

    def __init__(self, limit: int) -> None:
        for name in dir(wb):
            if name.isupper() and not name.endswith("_ASTRAL"):
                members = getattr(wb, name)
                if limit <= 0xFFFF and members:
                    member = re.compile(f"[{members}]").fullmatch
                    members = "".join(f"\\u{c:04x}" for c in range(limit) if member(chr(c)))
                setattr(self, name, members)
                setattr(self, name + "_ASTRAL", "")


def _token_pattern(tables: Any) -> re.Pattern[str]:
    """One regular expression for every token rule, over the classes of ``tables``; runs of letters and digits are a
    character-class loop. What needs a class without members (in a cut table) is left out, not tried at every
    character."""
    def one(*names: str) -> str:
        return _one(tables, *names)

    def many(*names: str) -> str:
        return _many(tables, *names)

    x, xs = one("EXTEND"), many("EXTEND")  # WB4: extend and format characters join the character before
    letter, hebrew, numeric = one("ALETTER", "HEBREW_LETTER"), one("HEBREW_LETTER"), one("NUMERIC")
    run = one("ALETTER", "HEBREW_LETTER", "NUMERIC") + many("ALETTER", "HEBREW_LETTER", "NUMERIC", "EXTEND")  # WB5, 8-10

    def after(cls: str) -> str:  # the last character before is of class cls (followed by at most 3 extenders)
        return _alt(*(_seq("(?<=", cls, *[x] * n, ")") for n in range(4)))

    joins = _alt(_seq(after(letter), one("MID_LETTER", "MID_NUM_LET"), xs, _ahead(letter)),  # WB6-7: u.s.a, don't
                 _seq(after(numeric), one("MID_NUM", "MID_NUM_LET"), xs, _ahead(numeric)),  # WB11-12: 65,000, 3.14
                 _seq(after(hebrew), '"', xs, _ahead(hebrew)),  # WB7b-c
                 _seq(after(hebrew), "'", xs, _ahead(one("ALETTER", "HEBREW_LETTER", "NUMERIC"))))  # WB7a, as Lucene applies it
    # Lucene keeps a Hebrew letter's trailing apostrophe unless the letter came right after a MidLetter join
    hebrew_end = _seq("(?<!", one("MID_LETTER", "MID_NUM_LET"), hebrew, ")", after(hebrew), "'", xs)
    unit = _alt(_seq(run, _repeat(_seq(joins, run), "*"), _repeat(hebrew_end, "?")),
                _seq(one("KATAKANA"), many("KATAKANA", "EXTEND")))  # WB13: Katakana runs
    extend_num_let = _seq(one("EXTEND_NUM_LET"), xs)
    word = _seq(_repeat(extend_num_let, "*"), unit, _repeat(_seq(_repeat(extend_num_let, "+"), unit), "*"),
                _repeat(extend_num_let, "*"))  # WB13a-b: foo_bar
    # UTS #51 sequences as Lucene matches them: a base with one variation selector, or with extenders (skin
    # tones, tags, ZWJ), further bases after a ZWJ; a lone skin tone; flags (two regional indicators); keycaps
    variation = "[\\ufe0e\\ufe0f]"
    no_variation = _repeat(_seq(f"(?!{variation})", x), "*")
    emoji_char = _seq(one("EMOJI"), f"(?:{variation}|{xs})")
    emoji = _alt(_seq("\\u200d*", emoji_char, _repeat(_seq("(?<=\\u200d)", emoji_char), "*")),
                 _seq(one("EMOJI_MODIFIER"), no_variation), _seq(_repeat(one("REGIONAL_INDICATOR"), "{2}"), xs),
                 _seq("[0-9#*]\\ufe0f?\\u20e3", no_variation))
    other = _alt(_seq(one("IDEOGRAPHIC"), xs), _seq(one("COMPLEX_CONTEXT"), many("COMPLEX_CONTEXT", "EXTEND")))
    return re.compile(_alt(word, emoji, other))


TOKEN = _token_pattern(wb)
#: :data:`TOKEN` for text without astral characters (nearly all), and for ASCII text (most passages): the same rules,
#: with no astral branches and, for ASCII, small classes and no branch of another script (1.7x and 5x as fast)
TOKEN_BMP = _token_pattern(_CutTables(0x10000))
TOKEN_ASCII = _token_pattern(_CutTables(0x80))
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _utf16_length(text: str) -> int:
    return len(text) if text.isascii() else len(text) + len(_ASTRAL.findall(text))


def _cut_utf16(text: str, units: int) -> int:
    """How many code points of ``text`` fit in ``units`` UTF-16 units."""
    n = 0
    for i, ch in enumerate(text):
        n += 2 if ord(ch) > 0xFFFF else 1
        if n > units:
            return i
    return len(text)


def tokens(text: str) -> list[str]:
    """StandardTokenizer's tokens of ``text`` (original case)."""
    pattern = TOKEN_ASCII if text.isascii() else TOKEN_BMP if _ASTRAL.search(text) is None else TOKEN
    found = pattern.findall(text)
    if max(map(len, found), default=0) <= MAX_TOKEN_LENGTH // 2 or all(_utf16_length(t) <= MAX_TOKEN_LENGTH for t in found):
        return found
    out: list[str] = []  # a token over 255 UTF-16 units: cut it there and tokenize the rest afresh
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        token = m.group()
        if _utf16_length(token) <= MAX_TOKEN_LENGTH:
            out.append(token)
            pos = m.end()
        else:
            cut = _cut_utf16(token, MAX_TOKEN_LENGTH)
            out.append(token[:cut])
            pos = m.start() + cut
    return out


# ----------------------------------------------------------------------------- lower case, possessives
_JAVA_LOWER = str.maketrans({"\u0130": "i", "\u03a3": "\u03c3"})  # Character.toLowerCase has no special casing
_POSSESSIVE_QUOTES = ("'", "\u2019", "\uff07")


def lucene_lower(token: str) -> str:
    return token.translate(_JAVA_LOWER).lower() if not token.isascii() else token.lower()


# ----------------------------------------------------------------------------- Lucene's PorterStemmer
_VOWELS = frozenset("aeiou")
_STEP3 = {  # Porter's step 2, keyed by the penultimate letter; the first suffix that matches decides
    "a": (("ational", "ate"), ("tional", "tion")),
    "c": (("enci", "ence"), ("anci", "ance")),
    "e": (("izer", "ize"),),
    "l": (("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous")),
    "o": (("ization", "ize"), ("ation", "ate"), ("ator", "ate")),
    "s": (("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous")),
    "t": (("aliti", "al"), ("iviti", "ive"), ("biliti", "ble")),
    "g": (("logi", "log"),),
}
_STEP4 = {  # Porter's step 3, keyed by the last letter
    "e": (("icate", "ic"), ("ative", ""), ("alize", "al")),
    "i": (("iciti", "ic"),),
    "l": (("ical", "ic"), ("ful", "")),
    "s": (("ness", ""),),
}
_STEP5 = {  # Porter's step 4, keyed by the penultimate letter
    "a": ("al",), "c": ("ance", "ence"), "e": ("er",), "i": ("ic",), "l": ("able", "ible"), "n": ("ant", "ement", "ment", "ent"),
    "o": ("ion", "ou"), "s": ("ism",), "t": ("ate", "iti"), "u": ("ous",), "v": ("ive",), "z": ("ize",),
}


class _Porter:
    """One word being stemmed: ``b[0..k]`` is the current word, ``j`` the end of the stem after ``ends``."""

    __slots__ = ("b", "j", "k")

    def __init__(self, word: list[str]) -> None:
        self.b, self.k, self.j = word, len(word) - 1, 0

    def cons(self, i: int) -> bool:
        ch = self.b[i]
        if ch in _VOWELS:
            return False
        if ch == "y":
            return True if i == 0 else not self.cons(i - 1)
        return True

    def m(self) -> int:
        """The number of vowel-consonant sequences in ``b[0..j]`` (Porter's measure: each vowel-to-consonant step)."""
        return sum(1 for i in range(1, self.j + 1) if self.cons(i) and not self.cons(i - 1))

    def vowel_in_stem(self) -> bool:
        return any(not self.cons(i) for i in range(self.j + 1))

    def double_c(self, j: int) -> bool:
        return j >= 1 and self.b[j] == self.b[j - 1] and self.cons(j)

    def cvc(self, i: int) -> bool:
        if i < 2 or not self.cons(i) or self.cons(i - 1) or not self.cons(i - 2):
            return False
        return self.b[i] not in "wxy"

    def ends(self, s: str) -> bool:
        n = len(s)
        if n > self.k + 1 or "".join(self.b[self.k - n + 1: self.k + 1]) != s:
            return False
        self.j = self.k - n
        return True

    def set_to(self, s: str) -> None:
        self.b[self.j + 1:] = list(s)
        self.k = self.j + len(s)

    def r(self, s: str) -> None:
        if self.m() > 0:
            self.set_to(s)

    def step1(self) -> None:  # plurals, -ed, -ing
        b = self.b
        if b[self.k] == "s":
            if self.ends("sses"):
                self.k -= 2
            elif self.ends("ies"):
                self.set_to("i")
            elif b[self.k - 1] != "s":
                self.k -= 1
            del b[self.k + 1:]
        if self.ends("eed"):
            if self.m() > 0:
                self.k -= 1
        elif (self.ends("ed") or self.ends("ing")) and self.vowel_in_stem():
            self.k = self.j
            del b[self.k + 1:]
            if self.ends("at"):
                self.set_to("ate")
            elif self.ends("bl"):
                self.set_to("ble")
            elif self.ends("iz"):
                self.set_to("ize")
            elif self.double_c(self.k):
                if b[self.k] not in "lsz":
                    self.k -= 1
            elif self.m() == 1 and self.cvc(self.k):
                self.set_to("e")
        del b[self.k + 1:]

    def step2(self) -> None:  # y -> i
        if self.ends("y") and self.vowel_in_stem():
            self.b[self.k] = "i"

    def replace_first(self, table: dict, key_at: int) -> None:
        for suffix, replacement in table.get(self.b[key_at], ()):
            if self.ends(suffix):
                self.r(replacement)
                del self.b[self.k + 1:]
                return

    def step5(self) -> None:  # -ant, -ence, ... removed when m > 1
        if self.k == 0:
            return
        for suffix in _STEP5.get(self.b[self.k - 1], ()):
            if self.ends(suffix):
                if suffix == "ion" and not (self.j >= 0 and self.b[self.j] in "st"):
                    continue
                break
        else:
            return
        if self.m() > 1:
            self.k = self.j
            del self.b[self.k + 1:]

    def step6(self) -> None:  # final -e, -ll
        self.j = self.k
        if self.b[self.k] == "e":
            a = self.m()
            if a > 1 or (a == 1 and not self.cvc(self.k - 1)):
                self.k -= 1
        if self.b[self.k] == "l" and self.double_c(self.k) and self.m() > 1:
            self.k -= 1
        del self.b[self.k + 1:]

    def stem(self) -> list[str]:
        if self.k > 1:  # words of one or two characters are left alone
            self.step1()
            self.step2()
            if self.k > 0:
                self.replace_first(_STEP3, self.k - 1)
            self.replace_first(_STEP4, self.k)
            self.step5()
            self.step6()
        return self.b[: self.k + 1]


def porter_stem(word: str) -> str:
    """Lucene's ``PorterStemmer`` on a lower-cased word (lengths counted in UTF-16 units, as Java does)."""
    if word.isascii() or not _ASTRAL.search(word):
        return "".join(_Porter(list(word)).stem())
    units = word.encode("utf-16-le", "surrogatepass")
    chars = [chr(int.from_bytes(units[i: i + 2], "little")) for i in range(0, len(units), 2)]
    stemmed = "".join(_Porter(chars).stem())
    return stemmed.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


# ----------------------------------------------------------------------------- the analyzer
_MISSING = object()


class Analyzer:
    """Turns text into terms; caches the term of every surface token it has seen, bounded in bytes.

    ``cache_limit`` (bytes, settable: a server fed by outside queries sets its own) bounds the memo; when the
    next entry would pass it the memo is emptied (it loses nothing but speed). ``cache_bytes`` is the memo's
    estimated size now and ``clears`` how often it was emptied.
    """

    def __init__(self, cache_bytes: int = CACHE_BYTES) -> None:
        self._cache: dict[str, str | None] = {}
        self.cache_bytes = 0
        self.clears = 0
        self.cache_limit = cache_bytes

    def term(self, token: str) -> str | None:
        """The indexed term of one token, or None for a stop word."""
        word = token
        if len(word) >= 2 and word[-1] in "sS" and word[-2] in _POSSESSIVE_QUOTES:
            word = word[:-2]
        word = lucene_lower(word)
        return None if word in LUCENE_STOP_WORDS else porter_stem(word)

    def terms(self, text: str) -> list[str]:
        """The indexed terms of ``text``, in order (stop words removed, stemmed)."""
        cache, out = self._cache, []
        for token in tokens(text):
            t = cache.get(token, _MISSING)
            if t is _MISSING:
                t = self.term(token)
                self.cache_bytes += 2 * len(token) + 120
                if self.cache_bytes > self.cache_limit:
                    cache.clear()
                    self.cache_bytes = 0
                    self.clears += 1
                cache[token] = t
            if t is not None:
                out.append(t)
        return out
