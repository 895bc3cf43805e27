"""The roles of the JADE team: their ids, their prompts and one parser per output tag.

``planner`` chooses a workflow; the executors are ``qds`` (serial decomposition), ``qdp`` (parallel
decomposition), ``qr`` (query rewriting), ``ds`` (document selection), ``ag`` (answer generation)
and ``as`` (answer summarisation). Retrieval (``R``) belongs to the environment, not to an agent.
"""

from jade_env.roles.ids import (
    DIRECT_ORDER,
    MODULE_CODES,
    ROLES,
    SUB_MODULES,
    TOP_LEVEL_WORKFLOWS,
)

__all__ = [
    "DIRECT_ORDER",
    "MODULE_CODES",
    "ROLES",
    "SUB_MODULES",
    "TOP_LEVEL_WORKFLOWS",
]
