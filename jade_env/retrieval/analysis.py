"""Text analysis that follows Lucene's English analyzer, as Anserini/pyserini use it for BM25.

Lucene's chain is StandardTokenizer -> EnglishPossessiveFilter -> LowerCaseFilter -> StopFilter (the
33 English stop words) -> PorterStemFilter. Here: lower case; tokens are runs of letters and digits,
kept together across inner ``.``, ``'`` and ``,`` between digits as UAX#29 does (``u.s.a``,
``3.14``, ``don't``); a trailing ``'s`` is dropped; 1-character tokens are kept (Lucene keeps them);
stop words are removed; Porter stemming (PyStemmer's ``porter``, the same algorithm as Lucene's
PorterStemmer). Document length is the number of tokens left, as Lucene counts positions.
"""

from __future__ import annotations

import re

import Stemmer

LUCENE_STOP_WORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of", "on",
    "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
))
TOKEN = re.compile(r"[^\W_]+(?:[.'’][^\W_]+)*", re.UNICODE)
MAX_QUERY_CHARS = 10_000


class Analyzer:
    """Turns text into terms; caches the stem of every surface word it has seen."""

    def __init__(self) -> None:
        self._stemmer = Stemmer.Stemmer("porter")
        self._cache: dict[str, str | None] = {}

    def _term(self, word: str) -> str | None:
        term = self._cache.get(word)
        if term is None and word not in self._cache:
            w = word.replace("’", "'")
            if w.endswith("'s"):
                w = w[:-2]
            term = None if (not w or w in LUCENE_STOP_WORDS) else self._stemmer.stemWord(w)
            if len(self._cache) < 2_000_000:
                self._cache[word] = term
        return term

    def terms(self, text: str) -> list[str]:
        """The indexed terms of ``text``, in order (stop words removed, stemmed)."""
        out = []
        for word in TOKEN.findall(text.lower()):
            t = self._term(word)
            if t is not None:
                out.append(t)
        return out
