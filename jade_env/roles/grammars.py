"""Per-role output grammars: the outputs each role's parser accepts, as a grammar a decoder can enforce.

A language model that must write ``<workflow>R,AG</workflow>`` or ``<id>Document0,Document3</id>``
often writes something else; the parser (:mod:`jade_env.roles.parsers`) then marks the output invalid
and the episode runs on a fallback. Constrained decoding removes that failure: at every token, only
tokens that keep the output inside the role's grammar are allowed. The grammar of a step depends on the
step (the planner's allowed modules at depth 0 and for a sub-question, the number of retrieved
documents, ``max_subquestions``, the question a query must differ from), so it is built from the
observation: ``output_grammar(obs)``.

Each grammar is built from the parser's own rule constants (tags, word limits, the document-id
prefix), and the planner's is the list of workflows that :func:`~jade_env.roles.parsers.parse_workflow`
itself accepts, found by trying every ordering of the allowed modules. The tests sample many strings
from every grammar and check that the parser accepts each one.

One grammar, three renderings:

* :attr:`OutputGrammar.regex`: a regular expression (Python ``re``, Rust ``regex``, xgrammar's regex
  front end), for vLLM's ``structured_outputs.regex`` (``guided_regex`` before vLLM 0.12), outlines
  and lm-format-enforcer;
* :attr:`OutputGrammar.gbnf`: GBNF, for llama.cpp's ``grammar`` field and xgrammar's EBNF (vLLM's
  ``structured_outputs.grammar``, ``guided_grammar`` before 0.12), and for HF generation through
  xgrammar (:mod:`baselines.policies.constrained`);
* :meth:`OutputGrammar.sample`: random members, for the tests.

``prefix`` is the opening tag, which a policy writes itself (prefill); ``regex`` and ``gbnf`` describe
what the model writes after it, up to and including the closing tag (``full_regex`` includes the
prefix). :meth:`OutputGrammar.request_fields` gives the request fields for a vLLM or llama.cpp server.

How each rule is stated, and where the grammar is stricter than the parser (it accepts one canonical
spelling of every valid output, never an invalid one):

=============  ==============================================================================
role           grammar
=============  ==============================================================================
planner        exactly the workflows the parser accepts with the step's allowed modules,
               written without spaces (``R,DS,AG``)
qds / qdp      ``<q1>..</q1>`` .. ``<qN>..</qN>``, N from 1 to ``max_subquestions``, no text
               between tags; each sub-question differs from the question (compared as the parser
               does: white space squeezed, case folded)
qr             1 to 100 words that differ from the input question
ds             ``Document`` ids below the number of documents, without duplicates, in increasing
               order (every valid set of ids, in one order), or none
ag / as        1 to 40 words
=============  ==============================================================================

Texts inside tags are words separated by single spaces (white space as ``str.split`` sees it), with
no ``<`` (so no tag can be nested), and no leading or trailing space. Where a text must differ from
given texts (a query from the question), the first characters that match those texts are restricted to
those whose case folding is one character (so that the comparison can be made character by character);
after the first differing character, any character may follow.

The one rule no single grammar of the whole output can state is that the sub-questions of a
decomposition differ from each other: the language ``{x#y : x != y}`` is not regular, and a grammar of
the whole output that tried is far too large. ``output_grammar`` therefore states every rule but that
one for ``qds``/``qdp`` (its ``complete`` is False), and :func:`subquestion_step_grammar` gives the
grammar of the next sub-question given the ones already written (which it must differ from), so that
a policy that writes a decomposition one tag at a time (both :mod:`baselines.policies` policies do)
enforces every rule.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from itertools import permutations
from typing import Any

from jade_env.roles.ids import MODULE_CODES
from jade_env.roles.parsers import (
    DOCUMENT_ID_PREFIX,
    MAX_ANSWER_WORDS,
    MAX_QUERY_WORDS,
    ROLE_TAGS,
    SUBQUESTION_TAG,
    parse_workflow,
)
from jade_env.roles.prompts import fields_of

MAX_CODE_POINT = 0x10FFFF
SURROGATES = (0xD800, 0xDFFF)
DEFAULT_MAX_SUBQUESTIONS = 4


# --------------------------------------------------------------------------- character sets
@dataclass(frozen=True, slots=True)
class CharSet:
    """A set of Unicode scalar values, as sorted disjoint inclusive ranges (surrogates never included)."""

    ranges: tuple[tuple[int, int], ...]

    @staticmethod
    def _normal(ranges: Iterable[tuple[int, int]]) -> CharSet:
        out: list[list[int]] = []
        for lo, hi in sorted(ranges):
            for a, b in ((lo, min(hi, SURROGATES[0] - 1)), (max(lo, SURROGATES[1] + 1), hi)):
                if a > b:
                    continue
                if out and a <= out[-1][1] + 1:
                    out[-1][1] = max(out[-1][1], b)
                else:
                    out.append([a, b])
        return CharSet(tuple((a, b) for a, b in out))

    @classmethod
    def of(cls, chars: Iterable[str]) -> CharSet:
        return cls._normal((ord(c), ord(c)) for c in chars)

    def __or__(self, other: CharSet) -> CharSet:
        return CharSet._normal(self.ranges + other.ranges)

    def complement(self) -> CharSet:
        out, start = [], 0
        for lo, hi in self.ranges:
            if lo > start:
                out.append((start, lo - 1))
            start = hi + 1
        if start <= MAX_CODE_POINT:
            out.append((start, MAX_CODE_POINT))
        return CharSet._normal(out)

    def __sub__(self, other: CharSet) -> CharSet:
        return (self.complement() | other).complement()

    def __contains__(self, char: str) -> bool:
        code = ord(char)
        i = bisect_right(self.ranges, (code, MAX_CODE_POINT + 1)) - 1
        return i >= 0 and self.ranges[i][0] <= code <= self.ranges[i][1]

    def __bool__(self) -> bool:
        return bool(self.ranges)

    @property
    def size(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)


@cache
def whitespace() -> CharSet:
    """The characters ``str.split()`` splits on (``str.isspace``), which the parsers use to count words."""
    return CharSet.of(chr(c) for c in range(MAX_CODE_POINT + 1) if not SURROGATES[0] <= c <= SURROGATES[1] and chr(c).isspace())


@cache
def word_chars() -> CharSet:
    """Characters of a word inside a tag: anything but white space and ``<`` (so that no tag can open)."""
    return (whitespace() | CharSet.of("<")).complement()


@cache
def _casefold_tables() -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """``({folded: the other chars whose case folding is exactly folded}, {char: folding} for multi-char foldings)``."""
    others: dict[str, list[str]] = {}
    multi: dict[str, str] = {}
    for code in range(MAX_CODE_POINT + 1):
        if SURROGATES[0] <= code <= SURROGATES[1]:
            continue
        char = chr(code)
        folded = char.casefold()
        if len(folded) != 1:
            multi[char] = folded
        elif folded != char:
            others.setdefault(folded, []).append(char)
    return {k: tuple(v) for k, v in others.items()}, multi


@cache
def folds_to(folded: str) -> CharSet:
    """Every word character whose case folding is the one character ``folded``."""
    chars = _casefold_tables()[0].get(folded, ()) + ((folded,) if folded.casefold() == folded else ())
    return CharSet.of(c for c in chars if c in word_chars())


# --------------------------------------------------------------------------- pattern nodes
@dataclass(frozen=True, slots=True)
class Lit:
    text: str


@dataclass(frozen=True, slots=True)
class Chars:
    chars: CharSet


@dataclass(frozen=True, slots=True)
class Seq:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Alt:
    options: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Repeat:
    node: Node
    lo: int
    hi: int | None  # None: unbounded


@dataclass(frozen=True, slots=True)
class Rule:
    """A named sub-pattern: a rule of its own in GBNF, inlined in the regex."""

    name: str
    node: Node


Node = Lit | Chars | Seq | Alt | Repeat | Rule


def seq(*parts: Node) -> Node:
    flat: list[Node] = []
    for p in parts:
        flat.extend(p.parts if isinstance(p, Seq) else (p,))
    flat = [p for p in flat if not (isinstance(p, Lit) and not p.text)]
    return flat[0] if len(flat) == 1 else Seq(tuple(flat))


def alt(options: Sequence[Node], optional: bool = False) -> Node:
    """Any one of ``options`` (or nothing, when ``optional``)."""
    node = options[0] if len(options) == 1 else Alt(tuple(options))
    return Repeat(node, 0, 1) if optional else node


# --------------------------------------------------------------------------- rendering
_REGEX_META = set("\\.^$*+?{}[]|()")


def _regex_char(char: str, in_class: bool) -> str:
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0xA0:
        return f"\\x{code:02x}"
    if char in _REGEX_META or (in_class and char in "-"):
        return "\\" + char
    if code > 0x7F and (char in whitespace() or not char.isprintable()):
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return char


def _class_body(chars: CharSet, esc) -> str:
    parts = []
    for lo, hi in chars.ranges:
        if lo == hi:
            parts.append(esc(chr(lo)))
        elif hi == lo + 1:
            parts.append(esc(chr(lo)) + esc(chr(hi)))
        else:
            parts.append(f"{esc(chr(lo))}-{esc(chr(hi))}")
    return "".join(parts)


def _regex_class(chars: CharSet) -> str:
    esc = lambda c: _regex_char(c, True)  # noqa: E731
    if chars.size == 1:
        return _regex_char(chr(chars.ranges[0][0]), False)
    negated = chars.complement()
    if len(negated.ranges) < len(chars.ranges):
        return f"[^{_class_body(negated, esc)}]"
    return f"[{_class_body(chars, esc)}]"


def _repeat_suffix(lo: int, hi: int | None) -> str:
    if (lo, hi) == (0, 1):
        return "?"
    if hi is None:
        return {0: "*", 1: "+"}.get(lo, f"{{{lo},}}")
    return f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"


def to_regex(node: Node) -> str:
    if isinstance(node, Lit):
        return "".join(_regex_char(c, False) for c in node.text)
    if isinstance(node, Chars):
        return _regex_class(node.chars)
    if isinstance(node, Seq):
        return "".join(f"(?:{to_regex(p)})" if isinstance(p, Alt) else to_regex(p) for p in node.parts)
    if isinstance(node, Alt):
        return "|".join(to_regex(o) for o in node.options)
    if isinstance(node, Repeat):
        inner = to_regex(node.node)
        atom = inner if isinstance(node.node, Chars) or (isinstance(node.node, Lit) and len(node.node.text) == 1) else f"(?:{inner})"
        return atom + _repeat_suffix(node.lo, node.hi)
    if isinstance(node, Rule):
        inner = to_regex(node.node)
        return f"(?:{inner})" if isinstance(node.node, Alt) else inner
    raise TypeError(f"not a grammar node: {node!r}")


def _gbnf_char(char: str) -> str:
    code = ord(char)
    if char.isascii() and (char.isalnum() or char in " !#$%&'()*+,./:;<=>?@_`{|}~"):
        return char
    if code <= 0xFF:
        return f"\\x{code:02X}"
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def _gbnf(node: Node, rules: dict[str, str]) -> str:
    if isinstance(node, Lit):
        return '"' + "".join(_gbnf_char(c) for c in node.text) + '"'
    if isinstance(node, Chars):
        negated = node.chars.complement()
        if len(negated.ranges) < len(node.chars.ranges):
            return f"[^{_class_body(negated, _gbnf_char)}]"
        return f"[{_class_body(node.chars, _gbnf_char)}]"
    if isinstance(node, Seq):
        return " ".join(_gbnf(p, rules) for p in node.parts)
    if isinstance(node, Alt):
        return "(" + " | ".join(_gbnf(o, rules) for o in node.options) + ")"
    if isinstance(node, Repeat):
        inner = _gbnf(node.node, rules)
        if not isinstance(node.node, (Lit, Chars, Alt, Rule)):
            inner = f"({inner})"
        return inner + _repeat_suffix(node.lo, node.hi)
    if isinstance(node, Rule):
        if node.name not in rules:
            rules[node.name] = ""  # reserve the name first: rules may refer to each other
            rules[node.name] = _gbnf(node.node, rules)
        return node.name
    raise TypeError(f"not a grammar node: {node!r}")


def to_gbnf(node: Node) -> str:
    rules: dict[str, str] = {}
    root = _gbnf(node, rules)
    return "\n".join([f"root ::= {root}"] + [f"{name} ::= {body}" for name, body in rules.items()]) + "\n"


# --------------------------------------------------------------------------- sampling (for the tests)
_COMMON = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789?,.'-()&:;!\"/>"


def _sample_char(chars: CharSet, rng: random.Random) -> str:
    if rng.random() < 0.8:
        common = [c for c in _COMMON if c in chars]
        if common:
            return rng.choice(common)
    lo, hi = rng.choices(chars.ranges, weights=[min(hi - lo + 1, 500) for lo, hi in chars.ranges])[0]
    return chr(rng.randint(lo, hi))


def sample(node: Node, rng: random.Random, max_extra: int = 3) -> str:
    """A random member of the pattern's language (repetitions drawn up to ``max_extra`` beyond the minimum)."""
    if isinstance(node, Lit):
        return node.text
    if isinstance(node, Chars):
        return _sample_char(node.chars, rng)
    if isinstance(node, Seq):
        return "".join(sample(p, rng, max_extra) for p in node.parts)
    if isinstance(node, Alt):
        return sample(rng.choice(node.options), rng, max_extra)
    if isinstance(node, Repeat):
        hi = node.lo + max_extra if node.hi is None else min(node.hi, node.lo + max_extra)
        return "".join(sample(node.node, rng, max_extra) for _ in range(rng.randint(node.lo, hi)))
    if isinstance(node, Rule):
        return sample(node.node, rng, max_extra)
    raise TypeError(f"not a grammar node: {node!r}")


# --------------------------------------------------------------------------- texts inside tags
def _word() -> Node:
    return Repeat(Chars(word_chars()), 1, None)


def _more_words(at_most: int | None) -> Node | None:
    """`` word`` repeated up to ``at_most`` times (None: unbounded); None when no more word may follow."""
    if at_most is not None and at_most <= 0:
        return None
    return Repeat(seq(Lit(" "), _word()), 0, at_most)


def words(max_words: int | None) -> Node:
    """1 to ``max_words`` words separated by single spaces."""
    rest = _more_words(None if max_words is None else max_words - 1)
    return _word() if rest is None else seq(_word(), rest)


def _fold(text: str) -> str:
    """The parsers' comparison key (``_same_text``): white space squeezed, then case folded."""
    return " ".join(text.split()).casefold()


class _Names:
    """Rule names for GBNF, numbered in the order they are made (so that a grammar renders the same every time)."""

    def __init__(self, stem: str) -> None:
        self.stem, self.count = stem, 0

    def __call__(self, node: Node) -> Rule:
        self.count += 1
        return Rule(f"{self.stem}-{self.count}", node)


def _word_not_in(excluded: frozenset[str], names: _Names) -> Node:
    """One word whose case folding is none of ``excluded`` (case-folded words without spaces)."""
    multi = _casefold_tables()[1]
    word = word_chars()
    multi_word = [c for c in multi if c in word]

    def state(prefix: str) -> Node:
        children = sorted({w[len(prefix)] for w in excluded if w.startswith(prefix) and len(w) > len(prefix)})
        matched = CharSet(())
        options: list[Node] = []
        for c in children:
            chars = folds_to(c)
            if chars:
                matched = matched | chars
                options.append(seq(Chars(chars), state(prefix + c)))
        # a character whose case folding has several characters and could still spell an excluded word
        # is left out here (rare); every other character either follows an excluded word or leaves them all
        risky = CharSet.of(c for c in multi_word if any(w.startswith(prefix + multi[c]) for w in excluded))
        diverging = word - matched - risky
        if diverging:
            options.append(seq(Chars(diverging), Repeat(Chars(word), 0, None)))
        can_stop = bool(prefix) and prefix not in excluded
        if not options:
            if not can_stop:
                raise ValueError(f"no word can follow {prefix!r}")  # unreachable: some character always diverges
            return Lit("")
        node = alt(options, optional=can_stop)
        return names(node) if prefix else node

    return state("")


def text_differing_from(texts: Iterable[str], max_words: int | None, stem: str) -> Node:
    """Words (single spaces, 1 to ``max_words``) whose comparison key differs from that of every one of ``texts``.

    Built word by word: after words that match an excluded text so far, the next word either is that
    text's next word (and the matching goes on) or is a word that none of them has there (then any
    words may follow, up to the limit). Its size grows with the excluded texts' lengths, not with
    ``max_words``, and its nesting with their number of words.
    """
    excluded = {tuple(_fold(t).split()) for t in texts}
    excluded.discard(())
    names = _Names(stem)

    def after(matched: tuple[str, ...]) -> Node | None:
        """What may follow once ``matched`` (the first words of an excluded text) is written; None: nothing may."""
        n = len(matched)
        options: list[Node] = []
        if max_words is None or n < max_words:
            space = Lit(" ") if n else Lit("")
            nexts = sorted({e[n] for e in excluded if e[:n] == matched and len(e) > n})
            for w in nexts:
                chars = [folds_to(c) for c in w]
                following = after(matched + (w,)) if all(chars) else None
                if following is not None:
                    options.append(seq(space, *(Chars(c) for c in chars), following))
            free = _more_words(None if max_words is None else max_words - n - 1)
            other = _word_not_in(frozenset(nexts), names)
            options.append(seq(space, other) if free is None else seq(space, other, free))
        can_stop = n > 0 and matched not in excluded
        if not options:
            return Lit("") if can_stop else None
        node = alt(options, optional=can_stop)
        return names(node) if n else node

    node = after(())
    assert node is not None  # at least one first word always differs
    return node


# --------------------------------------------------------------------------- the grammar of an output
@dataclass(frozen=True)
class OutputGrammar:
    """The grammar of one output: ``prefix`` (written by the policy), then ``body`` (written by the model).

    ``closing`` is the tag after which the output is complete (a stop string when decoding is not
    constrained). ``complete`` is False only for the one-request grammar of a decomposition, which
    cannot state that sub-questions differ from each other (see the module docstring).
    """

    role: str
    prefix: str
    body: Node
    closing: str
    complete: bool = True

    # renderings are made once, on first use (no slots, so that cached_property can store them)
    @cached_property
    def regex(self) -> str:
        """A regular expression of what follows ``prefix``."""
        return to_regex(self.body)

    @cached_property
    def full_regex(self) -> str:
        """A regular expression of the whole output, ``prefix`` included."""
        return to_regex(seq(Lit(self.prefix), self.body))

    @cached_property
    def gbnf(self) -> str:
        """GBNF (llama.cpp; xgrammar's EBNF) of what follows ``prefix``."""
        return to_gbnf(self.body)

    @cached_property
    def full_gbnf(self) -> str:
        return to_gbnf(seq(Lit(self.prefix), self.body))

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(self.full_regex, re.DOTALL)

    def sample(self, rng: random.Random, max_extra: int = 3) -> str:
        """A random whole output (prefix included) in the grammar's language."""
        return self.prefix + sample(self.body, rng, max_extra)

    def matches(self, text: str) -> bool:
        """Whether ``text`` (a whole output, prefix included) is in the language (Python ``re``)."""
        return self._pattern.fullmatch(text) is not None

    def request_fields(self, server: str = "vllm", whole: bool = False) -> dict[str, Any]:
        """The request fields that constrain a chat completion to this grammar after the prefilled prefix.

        ``vllm``: ``structured_outputs.grammar`` (vLLM 0.12 and later; xgrammar, the default back end,
        reads GBNF); ``vllm-legacy``: ``guided_grammar`` (earlier vLLM); ``llama.cpp``: ``grammar``
        (GBNF); ``regex``: ``structured_outputs.regex`` for servers whose back end takes only regular
        expressions. ``whole``: the grammar of the whole output, prefix included (nothing prefilled).
        """
        gbnf, regex = (self.full_gbnf, self.full_regex) if whole else (self.gbnf, self.regex)
        if server == "vllm":
            return {"structured_outputs": {"grammar": gbnf}}
        if server == "vllm-legacy":
            return {"guided_grammar": gbnf}
        if server == "llama.cpp":
            return {"grammar": gbnf}
        if server == "regex":
            return {"structured_outputs": {"regex": regex}}
        raise ValueError(f"unknown server kind {server!r}; expected vllm, vllm-legacy, llama.cpp or regex")


def _tagged(tag: str, body: Node) -> tuple[str, Node, str]:
    return f"<{tag}>", seq(body, Lit(f"</{tag}>")), f"</{tag}>"


def output_tags(role: str, max_subquestions: int = DEFAULT_MAX_SUBQUESTIONS) -> tuple[str, str]:
    """``(opening, closing)``: the tag a role's output starts with, and the one after which it is complete."""
    if role in ("qds", "qdp"):
        return f"<{SUBQUESTION_TAG.format(1)}>", f"</{SUBQUESTION_TAG.format(max_subquestions)}>"
    if role not in ROLE_TAGS:
        raise ValueError(f"no output tags for role {role!r}; expected one of planner, qds, qdp, qr, ds, ag, as")
    return f"<{ROLE_TAGS[role]}>", f"</{ROLE_TAGS[role]}>"


@cache
def valid_workflows(allowed: frozenset[str]) -> tuple[tuple[str, ...], ...]:
    """Every workflow that ``parse_workflow`` accepts with ``allowed`` modules (found by trying all orderings)."""
    codes = [m for m in MODULE_CODES if m in allowed]
    found = []
    for n in range(1, len(codes) + 1):
        for combo in permutations(codes, n):
            parsed = parse_workflow(f"<{ROLE_TAGS['planner']}>{','.join(combo)}</{ROLE_TAGS['planner']}>", allowed=allowed)
            if parsed.valid:
                found.append(combo)
    return tuple(found)


def workflow_grammar(allowed: Iterable[str]) -> OutputGrammar:
    """The planner's grammar: one of the workflows valid with ``allowed`` modules."""
    workflows = valid_workflows(frozenset(allowed))
    if not workflows:
        raise ValueError(f"no workflow is valid with modules {sorted(allowed)}")
    prefix, body, closing = _tagged(ROLE_TAGS["planner"], alt([Lit(",".join(w)) for w in workflows]))
    return OutputGrammar("planner", prefix, body, closing)


def query_grammar(input_question: str, max_words: int = MAX_QUERY_WORDS) -> OutputGrammar:
    """QR's grammar: 1 to ``max_words`` words that differ from ``input_question``."""
    prefix, body, closing = _tagged(ROLE_TAGS["qr"], text_differing_from([input_question], max_words, "query"))
    return OutputGrammar("qr", prefix, body, closing)


def doc_ids_grammar(n_documents: int) -> OutputGrammar:
    """DS's grammar: ids of the ``n_documents`` documents in increasing order, without duplicates, or none."""
    ids = [Lit(f"{DOCUMENT_ID_PREFIX}{i}") for i in range(n_documents)]
    node: Node | None = None
    for i in reversed(range(n_documents)):  # lists from i on: "Di" | ("Di,")? lists from i+1 on
        node = ids[i] if node is None else alt([seq(Repeat(seq(ids[i], Lit(",")), 0, 1), node), ids[i]])
    prefix, body, closing = _tagged(ROLE_TAGS["ds"], Lit("") if node is None else Repeat(node, 0, 1))
    return OutputGrammar("ds", prefix, body, closing)


def answer_grammar(role: str = "ag", max_words: int = MAX_ANSWER_WORDS) -> OutputGrammar:
    """AG's and AS's grammar: 1 to ``max_words`` words."""
    prefix, body, closing = _tagged(ROLE_TAGS[role], words(max_words))
    return OutputGrammar(role, prefix, body, closing)


def search_turn_grammar(max_query_words: int = MAX_QUERY_WORDS, max_answer_words: int = MAX_ANSWER_WORDS) -> OutputGrammar:
    """The monolithic agent's turn: one ``<search>`` query or one ``<answer>``, nothing else (no prefix, no reasoning).

    Stricter than :func:`~jade_env.roles.parsers.parse_search_turn`, which also allows reasoning before the element.
    """
    body = alt([seq(Lit("<search>"), words(max_query_words), Lit("</search>")),
                seq(Lit(f"<{ROLE_TAGS['ag']}>"), words(max_answer_words), Lit(f"</{ROLE_TAGS['ag']}>"))])
    return OutputGrammar("agent", "", body, "")


def _subquestion(k: int, question: str, earlier: Sequence[str]) -> Node:
    tag = SUBQUESTION_TAG.format(k)
    return seq(text_differing_from([question, *earlier], None, f"sub{k}"), Lit(f"</{tag}>"))


def subquestions_grammar(role: str, question: str, max_subquestions: int = DEFAULT_MAX_SUBQUESTIONS) -> OutputGrammar:
    """The one-request grammar of a decomposition (every rule but distinct sub-questions; ``complete=False``)."""
    if max_subquestions < 1:
        raise ValueError(f"max_subquestions must be at least 1, got {max_subquestions}")
    tail: Node | None = None
    for k in range(max_subquestions, 1, -1):
        element = seq(Lit(f"<{SUBQUESTION_TAG.format(k)}>"), _subquestion(k, question, ()))
        tail = Repeat(element if tail is None else seq(element, tail), 0, 1)
    first = _subquestion(1, question, ())
    body = first if tail is None else seq(first, tail)
    opening, closing = output_tags(role, max_subquestions)
    return OutputGrammar(role, opening, body, closing, complete=max_subquestions == 1)


def subquestion_step_grammar(role: str, question: str, written: Sequence[str],
                             max_subquestions: int = DEFAULT_MAX_SUBQUESTIONS) -> OutputGrammar:
    """The grammar of the next sub-question of a decomposition, given the sub-questions ``written`` so far.

    Its ``prefix`` is the next opening tag ``<qK>``; its body is a sub-question that differs from the
    question and from every one written, its closing tag, and then (while fewer than
    ``max_subquestions`` are written) optionally the opening tag of the one after. A policy that writes
    ``<q1>`` and then follows these grammars, step after step, until one ends without a further opening
    tag, writes a decomposition the parser accepts.
    """
    k = len(written) + 1
    if k > max_subquestions:
        raise ValueError(f"{len(written)} sub-questions are written; at most {max_subquestions} are allowed")
    body = _subquestion(k, question, written)
    if k < max_subquestions:
        body = seq(body, Repeat(Lit(f"<{SUBQUESTION_TAG.format(k + 1)}>"), 0, 1))
    return OutputGrammar(role, f"<{SUBQUESTION_TAG.format(k)}>", body, f"</{SUBQUESTION_TAG.format(k)}>")


class DecompositionSteps:
    """A decomposition written one sub-question at a time: the grammar of each step, from what was written.

    ``grammar()`` is the current step's grammar (:func:`subquestion_step_grammar`); ``add(segment)``
    records the text the model wrote after that step's prefix and says whether another sub-question
    follows (the segment ends with the next opening tag).
    """

    def __init__(self, role: str, question: str, max_subquestions: int = DEFAULT_MAX_SUBQUESTIONS) -> None:
        self.role, self.question, self.max_subquestions = role, question, max_subquestions
        self.written: list[str] = []

    @classmethod
    def of(cls, observation: Mapping[str, Any], max_subquestions: int | None = None) -> DecompositionSteps:
        """The steps of the decomposition an observation asks for (its limit as in :func:`output_grammar`)."""
        return cls(str(observation.get("role")), str(observation.get("question") or ""), subquestion_limit(observation, max_subquestions))

    def grammar(self) -> OutputGrammar:
        return subquestion_step_grammar(self.role, self.question, self.written, self.max_subquestions)

    def add(self, segment: str) -> bool:
        k = len(self.written) + 1
        close, following = f"</{SUBQUESTION_TAG.format(k)}>", f"<{SUBQUESTION_TAG.format(k + 1)}>"
        content = segment.split(close, 1)[0]
        self.written.append(" ".join(content.split()))
        return segment.endswith(following) and k < self.max_subquestions


def subquestion_limit(observation: Mapping[str, Any], max_subquestions: int | None = None) -> int:
    """``max_subquestions`` of the observation's fields when present, else the keyword, else 4."""
    return int(fields_of(observation).get("max_subquestions") or max_subquestions or DEFAULT_MAX_SUBQUESTIONS)


def output_grammar(observation: Mapping[str, Any], max_subquestions: int | None = None) -> OutputGrammar:
    """The grammar of the acting role's output at this step, from a team env observation.

    Reads ``role``, ``question`` and ``fields`` (``modules`` for the planner, ``documents`` for DS,
    ``max_subquestions`` when present, else the keyword, else 4).
    """
    role = observation.get("role")
    fields = fields_of(observation)
    question = str(observation.get("question") or "")
    if role == "planner":
        return workflow_grammar(fields.get("modules") or MODULE_CODES)
    if role in ("qds", "qdp"):
        return subquestions_grammar(role, question, subquestion_limit(observation, max_subquestions))
    if role == "qr":
        return query_grammar(question)
    if role == "ds":
        return doc_ids_grammar(len(fields.get("documents") or ()))
    if role in ("ag", "as"):
        return answer_grammar(role)
    if role == "agent":
        return search_turn_grammar()
    raise ValueError(f"no output grammar for role {role!r}; expected one of planner, qds, qdp, qr, ds, ag, as, agent")
