"""``JsonlPassages``: a JSONL corpus read row by row at byte offsets, never loaded whole.

A dense index built by Search-R1 or FlashRAG names passages by their row: vector ``i`` is the ``i``-th
record of the corpus JSONL (``{"id", "contents"}``, ``contents`` = ``"Title"\\ntext`` in their
Wikipedia-2018 dump; FlashRAG reads ``text`` when there is no ``contents``). Both load that JSONL
whole (``datasets.load_dataset("json")``): 21M passages, about 14 GB. Here the file is memory-mapped
and the start of every record sits in an ``int64`` array (8 bytes a passage, 168 MB for 21M), also
memory-mapped, so a search reads only the rows it returns and the memory the corpus costs is the
pages the operating system chooses to keep.

The offsets are found once, with numpy over the mapped file in 64 MiB chunks, and saved beside a
small manifest (file size, modification time, row count, corpus hash) in the cache folder; a
manifest that does not match the file, or offsets that are not increasing and inside it, are
rebuilt. Blank lines are skipped, as ``datasets`` skips them. ``hash`` is the corpus hash of
:mod:`jade_env.data.hashing` (the same as :class:`~jade_env.data.corpora.ExternalCorpus` gives for the
file), computed in that first pass and kept in the manifest: opening a known file costs no read of it.

A passage's id is the record's ``id`` (its row number when there is none), its title and text are
``title``/``text`` when the record has them, else ``contents`` split at the first newline, with the
quotes of a quoted title removed.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from jade_env.data.hashing import corpus_hash
from jade_env.data.types import Passage
from jade_env.errors import DataFormatError

FORMAT = "jade-jsonl-offsets-v1"
_CHUNK = 64 << 20
_WHITESPACE = frozenset(b" \t\r\n\f\v")


def split_contents(contents: str) -> tuple[str, str]:
    """``"title\\ntext"`` -> (title, text); a title in double quotes (the Wikipedia-2018 dump's) loses them."""
    title, _, text = contents.partition("\n")
    if len(title) >= 2 and title[0] == title[-1] == '"':
        title = title[1:-1]
    return title, text


def passage_of(record: object, row: int, where: str) -> Passage:
    """The passage of one JSONL record (see the module docstring), or a DataFormatError naming ``where``."""
    if not isinstance(record, dict):
        raise DataFormatError(f"{where}: expected a JSON object with \"contents\", got {type(record).__name__}")
    contents = record.get("contents", record.get("text") if "title" not in record else None)
    pid = record.get("id", row)
    if "title" in record:
        title, text = record["title"], record.get("text", contents)
    elif isinstance(contents, str):
        title, text = split_contents(contents)
    else:
        raise DataFormatError(f"{where}: expected a JSON object with a string \"contents\" (or \"title\" and \"text\")")
    if not isinstance(title, str) or not isinstance(text, str) or isinstance(pid, bool) or not isinstance(pid, str | int):
        raise DataFormatError(f"{where}: \"id\" must be a string or integer and \"title\"/\"text\" strings")
    return Passage(str(pid), title, text)


def titles_quoted(path: str | os.PathLike, sample: int = 100) -> bool:
    """Whether the corpus file writes its titles in double quotes (``"Title"\\ntext``), judged on its first records."""
    seen = quoted = 0
    try:
        with open(path, "rb") as f:
            for line in f:
                if seen >= sample:
                    break
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    return False
                contents = record.get("contents") if isinstance(record, dict) else None
                if not isinstance(contents, str):
                    return False
                title = contents.partition("\n")[0]
                seen += 1
                quoted += len(title) >= 2 and title[0] == title[-1] == '"'
    except OSError:
        return False
    return seen > 0 and quoted == seen


def _find_offsets(view: mmap.mmap | bytes, size: int) -> np.ndarray:
    """The byte offset of every non-blank line, by a numpy scan for newlines in chunks."""
    found = []
    start_of_line = 0
    buffer = np.frombuffer(view, dtype=np.uint8, count=size) if size else np.zeros(0, np.uint8)
    for lo in range(0, size, _CHUNK):
        newlines = np.flatnonzero(buffer[lo: lo + _CHUNK] == 10) + lo
        starts = np.concatenate(([start_of_line], newlines[:-1] + 1)) if len(newlines) else np.zeros(0, np.int64)
        ends = newlines
        if len(newlines):
            start_of_line = int(newlines[-1]) + 1
        found.append(_non_blank(buffer, starts.astype(np.int64), ends.astype(np.int64)))
    if start_of_line < size:
        found.append(_non_blank(buffer, np.array([start_of_line], np.int64), np.array([size], np.int64)))
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def _non_blank(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    keep = ends > starts
    if keep.any():
        first = np.zeros(len(starts), np.uint8)
        first[keep] = buffer[starts[keep]]
        doubtful = np.flatnonzero(keep & np.isin(first, list(_WHITESPACE)))
        for i in doubtful:  # a line that starts with white space: blank only if it is all white space
            keep[i] = bool(bytes(buffer[starts[i]: ends[i]]).strip())
    return starts[keep]


def _close(file, mapped) -> None:
    if isinstance(mapped, mmap.mmap) and not mapped.closed:
        try:
            mapped.close()
        except BufferError:  # a numpy view of it is still alive: the mapping goes with it
            pass
    file.close()


class JsonlPassages:
    """The passages of a JSONL corpus, by row, memory-mapped (see the module docstring).

    It is a corpus (``len``, ``iter``, ``hash``, ``name``) and a sequence (``passages[i]``,
    :meth:`record` for the raw row). ``cache_dir`` holds the offsets (default: the index cache).
    """

    def __init__(self, path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataFormatError(f"{self.path}: no such corpus file; expected JSONL records {{\"id\", \"contents\"}}")
        self.name = f"jsonl:{self.path.name}"
        if cache_dir is None:
            from jade_env.retrieval.bm25 import default_cache_dir

            cache_dir = default_cache_dir()
        stat = self.path.stat()
        self._stamp = {"format": FORMAT, "path": str(self.path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        key = hashlib.sha1(json.dumps(self._stamp, sort_keys=True).encode()).hexdigest()[:20]
        self.offsets_path = Path(cache_dir) / f"jsonl-{key}.offsets.npy"
        self.manifest_path = self.offsets_path.with_suffix("").with_suffix(".json")
        self._file = self.path.open("rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if stat.st_size else b""
        self._size = stat.st_size
        self._closer = weakref.finalize(self, _close, self._file, self._map)
        self.offsets, self.hash = self._open_offsets()

    def __reduce__(self):
        return (JsonlPassages, (self.path, self.offsets_path.parent))

    def _open_offsets(self) -> tuple[np.ndarray, str]:
        problem = None
        if self.manifest_path.is_file() and self.offsets_path.is_file():
            try:
                manifest = json.loads(self.manifest_path.read_text())
                offsets = np.load(self.offsets_path, mmap_mode="r")
                problem = self._check(manifest, offsets)
                if problem is None:
                    return offsets, manifest["corpus_hash"]
            except (ValueError, OSError, KeyError, TypeError) as err:
                problem = f"unreadable ({type(err).__name__}: {err})"
            warnings.warn(f"{self.offsets_path}: {problem}; finding the offsets of {self.path} again", RuntimeWarning, stacklevel=3)
        offsets = _find_offsets(self._map, self._size)
        if len(offsets) == 0:
            raise DataFormatError(f"{self.path}: the corpus has no records")
        self.offsets = offsets
        digest = corpus_hash(self._passage(int(i)) for i in range(len(offsets)))
        self.offsets_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.offsets_path.with_name(self.offsets_path.name + f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, offsets)
        os.replace(tmp, self.offsets_path)
        tmp = self.manifest_path.with_name(self.manifest_path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**self._stamp, "rows": int(len(offsets)), "corpus_hash": digest}, indent=1))
        os.replace(tmp, self.manifest_path)
        return np.load(self.offsets_path, mmap_mode="r"), digest

    def _check(self, manifest: dict, offsets: np.ndarray) -> str | None:
        if {k: manifest.get(k) for k in self._stamp} != self._stamp:
            return "written for another version of the file"
        if offsets.dtype != np.int64 or offsets.ndim != 1 or len(offsets) != manifest.get("rows") or len(offsets) == 0:
            return f"{len(offsets)} offsets of type {offsets.dtype}, expected {manifest.get('rows')} int64"
        if offsets[0] < 0 or offsets[-1] >= self._size or (len(offsets) > 1 and not bool(np.all(np.diff(offsets) > 0))):
            return "offsets that are not increasing inside the file"
        if not isinstance(manifest.get("corpus_hash"), str) or len(manifest["corpus_hash"]) != 64:
            return "no corpus hash"
        return None

    def __len__(self) -> int:
        return len(self.offsets)

    def raw(self, row: int) -> bytes:
        """The bytes of record ``row`` (without its newline)."""
        if not 0 <= row < len(self.offsets):
            raise IndexError(f"{self.path}: row {row} of {len(self.offsets)}")
        start = int(self.offsets[row])
        end = self._map.find(b"\n", start)
        return self._map[start: end if end >= 0 else self._size]

    def record(self, row: int) -> object:
        """Record ``row`` as JSON, or a DataFormatError naming the file, row and byte offset."""
        data = self.raw(row)
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as err:
            raise DataFormatError(f"{self.path}: record {row} (byte {int(self.offsets[row])}) is not JSON ({err})") from None

    def _passage(self, row: int) -> Passage:
        return passage_of(self.record(row), row, f"{self.path}: record {row} (byte {int(self.offsets[row])})")

    def __getitem__(self, row: int) -> Passage:
        return self._passage(int(row))

    def __iter__(self) -> Iterator[Passage]:
        for row in range(len(self.offsets)):
            yield self._passage(row)

    def close(self) -> None:
        self._closer()

    def __repr__(self) -> str:
        return f"JsonlPassages({str(self.path)!r}, rows={len(self)}, hash={self.hash[:12]})"
