"""The questions of an environment: a dataset name or a local file resolved once per process.

:func:`load_split` memoises what it loads, so the sub-environments of a vector env, and copies of an env,
share one tuple of examples. A file is keyed by its path, size and modification time, so an edited file is
read again.
"""

from __future__ import annotations

import json
import numbers
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from jade_env.data.types import Example
from jade_env.errors import JadeError


@lru_cache(maxsize=16)
def _load(dataset: str, data_path: str | None, _stamp: tuple[int, int] | None, split: str | None, n: int | None,
          sample_seed: int | None, data_format: str | None, synthetic_json: str) -> tuple[Example, ...]:
    from jade_env.data.registry import load_examples

    if dataset == "synthetic" and data_path is None:
        from jade_env.data.synthetic import load_synthetic

        return tuple(load_synthetic(**json.loads(synthetic_json)))
    source = data_path if data_path is not None else dataset
    return tuple(load_examples(source, format=data_format, split=split, n=n, seed=sample_seed,
                               dataset=dataset if data_path is not None else None))


def _integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)  # numpy's integers too


def _plain(value: Any) -> Any:
    """numpy's integers and floats as Python's (the world's arguments are keyed as JSON); anything else as it is."""
    if _integer(value):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool | float):
        return float(value)
    return value


def synthetic_arguments(n: int | None, synthetic: dict[str, Any] | None) -> dict[str, Any]:
    """The Synthetic world's generator arguments from the env keywords ``n`` and ``synthetic={...}``.

    The number of questions may be given as ``n`` or as ``synthetic={"n": ...}`` (or ``"n_questions"``); the
    default is 1000. Two different values are an error.
    """
    kwargs = {k: _plain(v) for k, v in (synthetic or {}).items()}
    given = {k: kwargs.pop(k) for k in ("n", "n_questions") if k in kwargs}
    if n is not None:
        given["n (keyword)"] = n
    if len(set(given.values())) > 1:
        raise JadeError(f"the number of Synthetic questions is given twice with different values ({given}); give it once")
    size = next(iter(given.values()), 1000)
    if not _integer(size) or size < 1:
        raise JadeError(f"the number of Synthetic questions must be a positive integer, got {size!r}")
    return {"n": size, **kwargs}


def canonical_dataset(dataset: Any) -> Any:
    """A registry name in its canonical spelling (``"syn"``, ``" HotpotQA"`` -> ``"synthetic"``, ``"hotpotqa"``); any
    other value as it is (a name the registry does not know is for the loaders to refuse)."""
    if not isinstance(dataset, str):
        return dataset
    from jade_env.data.registry import canonical_name

    return canonical_name(dataset) or dataset


def load_split(dataset: str, data_path: str | os.PathLike | Any = None, split: str | None = None, n: int | None = None,
               sample_seed: int | None = None, data_format: str | None = None,
               synthetic: dict[str, Any] | None = None) -> tuple[Example, ...]:
    """The examples of ``dataset`` (or of the file ``data_path``, memoised per process; or of a ``datasets.Dataset``)."""
    if n is not None and (not _integer(n) or n < 1):
        raise JadeError(f"n (the number of questions) must be a positive integer, got {n!r}")
    if sample_seed is not None and (not _integer(sample_seed) or sample_seed < 0):
        raise JadeError(f"sample_seed must be an integer >= 0 (the seed of a sample of n questions), got {sample_seed!r}")
    dataset = canonical_dataset(dataset)
    n, sample_seed = (None if v is None else int(v) for v in (n, sample_seed))
    if data_path is None and dataset == "synthetic":  # generated: nothing to split, sample or parse; say so, not ignore it
        unused = [f"{k}={v!r}" for k, v in (("split", split), ("sample_seed", sample_seed), ("data_format", data_format))
                  if v is not None]
        if unused:
            raise JadeError(f"the Synthetic world is generated, not read: {', '.join(unused)} would be ignored; another world is "
                            "synthetic={'seed': S}, another size n=N")
    elif sample_seed is not None and n is None:
        raise JadeError(f"sample_seed={sample_seed!r} seeds a sample of n questions, but n is not given; give n too, or drop "
                        "sample_seed for the whole split")
    stamp = None
    synthetic_json = "{}"
    if data_path is not None and not isinstance(data_path, str | os.PathLike):  # a datasets.Dataset (or list) of records
        from jade_env.data.registry import load_examples

        examples = tuple(load_examples(data_path, format=data_format, split=split, n=n, seed=sample_seed, dataset=dataset))
        if not examples:
            raise JadeError(f"dataset {dataset!r} (the given {type(data_path).__name__}) has no questions")
        return examples
    if data_path is not None:
        data_path = str(Path(data_path))
        try:
            st = os.stat(data_path)
            stamp = (st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None  # the loader says what is wrong with the path
    elif dataset == "synthetic":
        synthetic_json = json.dumps(synthetic_arguments(n, synthetic), sort_keys=True)
        n = None
    examples = _load(dataset, data_path, stamp, split, n, sample_seed, data_format, synthetic_json)
    if not examples:
        raise JadeError(f"dataset {dataset!r} ({data_path or 'registry'}) has no questions")
    return examples
