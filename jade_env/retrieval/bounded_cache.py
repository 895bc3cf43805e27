"""``ByteBoundedDict``: a memo whose memory is bounded in bytes, not in entries.

A memo keyed by text from outside (the analyzer's word -> stem cache, fed by every query a server
receives) grows by the bytes of the words it is given: capped by entry count, 2,000,000 entries of
10,000-character words would be 20 GB. This dict counts ``sys.getsizeof`` of every new key and value
plus the slot it takes, and empties itself when the next entry would pass ``max_bytes`` (a memo loses
nothing but speed when emptied; clearing in one go keeps the hot path a plain dict lookup, where an
LRU would have to touch every hit). ``clears`` counts how often that happened.

It is a ``dict``: ``get``, ``in`` and ``d[key] = value`` work unchanged, so it drops into code that
holds a plain dict memo. Deletions are not credited back (memos do not delete).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

#: what one entry costs beyond its key and value: the hash table's entry (hash, key, value: 24 bytes),
#: its index slot and the spare room of a table that doubles when two thirds full
ENTRY_OVERHEAD = 56


class ByteBoundedDict(dict):
    """A dict that empties itself rather than grow past ``max_bytes`` (see the module docstring)."""

    __slots__ = ("max_bytes", "bytes", "clears")

    def __init__(self, max_bytes: int, items: Iterable[tuple[Any, Any]] = ()) -> None:
        super().__init__()
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.max_bytes, self.bytes, self.clears = int(max_bytes), 0, 0
        for key, value in items:
            self[key] = value

    def __setitem__(self, key: Any, value: Any) -> None:
        if key not in self:
            size = sys.getsizeof(key) + (0 if value is None else sys.getsizeof(value)) + ENTRY_OVERHEAD
            if self.bytes + size > self.max_bytes:
                self.clear()
            self.bytes += size
        super().__setitem__(key, value)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        super().clear()
        self.bytes = 0
        self.clears += 1

    def __reduce__(self):
        return (ByteBoundedDict, (self.max_bytes, list(self.items())))
