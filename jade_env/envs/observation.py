"""What a policy sees: the observation of an episode's pending request, within the declared space.

Every observation is a dict of five strings (:data:`OBS_KEYS`), the same keys at every step:
``role`` (the acting role, ``""`` when the episode is over), ``system`` and ``user`` (the role's prompt),
``question`` (the current target question) and ``fields`` (the same content as JSON).

Bounds: every text is at most ``max_text_length`` characters. A longer ``system``, ``user`` or ``question``
is cut, with a marker when the marker fits. ``fields`` is always valid JSON: when it would be too long, the
strings inside it (passage texts first, being the longest) are shortened, then trailing list items are
dropped, never the JSON text itself.
"""

from __future__ import annotations

import json
from typing import Any

from gymnasium import spaces

from jade_env.errors import JadeError
from jade_env.json_text import to_json
from jade_env.spaces import UnicodeText
from jade_env.workflow.episode import ActRequest, EpisodeBase

OBS_KEYS: tuple[str, ...] = ("role", "system", "user", "question", "fields")
CUT_MARKER = "\n[... cut to max_text_length ...]"
#: the smallest allowed ``max_text_length``: room for a role name and an empty ``fields`` object
MIN_TEXT_LENGTH = 16
ROLE_LENGTH = 16


def observation_space(max_text_length: int) -> spaces.Dict:
    """The observation space of every JadeRAG env: five bounded Unicode texts."""
    text = UnicodeText(max_text_length)
    return spaces.Dict({k: (UnicodeText(ROLE_LENGTH) if k == "role" else text) for k in OBS_KEYS})


def check_text_length(max_text_length: Any) -> int:
    if isinstance(max_text_length, bool) or not isinstance(max_text_length, int) or max_text_length < MIN_TEXT_LENGTH:
        raise JadeError(f"max_text_length must be an integer >= {MIN_TEXT_LENGTH}, got {max_text_length!r}")
    return max_text_length


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, ending in :data:`CUT_MARKER` when it was cut and the marker fits."""
    if len(text) <= limit:
        return text
    if limit <= 2 * len(CUT_MARKER):
        return text[:limit]
    return text[: limit - len(CUT_MARKER)] + CUT_MARKER


def bounded_json(fields: Any, limit: int) -> str:
    """``fields`` as JSON of at most ``limit`` characters (see the module docstring); ``"{}"`` at worst."""
    text = to_json(fields)
    if len(text) <= limit:
        return text
    lo, hi = 0, max(_longest_string(fields), 1)  # the largest cap on every string that still fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(json.dumps(_cap_strings(fields, mid), ensure_ascii=False)) <= limit:
            lo = mid
        else:
            hi = mid - 1
    capped = _cap_strings(fields, lo)
    text = json.dumps(capped, ensure_ascii=False)
    while len(text) > limit and _drop_last_item(capped):
        text = json.dumps(capped, ensure_ascii=False)
    return text if len(text) <= limit else "{}"


def _longest_string(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return max((_longest_string(v) for v in value.values()), default=0)
    if isinstance(value, list | tuple):
        return max((_longest_string(v) for v in value), default=0)
    return 0


def _cap_strings(value: Any, cap: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= cap else value[: max(cap - 1, 0)] + "…"
    if isinstance(value, dict):
        return {k: _cap_strings(v, cap) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cap_strings(v, cap) for v in value]
    return value


def _drop_last_item(fields: dict[str, Any]) -> bool:
    """Remove the last item of the longest list in ``fields``; False when no list has items left."""
    lists = [v for v in fields.values() if isinstance(v, list) and v]
    if not lists:
        return False
    max(lists, key=lambda v: len(json.dumps(v, ensure_ascii=False))).pop()
    return True


class ObservationRenderer:
    """Renders the observation of an episode's pending request within ``max_text_length`` (the executor and the step
    both ask for it; a request's texts are made once by the episode, so rendering is choosing or cutting them)."""

    def __init__(self, max_text_length: int) -> None:
        self.max_text_length = check_text_length(max_text_length)

    def __call__(self, episode: EpisodeBase | None) -> dict[str, str]:
        pending = episode.pending if episode is not None else None
        limit = self.max_text_length
        if type(pending) is not ActRequest:
            question = episode.example.question if episode is not None else ""
            return {"role": "", "system": "", "user": "", "question": cut(question, limit), "fields": "{}"}
        system, user, question, fields = pending.system, pending.user, pending.question, pending.fields
        if len(system) > limit or len(user) > limit or len(question) > limit or len(fields) > limit:
            system, user, question = cut(system, limit), cut(user, limit), cut(question, limit)
            fields = bounded_json(json.loads(fields), limit)
        return {"role": pending.role, "system": system, "user": user, "question": question, "fields": fields}
