"""Errors a user can act on.

Every error raised on bad user input derives from :class:`JadeError`. Its message says what was
wrong, where (file, line, record or field) and what was expected, in one line. The ``jade-rag``
command prints that line and exits with status 2; it never shows a traceback for a ``JadeError``.
"""

from __future__ import annotations


class JadeError(Exception):
    """Base class of every error caused by user input (files, arguments, requests)."""


class DataFormatError(JadeError, ValueError):
    """A data file (questions, corpus, predictions) is unreadable or not in the expected format."""


class DatasetUnavailableError(JadeError, FileNotFoundError):
    """A dataset was asked for by name, but no local file is given and the hub cannot be reached."""


class RetrievalError(JadeError, RuntimeError):
    """A retriever cannot be built, loaded or reached."""


def boolean_option(text: str) -> bool:
    """A command-line yes/no value (``argparse``'s ``type=bool`` would take "false" as True)."""
    import argparse

    value = text.strip().lower()
    if value not in ("1", "0", "true", "false", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value in ("1", "true", "yes")


def json_object(text: str, name: str) -> dict:
    """``text`` (a command-line option called ``name``) as a JSON object, or one error saying what was wrong."""
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise JadeError(f"{name} is not valid JSON ({err.msg} at character {err.pos}); expected an object such as "
                        '\'{"data_path": "dev.json"}\'') from None
    if not isinstance(value, dict):
        raise JadeError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def output_folder(path: object, option: str = "--out") -> None:
    """One error when ``path``, given as ``option``, cannot be a folder: it names a file (a file is never replaced), or the
    nearest part of it that exists is a file or a folder this user cannot write in. Nothing is created."""
    import os
    from pathlib import Path

    if path is None:
        return
    target = Path(str(path))
    if target.exists() and not target.is_dir():
        raise JadeError(f"{option} {path}: is a file; expected a folder (it is created when missing)")
    existing = next((p for p in (target, *target.absolute().parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise JadeError(f"{option} {path}: {existing} is a file, so the folder cannot be created there")
    if existing is not None and existing != target and not os.access(existing, os.W_OK | os.X_OK):
        raise JadeError(f"{option} {path}: cannot create the folder in {existing} (no permission to write there)")


def json_problem(err: ValueError) -> str:
    """What a ``json.JSONDecodeError`` found, and at which column ("Unterminated string starting at column 31"); its
    ``msg`` alone ends in a dangling "at" for some errors."""
    msg, colno = getattr(err, "msg", str(err)), getattr(err, "colno", None)
    return f"{msg.removesuffix(' at')} at column {colno}" if colno is not None else msg
