"""Role ids, module codes and the eight top-level workflows (docs/environment.md, "Roles")."""

from __future__ import annotations

#: agent ids, in the order PettingZoo lists them
ROLES: tuple[str, ...] = ("planner", "qds", "qdp", "qr", "ds", "ag", "as")

#: the module codes a planner may use; R (retrieval) is run by the environment itself
MODULE_CODES: tuple[str, ...] = ("QR", "QDS", "QDP", "R", "DS", "AG")

#: a direct (non-decomposing) workflow is a sub-sequence of this order that ends in AG
DIRECT_ORDER: tuple[str, ...] = ("QR", "R", "DS", "AG")
#: modules allowed below the decomposition depth (sub-questions are never decomposed again)
SUB_MODULES: frozenset[str] = frozenset(DIRECT_ORDER)

#: the 8 valid top-level choices, in a fixed order (the planner's Discrete(8) index in wrappers)
TOP_LEVEL_WORKFLOWS: tuple[tuple[str, ...], ...] = (
    ("AG",),
    ("R", "AG"),
    ("R", "DS", "AG"),
    ("QR", "AG"),
    ("QR", "R", "AG"),
    ("QR", "R", "DS", "AG"),
    ("QDS",),
    ("QDP",),
)
