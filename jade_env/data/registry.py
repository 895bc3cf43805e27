"""The dataset registry and :func:`load_examples`, the one public way to get questions.

Resolution order for ``load_examples(name_or_path)``:

1. a path to a file (or ``path=``): loaded with :func:`jade_env.data.loaders.load_file`;
2. ``"synthetic"``: generated (:mod:`jade_env.data.synthetic`);
3. ``$JADE_DATA_DIR/<name>/<split>.<ext>`` with ``ext`` one of ``json``, ``jsonl``, ``parquet``
   (for example ``$JADE_DATA_DIR/hotpotqa/dev.json`` in the official format, or
   ``$JADE_DATA_DIR/nq/test.jsonl`` in FlashRAG form);
4. the HuggingFace hub through ``datasets`` (extra ``hf``), unless ``HF_HUB_OFFLINE`` or
   ``HF_DATASETS_OFFLINE`` is set;
5. otherwise one :class:`~jade_env.errors.DatasetUnavailableError` naming the dataset, its hub id,
   and the exact local path and format that would work.

=================  ====================================  ==========  ==================================================
name (aliases)     hub id (config)                       split       fields
=================  ====================================  ==========  ==================================================
hotpotqa           hotpotqa/hotpot_qa (distractor)       validation  id, question, answer, type, supporting_facts, context
2wikimultihopqa    RUC-NLPIR/FlashRAG_datasets (2wiki..)  dev         FlashRAG: id, question, golden_answers, metadata
musique            RUC-NLPIR/FlashRAG_datasets (musique)  dev         FlashRAG (question_decomposition in metadata)
bamboogle          RUC-NLPIR/FlashRAG_datasets (bamboog.) test        FlashRAG
nq                 google-research-datasets/nq_open      validation  question, answer (list)
popqa              akariasai/PopQA                       test        question, possible_answers (JSON list string)
ambigqa            sewon/ambig_qa (light)                validation  question, annotations.qaPairs / answer
triviaqa           mandarjoshi/trivia_qa (rc.nocontext)  validation  question, answer.aliases
synthetic          (generated)                           train       see jade_env.data.synthetic
=================  ====================================  ==========  ==================================================

The hub ids were chosen from what FlashRAG and Search-R1 document; the 2Wiki, MuSiQue and Bamboogle
entries use FlashRAG's collection because its copies keep the fields the loaders map. When in doubt,
put the file under ``$JADE_DATA_DIR`` (any format of :mod:`jade_env.data.loaders` works).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jade_env.data.loaders import BadRecord, load_file, load_rows, parse_flashrag, parse_hotpotqa
from jade_env.data.types import Example
from jade_env.errors import DataFormatError, DatasetUnavailableError


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    name: str
    hub_id: str
    hub_config: str | None
    split: str
    local_format: str
    aliases: tuple[str, ...] = field(default_factory=tuple)
    has_context: bool = False


DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        DatasetSpec("hotpotqa", "hotpotqa/hotpot_qa", "distractor", "dev", "the official HotpotQA JSON (hotpot_dev_distractor_v1.json)",
                    ("hotpot", "hotpot_qa"), True),
        DatasetSpec("2wikimultihopqa", "RUC-NLPIR/FlashRAG_datasets", "2wikimultihopqa", "dev",
                    "the official 2WikiMultiHopQA JSON or FlashRAG JSONL", ("2wiki", "2wikimqa", "twowiki"), True),
        DatasetSpec("musique", "RUC-NLPIR/FlashRAG_datasets", "musique", "dev", "the official MuSiQue JSONL or FlashRAG JSONL",
                    ("musique_ans",), True),
        DatasetSpec("bamboogle", "RUC-NLPIR/FlashRAG_datasets", "bamboogle", "test", "FlashRAG JSONL (id, question, golden_answers)"),
        DatasetSpec("nq", "google-research-datasets/nq_open", None, "test", "the NQ-open JSONL (NQ-open.dev.jsonl)",
                    ("nq_open", "naturalquestions", "natural_questions")),
        DatasetSpec("popqa", "akariasai/PopQA", None, "test", "FlashRAG JSONL (id, question, golden_answers)"),
        DatasetSpec("ambigqa", "sewon/ambig_qa", "light", "dev", "FlashRAG JSONL (id, question, golden_answers)", ("ambig_qa",)),
        DatasetSpec("triviaqa", "mandarjoshi/trivia_qa", "rc.nocontext", "dev", "FlashRAG JSONL (id, question, golden_answers)",
                    ("trivia_qa", "tq", "trivia")),
        DatasetSpec("synthetic", "", None, "train", "(generated)", ("syn",), True),
    )
}
_ALIASES = {alias: s.name for s in DATASETS.values() for alias in (s.name, *s.aliases)}
_HUB_SPLIT = {"dev": "validation", "test": "test", "train": "train"}


def canonical_name(name: str) -> str | None:
    return _ALIASES.get(name.strip().lower())


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _local_file(spec: DatasetSpec, split: str) -> Path | None:
    root = os.environ.get("JADE_DATA_DIR")
    if not root:
        return None
    for ext in ("json", "jsonl", "parquet"):
        candidate = Path(root) / spec.name / f"{split}.{ext}"
        if candidate.is_file():
            return candidate
    return None


def _select(examples: list[Example], n: int | None, seed: int | None) -> list[Example]:
    if n is None or n >= len(examples):
        return examples
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    if seed is None:
        return examples[:n]
    import numpy as np  # here, not at the top: reading a file needs no numpy (jade-rag score starts fast)

    picks = np.random.default_rng(seed).choice(len(examples), size=n, replace=False)
    return [examples[i] for i in sorted(picks.tolist())]


def load_examples(
    name_or_path: str | os.PathLike | Any,
    *,
    path: str | os.PathLike | None = None,
    format: str | None = None,
    split: str | None = None,
    n: int | None = None,
    seed: int | None = None,
    corpus_path: str | os.PathLike | None = None,
    on_error: str = "raise",
    dataset: str | None = None,
    data_source: str | None = None,
    **synthetic_kwargs,
) -> list[Example]:
    """Questions of a dataset name, a file, or a ``datasets.Dataset``/``IterableDataset`` (or list) of records in any
    loader format; ``n`` keeps the first n (with ``seed``: a seeded sample of n).

    For ``"synthetic"``, ``n`` is the number of questions generated and ``seed`` the world's seed;
    other keywords go to :func:`jade_env.data.synthetic.load_synthetic`.
    """
    if not isinstance(name_or_path, str | os.PathLike):  # a datasets.Dataset / IterableDataset, or a list of records
        examples = load_rows(name_or_path, format=format, on_error=on_error, dataset=(canonical_name(dataset) or dataset) if dataset else None,
                             split=split, data_source=data_source, corpus_path=corpus_path)
        return _select(examples, n, seed)
    target = Path(path) if path is not None else Path(name_or_path)
    name = canonical_name(str(name_or_path)) if path is None else None
    if path is not None or (name is None and target.exists()) or target.suffix in (".json", ".jsonl", ".parquet"):
        examples = load_file(target, format=format, on_error=on_error, dataset=(canonical_name(dataset) or dataset) if dataset else None,
                             split=split, data_source=data_source, corpus_path=corpus_path)
        return _select(examples, n, seed)
    if name is None:
        known = ", ".join(DATASETS)
        raise DatasetUnavailableError(f"{str(name_or_path)!r} is neither a file nor a known dataset; known datasets: {known}")
    if name == "synthetic":
        from jade_env.data.synthetic import load_synthetic

        return load_synthetic(n=n or 1000, seed=seed or 0, **synthetic_kwargs)
    spec = DATASETS[name]
    split = split or spec.split
    local = _local_file(spec, split)
    if local is not None:
        examples = load_file(local, format=format, on_error=on_error, dataset=name, split=split, corpus_path=corpus_path)
        return _select(examples, n, seed)
    hub_error = " (offline: HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set)"
    if not _offline() and (unreachable := _hub_unreachable()):
        hub_error = f" (the hub is unreachable from here: {unreachable}; nothing was retried)"
    elif not _offline():
        try:
            return _select(_from_hub(spec, split), n, seed)
        except ImportError:
            hub_error = " (the datasets package is not installed: pip install 'jade-env[hf]')"
        except Exception as err:  # network, missing config, ...: fall through to the clear local-file message
            hub_error = f" (the hub failed: {type(err).__name__}: {str(err)[:120]})"
    where = f"$JADE_DATA_DIR/{spec.name}/{split}.json[l]"
    config = f", config {spec.hub_config!r}" if spec.hub_config else ""
    raise DatasetUnavailableError(
        f"dataset {spec.name!r} is not available locally and cannot be fetched from the hub ({spec.hub_id}{config}){hub_error}; "
        f"put {spec.local_format} at {where} (JADE_DATA_DIR={os.environ.get('JADE_DATA_DIR', 'unset')}), "
        f"or pass data_path=/path/to/file"
    )


def _hub_unreachable(timeout: float = 2.0) -> str | None:
    """Why the HuggingFace hub (``$HF_ENDPOINT``) cannot be reached, or None: one TCP connect, instead of the ~30 s
    of retries ``datasets`` spends on a machine without network before it fails."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        return f"{host}:{port}: {err.strerror or type(err).__name__}"
    return None


def _from_hub(spec: DatasetSpec, split: str) -> list[Example]:
    """Load through ``datasets`` and map the fields (only reached when online)."""
    import datasets  # noqa: F401  (ImportError -> the local-file message)
    from datasets import load_dataset

    ds = load_dataset(spec.hub_id, spec.hub_config, split=_HUB_SPLIT.get(split, split)) if spec.hub_config not in (
        "2wikimultihopqa", "musique", "bamboogle") else load_dataset(spec.hub_id, spec.hub_config, split=split)
    out = []
    for i, row in enumerate(ds):
        try:
            out.append(_hub_example(spec, split, i, row))
        except BadRecord as err:  # the loaders' field checks: no "None" answers, no ids made of objects, no empty questions
            raise DataFormatError(f"{spec.hub_id} ({spec.hub_config or 'default'}), split {split}, row {i}: {err}") from None
    return out


def _hub_example(spec: DatasetSpec, split: str, i: int, row: dict) -> Example:
    """One hub row, mapped to the fields of a loader format and parsed (and checked) by that format's parser."""
    if spec.name == "hotpotqa":
        ctx = row["context"]
        rec = {"_id": row["id"], "question": row["question"], "answer": row["answer"], "type": row["type"],
               "supporting_facts": list(zip(row["supporting_facts"]["title"], row["supporting_facts"]["sent_id"], strict=False)),
               "context": list(zip(ctx["title"], ctx["sentences"], strict=False))}
        return parse_hotpotqa(rec, {"dataset": "hotpotqa", "split": split, "format": "hotpotqa"})
    if spec.name == "nq":
        answers = row["answer"]
    elif spec.name == "popqa":
        answers = json.loads(row["possible_answers"])
    elif spec.name == "triviaqa":
        answers = row["answer"]["aliases"] or [row["answer"]["value"]]
    elif spec.name == "ambigqa":
        ann = row["annotations"]
        answers = [a for group in ann.get("answer", []) for a in group] or [a for qa in ann.get("qaPairs", []) for a in qa["answer"]]
    else:  # FlashRAG collection
        answers = row["golden_answers"]
    rec = {"id": row.get("id") if row.get("id") is not None else f"{spec.name}-{split}-{i}", "question": row["question"],
           "golden_answers": answers}
    return parse_flashrag(rec, {"dataset": spec.name, "split": split, "format": "flashrag"})
