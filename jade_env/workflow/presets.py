"""Settings presets of the team environment: the paper's setting, and what the JADE authors' released code does.

``preset="paper"`` (the default) is the setting of arXiv 2601.21916 as docs/environment.md states it.
``preset="authors_code"`` is what the released training code (github.com/chenyiqun/JADE, ``ray_trainer.py``
and ``qa_manager/``) does differently, read from that code:

==============================  =============  ==================  ===============================================
keyword                         paper          authors_code        the released code
==============================  =============  ==================  ===============================================
``few_shot``                    False          True                every role's prompt carries worked examples
``rewrite_every_subquestion``   False          True                QR rewrites every serial sub-question, the first
                                                                   included (here: from the second on)
``rewrite_replaces_question``   False          True                a direct chain's QR output replaces the question
                                                                   for DS and AG (here: they see the question)
``sub_workflow``                None           ``"R,DS,AG"``       every sub-question runs R,DS,AG (the sub-planner
                                                                   is still asked there, its choice overridden)
``reward``                      ``"jade"``     ``"jade_broadcast"``  -2 format penalty, EM on yes/no golds, reward
                                                                   on every transition, turn cost
                                                                   ``min(turns - 1, 3) / 3`` (``free_rounds=1``)
``strict_doc_ids``              False          True                ``Document0,Document3`` with no white space
==============================  =============  ==================  ===============================================

Any keyword given explicitly wins over its preset's value, so each difference can be ablated alone
(``preset="authors_code", rewrite_replaces_question=False``).

Not reproduced: the released prompts open with a scripted assistant turn ("Okay, I will return ... inside
<query>...</query> tags") between the system and the user message. An observation here has one system
and one user text; the language-model policies prefill the opening tag instead (``prefill=True``, their
default), which puts the model inside the tag as that turn is meant to. The sub-planner's overridden
choice is not asked for either (its turns trained only a format penalty in the released code).
"""

from __future__ import annotations

from typing import Any

#: every preset's value of each keyword it sets (``None`` in a caller's keyword means "the preset's")
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "few_shot": False,
        "rewrite_every_subquestion": False,
        "rewrite_replaces_question": False,
        "sub_workflow": None,
        "reward": "jade",
        "strict_doc_ids": False,
    },
    "authors_code": {
        "few_shot": True,
        "rewrite_every_subquestion": True,
        "rewrite_replaces_question": True,
        "sub_workflow": "R,DS,AG",
        "reward": "jade_broadcast",
        "strict_doc_ids": True,
    },
}


def resolve_preset(preset: str, **given: Any) -> dict[str, Any]:
    """The keywords of ``preset`` with every one the caller gave (not None) in its place."""
    if preset not in PRESETS:
        raise ValueError(f"preset {preset!r} is unknown; expected one of {', '.join(PRESETS)}")
    unknown = set(given) - set(PRESETS[preset])
    if unknown:
        raise ValueError(f"resolve_preset got keywords no preset sets: {sorted(unknown)}")
    return {name: value if given.get(name) is None else given[name] for name, value in PRESETS[preset].items()}
