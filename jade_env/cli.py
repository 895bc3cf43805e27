"""The ``jade-rag`` command: one entry point for the whole project.

Each subcommand lives in its own module under :mod:`jade_env.commands` (and, for the parts that
import the baselines or the leaderboard, in those packages) and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a callable taking the parsed arguments and returning
the exit status. A :class:`~jade_env.errors.JadeError`, or an ``OSError`` (a file that cannot be read or
written), is printed as one line on stderr with exit status 2, never as a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from jade_env import __version__
from jade_env.errors import JadeError

TYPE_CHECKING = False  # argparse is imported where a parser is built: `jade-rag score ...` needs none (quick_args)
if TYPE_CHECKING:
    import argparse

# Subcommands of jade_env itself (name -> module), in the order ``jade-rag --help`` lists them. Subcommands
# of the baselines and the leaderboard are plug-ins found through the ``jade_rag.commands`` entry points
# (declared in setup.py), so that jade_env never imports the packages built on top of it.
COMMAND_MODULES: dict[str, str] = {
    "score": "jade_env.commands.score",
    "data": "jade_env.commands.data",
    "envs": "jade_env.commands.envs",
    "index": "jade_env.commands.index",
    "serve-retriever": "jade_env.commands.serve_retriever",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or (``only``, one of jade_env's own) of that one alone: then nothing else
    is imported, so ``jade-rag score`` starts as fast as a plain script."""
    import argparse
    import importlib

    parser = argparse.ArgumentParser(
        prog="jade-rag",
        description="Environments, baselines and leaderboard for agentic RAG (JADE, arXiv 2601.21916).",
    )
    parser.add_argument("--version", action="version", version=f"jade-rag {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    if only is not None:
        importlib.import_module(COMMAND_MODULES[only]).register(subparsers)
        return parser
    for name in COMMAND_MODULES.values():
        importlib.import_module(name).register(subparsers)
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group="jade_rag.commands"), key=lambda e: e.name):
        ep.load().register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    args = None
    if first == "score":  # the plain form of the scorer's call, parsed without argparse (same values)
        from jade_env.commands.score import quick_args

        args = quick_args(argv)
    if args is None:
        parser = build_parser(first if first in COMMAND_MODULES else None)
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
    try:
        return int(args.func(args) or 0)
    except JadeError as err:
        print(f"jade-rag {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jade-rag {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # a file or folder that cannot be read or written (full disk, permissions, a file in the path)
        if isinstance(err, BrokenPipeError):
            return 0
        where = f"{err.filename}: " if err.filename else ""
        print(f"jade-rag {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
