"""Text spaces that hold real text.

Gymnasium's :class:`~gymnasium.spaces.Text` accepts only characters of its charset (alphanumeric by
default: no space, no punctuation), so a real prompt is "not within the observation space".
:class:`UnicodeText` accepts any Unicode string up to ``max_length`` characters; it samples from
printable ASCII plus a few non-ASCII letters, so random actions exercise more than the happy path.
"""

from __future__ import annotations

import string
from typing import Any

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
