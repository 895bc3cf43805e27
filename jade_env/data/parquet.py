"""Parquet files of records, question files and corpora alike: recognised by name or magic number, read in row batches.

Reading needs pyarrow (the ``hf`` extra); a missing pyarrow and a corrupt file are one :class:`DataFormatError` each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from jade_env.errors import DataFormatError

TYPE_CHECKING = False  # typing is not imported at run time: `jade-rag score` starts without it
if TYPE_CHECKING:
    from typing import Any

MAGIC = b"PAR1"


def is_parquet(path: Path) -> bool:
    """``path`` ends in ``.parquet`` or is a file that starts with parquet's magic number."""
    if path.suffix == ".parquet":
        return True
    try:
        with path.open("rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False  # the caller's own reading says what is wrong with the path


def parquet_rows(path: Path, batch_size: int = 8192) -> Iterator[tuple[str, Any]]:
    """``(where, row)`` of every row, read ``batch_size`` rows at a time (a large file is never held whole)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataFormatError(f"{path}: reading parquet needs pyarrow: pip install 'jade-env[hf]'") from None
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=batch_size)
        i = 0
        for batch in batches:
            for row in batch.to_pylist():
                yield f"{path}: row {i}", row
                i += 1
    except Exception as err:  # pyarrow raises several types for a corrupt file
        raise DataFormatError(f"{path}: not a readable parquet file ({err})") from None


def parquet_length(path: Path) -> int:
    """The number of rows, from the file's footer (no row is read)."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows
