"""Run folders that survive a kill, a bad line and a second writer.

A run folder (``jade-rag evaluate --out``, ``baselines.train --out``) is written by one process at a time
and read back on every rerun. Four pieces make that safe:

* :class:`RunLock`: an exclusive ``fcntl.flock`` on ``run.lock`` in the folder, which holds the holder's
  pid. A second writer gets one :class:`~jade_env.errors.JadeError` naming the folder and the pid. The
  kernel drops the lock when its process dies, so a lock left by a killed run is taken over (with a
  warning naming the dead pid); the file itself stays, emptied on release, so no two processes can ever
  hold locks on two different files of the same name.
* :func:`atomic_file` / :func:`atomic_write`: write a temporary file beside the target, ``fsync`` it,
  ``os.replace`` it over the target and ``fsync`` the folder. A kill at any moment leaves either the old
  file or the new one, never a torn one (checkpoints, ``config.json``, ``metrics.json``).
* :func:`json_line`: one JSON line that can always be written as UTF-8: ``ensure_ascii=False``, unless the
  text holds a lone surrogate (which UTF-8 cannot encode), and then ``\\uXXXX`` escapes, which read back to
  the same string.
* :func:`resume_jsonl`: the lines of an append-only JSONL file read back for a resume: every valid line is
  kept, in order; every bad one (not JSON, not an object, failing the caller's check, a repeated id, a
  torn last line) is moved byte for byte to ``<file>.rejected`` and counted in one warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from jade_env.errors import JadeError

LOCK_NAME = "run.lock"
_TMP = re.compile(r"\.(\d+)\.tmp$")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` only when the block ends without an exception (then fsynced)."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Replace ``path`` by ``data`` (text is written as UTF-8) so that a kill leaves the old or the new content."""
    with atomic_file(path) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


def json_line(obj: Any) -> str:
    """``obj`` as one JSON line (with its newline) that UTF-8 can encode whatever strings it holds."""
    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escape everything non-ASCII; json.loads gives the same object back
        text = json.dumps(obj)
    return text + "\n"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """``with RunLock(folder, "evaluate"):`` the one writer of ``folder``; a second one gets a JadeError at once."""

    def __init__(self, folder: str | os.PathLike, what: str = "a run") -> None:
        self.folder, self.what = Path(folder), what
        self.path = self.folder / LOCK_NAME
        self._file: IO[str] | None = None

    def __enter__(self) -> RunLock:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            f = self.path.open("a+", encoding="utf-8")
        except OSError as err:
            raise JadeError(f"{self.folder}: cannot write a run folder here ({err.strerror}); expected a writable folder") from None
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = _describe(f.read())
            f.close()
            raise JadeError(f"{self.folder} is in use by {holder}; wait for it to finish, or use another output folder") from None
        f.seek(0)
        previous = f.read().strip()
        if previous:
            warnings.warn(f"{self.path}: taking over the lock of {_describe(previous)}, which ended without releasing it "
                          "(killed?); its complete lines are kept", UserWarning, stacklevel=2)
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "what": self.what,
                            "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
        f.flush()
        self._file = f
        self._remove_stale_temporaries()
        return self

    def _remove_stale_temporaries(self) -> None:
        """Temporary files of writers that died mid-write (we hold the lock, so no live writer owns one)."""
        for tmp in self.folder.glob("*.tmp"):
            m = _TMP.search(tmp.name)
            if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
                tmp.unlink(missing_ok=True)

    def __exit__(self, *exc: object) -> None:
        f, self._file = self._file, None
        if f is None:
            return
        f.seek(0)
        f.truncate()
        f.flush()
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()


def _describe(holder: str) -> str:
    try:
        info = json.loads(holder)
        return f"{info['what']} (pid {info['pid']} on {info['host']}, since {info['since']})"
    except (ValueError, KeyError, TypeError):
        return "another process"


def resume_jsonl(path: str | os.PathLike, record_id: Callable[[Any], str]) -> dict[str, tuple[bytes, Any]]:
    """id -> (line, record) of every valid line of ``path``, in file order; bad lines go to ``<path>.rejected``.

    ``record_id(record)`` returns the record's id or raises ``ValueError`` saying what is wrong with it.
    The file is rewritten (atomically) without the bad lines, and one ``UserWarning`` says how many were
    moved, where, and why the first few were refused.
    """
    path = Path(path)
    kept: dict[str, tuple[bytes, Any]] = {}
    rejected: list[tuple[int, bytes, str]] = []
    if not path.exists():
        return kept
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                if not raw.endswith(b"\n"):
                    raise ValueError("torn last line (no newline: the writer was killed mid-line)")
                record = json.loads(raw.removeprefix(b"\xef\xbb\xbf") if lineno == 1 else raw)
                if not isinstance(record, dict):
                    raise ValueError(f"a JSON {type(record).__name__}, not an object")
                qid = record_id(record)
                if qid in kept:
                    raise ValueError(f"a second line for id {qid!r} (the first is kept)")
            except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                rejected.append((lineno, raw if raw.endswith(b"\n") else raw + b"\n", str(err)))
                continue
            kept[qid] = (raw, record)
    if rejected:
        reject_lines(path, [raw for _, raw, _ in rejected])
        atomic_write(path, b"".join(raw for raw, _ in kept.values()))
        shown = "; ".join(f"line {n}: {why}" for n, _, why in rejected[:3]) + (" ..." if len(rejected) > 3 else "")
        warnings.warn(f"{path}: {len(rejected)} bad line(s) moved to {path.name}.rejected, {len(kept)} kept ({shown})",
                      UserWarning, stacklevel=2)
    return kept


def reject_lines(path: Path, lines: list[bytes]) -> None:
    """Append ``lines`` to ``<path>.rejected`` (fsynced: they were removed from ``path``)."""
    with Path(f"{path}.rejected").open("ab") as f:
        f.write(b"".join(lines))
        f.flush()
        os.fsync(f.fileno())


def config_differences(held: Any, now: dict[str, Any], label: Callable[[str], str] = str) -> str:
    """How the config a run folder holds differs from this run's, setting by setting ("agent: 'a' there, 'b' now; ..."),
    each setting named by ``label`` (the option that sets it)."""
    held = held if isinstance(held, dict) else {}
    keys = [*now, *(k for k in held if k not in now)]
    return "; ".join(f"{label(k)}: {held.get(k)!r} there, {now.get(k)!r} now" for k in keys if held.get(k) != now.get(k)) \
        or "other keys"
