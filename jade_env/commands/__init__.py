"""Subcommands of ``jade-rag``: one module each, with ``register(subparsers)``."""
