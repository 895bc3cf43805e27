"""Grammar-constrained HF generation: the role grammars of :mod:`jade_env.roles.grammars` through xgrammar.

Why xgrammar (0.2.9 measured here, with torch 2.13.0+cpu and transformers 5.24): it reads the grammars'
GBNF form (rules, so the word-by-word "differs from the question" construction has no nesting limit),
compiles a role grammar for SmolLM2's 49,152-token vocabulary in about 1 ms (answers, ids, workflows) to
1-2 s (the query grammar of a 170-character question, on a loaded 2-core machine), computes each step's
token mask in C++ (well under a millisecond), takes one grammar per batch row, and ships a
``transformers`` logits processor (``xgrammar.contrib.hf.LogitsProcessor``). It is also vLLM's default
structured-output back end, so a local HF policy and a vLLM server enforce the same grammar text in the
same way. It installs from PyPI next to the pinned CPU torch without pulling another torch (it pulls
triton, unused on a CPU). The alternatives, tried on the same grammars: outlines-core 0.2.14 (outlines
1.3.3's regex engine) had not finished building the index of one query grammar after five minutes (it
expands the wide Unicode classes into a byte-level automaton), and lm-format-enforcer 0.11.3's
transformers integration does not import with transformers 5 (``PreTrainedTokenizerBase`` moved).

:class:`GrammarConstraint` holds the tokenizer's xgrammar description and compiler (built once per
tokenizer) and a cache of compiled grammars keyed by their text; :meth:`GrammarConstraint.processor`
gives a fresh logits processor for one ``generate`` call (xgrammar's processor is single-use).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from jade_env.errors import JadeError


def _xgrammar():
    try:
        import xgrammar
    except ImportError:
        raise JadeError("grammar-constrained decoding needs xgrammar: pip install -e '.[llm]' "
                        "(or constrain=False for unconstrained decoding)") from None
    return xgrammar


class GrammarConstraint:
    """Compile GBNF (or regex) grammars for one tokenizer and make xgrammar logits processors."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: Sequence[int], cache_size: int = 256,
                 threads: int = 1) -> None:
        xgr = _xgrammar()
        self.xgr = xgr
        self.info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=list(stop_token_ids))
        self.compiler = xgr.GrammarCompiler(self.info, max_threads=threads, cache_enabled=False)
        self.cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self.cache_size = cache_size

    def compile(self, text: str, kind: str = "gbnf") -> Any:
        """A compiled grammar (``kind`` ``gbnf`` or ``regex``), from the cache when the same text was compiled."""
        key = (kind, text)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        try:
            compiled = self.compiler.compile_grammar(text) if kind == "gbnf" else self.compiler.compile_regex(text)
        except RuntimeError as err:
            raise JadeError(f"xgrammar cannot compile the {kind} grammar ({str(err).splitlines()[0][:200]})") from None
        self.cache[key] = compiled
        if len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return compiled

    def processor(self, compiled: Sequence[Any]) -> Any:
        """A logits processor for one ``generate`` call, with one compiled grammar per batch row."""
        from xgrammar.contrib.hf import LogitsProcessor

        return LogitsProcessor(list(compiled))
