"""Stable content hashes for corpora and loaded splits, so a result names exactly what it ran on.

Recipe (version 1), documented so anyone can recompute it without this package:

* corpus hash: SHA-256 of the UTF-8 bytes of ``"jade-corpus-v1\\n"`` followed, for every passage in
  corpus order, by ``json.dumps([id, title, text], ensure_ascii=False, separators=(",", ":"))`` and a
  newline. Hex digest, all 64 characters.
* split hash: SHA-256 of ``"jade-split-v1\\n"`` followed, for every example in order, by
  ``json.dumps([id, question, list(answers)], ensure_ascii=False, separators=(",", ":"))`` and a newline.

Only the fields that change what is asked or what is scored enter the split hash: reordering,
adding or dropping a question, or changing an answer alias changes it; re-saving the same data
in another file format does not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from jade_env.data.types import Example, Passage

CORPUS_HASH_PREFIX = b"jade-corpus-v1\n"
SPLIT_HASH_PREFIX = b"jade-split-v1\n"


def _line(fields: list) -> bytes:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def corpus_hash(passages: Iterable[Passage]) -> str:
    """The version-1 content hash of a corpus (see the module docstring), streamed."""
    h = hashlib.sha256(CORPUS_HASH_PREFIX)
    for p in passages:
        h.update(_line([p.id, p.title, p.text]))
    return h.hexdigest()


def split_hash(examples: Iterable[Example]) -> str:
    """The version-1 content hash of a loaded split (see the module docstring)."""
    h = hashlib.sha256(SPLIT_HASH_PREFIX)
    for e in examples:
        h.update(_line([e.id, e.question, list(e.answers)]))
    return h.hexdigest()
