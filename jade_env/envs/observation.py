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
from json.encoder import encode_basestring
from typing import Any

from gymnasium import spaces

from jade_env.envs.kept import KeptByIdentity
from jade_env.errors import JadeError
from jade_env.spaces import UnicodeText
from jade_env.workflow.episode import ActRequest, EpisodeBase

OBS_KEYS: tuple[str, ...] = ("role", "system", "user", "question", "fields")
CUT_MARKER = "\n[... cut to max_text_length ...]"
#: the smallest allowed ``max_text_length``: room for a role name and an empty ``fields`` object
MIN_TEXT_LENGTH = 16
ROLE_LENGTH = 16
#: ``json.dumps(value, ensure_ascii=False)``, without building an encoder at every call (the same settings, the same text)
to_json = json.JSONEncoder(ensure_ascii=False).encode
#: the keys of the team's fields (:func:`jade_env.roles.prompts.view_fields`), in their order
TEAM_FIELD_KEYS = ("original_question", "documents", "history", "modules", "depth", "max_subquestions")
_DOCUMENT_KEYS = ("id", "title", "text")


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


class FieldsEncoder:
    """``json.dumps(fields, ensure_ascii=False)``, the same text, faster for the team's fields.

    A retrieved passage is shown again and again (to DS then AG, to every episode on the same question), and its
    text is most of the JSON: the JSON of each document is kept (by passage id, checked against the title and
    text, at most ``cache_size`` of them) and joined. Any other fields (another schema, other types) take
    ``json.dumps``'s own path.
    """

    def __init__(self, cache_size: int = 4096) -> None:
        self.cache_size = cache_size
        self._documents: dict[str, tuple[str, str, str]] = {}  # passage id -> (title, text, its JSON)

    def __call__(self, fields: Any) -> str:
        if type(fields) is not dict or tuple(fields) != TEAM_FIELD_KEYS:
            return to_json(fields)
        question, documents, depth, limit = fields["original_question"], fields["documents"], fields["depth"], fields["max_subquestions"]
        if type(question) is not str or type(documents) is not list or type(depth) is not int or type(limit) is not int:
            return to_json(fields)
        parts = []
        for d in documents:
            part = self._document(d)
            if part is None:
                return to_json(fields)
            parts.append(part)
        history, modules = fields["history"], fields["modules"]
        return (f'{{"original_question": {encode_basestring(question)}, "documents": [{", ".join(parts)}], '
                f'"history": {to_json(history) if history else "[]"}, "modules": {to_json(modules) if modules else "[]"}, '
                f'"depth": {depth}, "max_subquestions": {limit}}}')

    def _document(self, d: Any) -> str | None:
        """The JSON of one document of the fields (None: not a plain ``{id, title, text}`` of strings)."""
        if type(d) is not dict or tuple(d) != _DOCUMENT_KEYS:
            return None
        pid, title, text = d["id"], d["title"], d["text"]
        if type(pid) is not str or type(title) is not str or type(text) is not str:
            return None
        cached = self._documents.get(pid)
        if cached is not None and cached[1] == text and cached[0] == title:
            return cached[2]
        part = f'{{"id": {encode_basestring(pid)}, "title": {encode_basestring(title)}, "text": {encode_basestring(text)}}}'
        if len(self._documents) >= self.cache_size:
            self._documents.clear()
        self._documents[pid] = (title, text, part)
        return part


def bounded_json(fields: Any, limit: int, encode: Any = to_json) -> str:
    """``fields`` as JSON of at most ``limit`` characters (see the module docstring); ``"{}"`` at worst.
    ``encode`` gives the JSON text of the whole ``fields`` (``json.dumps``'s, or a :class:`FieldsEncoder`)."""
    text = encode(fields)
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
    """Renders the observation of an episode's pending request, once per request (the executor and the step share it).

    Observations are kept by request: those of shared requests (:attr:`ActRequest.shared`, asked again by every episode
    on the same question) in a large cache, the others (asked once, by one episode) in a small one, so that one-off
    requests never push out the shared ones.
    """

    def __init__(self, max_text_length: int) -> None:
        self.max_text_length = check_text_length(max_text_length)
        self.encode_fields = FieldsEncoder()
        self._shared, self._recent = KeptByIdentity(4096), KeptByIdentity(64)  # request -> its observation

    def __call__(self, episode: EpisodeBase | None) -> dict[str, str]:
        pending = episode.pending if episode is not None else None
        if not isinstance(pending, ActRequest):
            question = episode.example.question if episode is not None else ""
            return {"role": "", "system": "", "user": "", "question": cut(question, self.max_text_length), "fields": "{}"}
        kept = self._shared if pending.shared else self._recent
        obs = kept.get(pending)
        if obs is None:
            limit = self.max_text_length
            obs = {
                "role": pending.role,
                "system": cut(pending.system, limit),
                "user": cut(pending.user, limit),
                "question": cut(pending.question, limit),
                "fields": bounded_json(pending.fields, limit, self.encode_fields),
            }
            kept.put(pending, obs)
        return obs.copy()

    def __deepcopy__(self, memo: dict) -> ObservationRenderer:
        return ObservationRenderer(self.max_text_length)
