"""Values kept per object, by identity: what the observation renderer and the info builder keep between steps."""

from __future__ import annotations

from typing import Any


class KeptByIdentity:
    """At most ``size`` values, each kept for one object (by ``id``, the object held too so that its id is not reused
    while kept); emptied when full. For objects that are never changed (requests, examples)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: dict[int, tuple[Any, Any]] = {}  # id(owner) -> (owner, value)

    def get(self, owner: Any) -> Any:
        """The value kept for ``owner`` (None when there is none)."""
        kept = self._kept.get(id(owner))
        return kept[1] if kept is not None and kept[0] is owner else None

    def put(self, owner: Any, value: Any) -> None:
        if len(self._kept) >= self.size:
            self._kept.clear()
        self._kept[id(owner)] = (owner, value)
