"""Text spaces that hold real text.

Gymnasium's :class:`~gymnasium.spaces.Text` accepts only characters of its charset (alphanumeric by
default: no space, no punctuation), so a real prompt is "not within the observation space".
:class:`UnicodeText` accepts any Unicode string up to ``max_length`` characters; it samples from
printable ASCII plus a few non-ASCII letters, so random actions exercise more than the happy path.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.spaces import Text

SAMPLE_CHARSET = string.printable + "éüßøçñ–—“”‘’…€中文Ωπ"


class UnicodeText(Text):
    """A :class:`~gymnasium.spaces.Text` that contains any ``str`` of ``min_length..max_length`` characters."""

    def __init__(self, max_length: int, *, min_length: int = 0, seed: Any = None) -> None:
        super().__init__(max_length, min_length=min_length, charset=SAMPLE_CHARSET, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, UnicodeText) and (self.min_length, self.max_length) == (other.min_length, other.max_length)

    def __hash__(self) -> int:
        return hash((UnicodeText, self.min_length, self.max_length))


# ---------------------------------------------------------------------------------------------------
# AsyncVectorEnv's shared memory: Gymnasium stores Text as charset indices, which would drop every
# character outside the charset. UnicodeText is stored as Unicode code points, terminated by -1.
from gymnasium.vector.utils.shared_memory import (  # noqa: E402
    create_shared_memory,
    read_from_shared_memory,
    write_to_shared_memory,
)


@create_shared_memory.register(UnicodeText)
def _create_unicode_shared_memory(space: UnicodeText, n: int = 1, ctx: Any = None):
    import multiprocessing as mp

    return (ctx or mp).Array(np.dtype(np.int32).char, n * (space.max_length + 1))


class SharedTextView(Sequence):
    """The strings of ``n`` sub-envs in shared memory, decoded when read.

    Gymnasium reads the shared observation buffer once, when the vector env is built, and hands out
    (deep copies of) that object at every step; for ``Text`` it builds a tuple of the *initial* strings,
    which never changes. This view decodes the current buffer on each access, and a deep copy (what
    ``AsyncVectorEnv(copy=True)`` returns) is a plain tuple of the current strings.
    """

    def __init__(self, shared_memory: Any, n: int, size: int) -> None:
        self._data = np.frombuffer(shared_memory.get_obj(), dtype=np.int32).reshape((n, size))

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return tuple(self)[i]
        row = self._data[i]
        end = int(np.argmax(row < 0))
        return row[:end].astype(np.uint32).tobytes().decode("utf-32-le", "surrogatepass")

    def __deepcopy__(self, memo: dict) -> tuple[str, ...]:
        return tuple(self)

    def __eq__(self, other: object) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, Sequence) else other)

    def __repr__(self) -> str:
        return repr(tuple(self))


@read_from_shared_memory.register(UnicodeText)
def _read_unicode_from_shared_memory(space: UnicodeText, shared_memory: Any, n: int = 1) -> SharedTextView:
    return SharedTextView(shared_memory, n, space.max_length + 1)


@write_to_shared_memory.register(UnicodeText)
def _write_unicode_to_shared_memory(space: UnicodeText, index: int, values: str, shared_memory: Any) -> None:
    size = space.max_length + 1
    destination = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)
    codes = np.frombuffer(values[: space.max_length].encode("utf-32-le", "surrogatepass"), dtype=np.int32)
    destination[index * size: index * size + len(codes)] = codes
    destination[index * size + len(codes)] = -1
