"""Datasets, corpora and the Synthetic world.

``load_examples(name_or_path, ...)`` is the one public way to get questions (see
:mod:`jade_env.data.registry`); the corpus modes are in :mod:`jade_env.data.corpora`. Each name below is
imported from its module when first asked for, so that a caller needing one of them (``jade-rag score``
reading a gold file) does not import the others.
"""

from __future__ import annotations

import importlib

#: every public name -> the module that defines it
_MODULES: dict[str, str] = {
    **dict.fromkeys(("ExternalCorpus", "attach_corpus", "external_corpus", "load_corpus", "per_question_corpus", "pooled_corpus"),
                    "jade_env.data.corpora"),
    "Corpus": "jade_env.data.corpus",
    **dict.fromkeys(("corpus_hash", "split_hash"), "jade_env.data.hashing"),
    **dict.fromkeys(("FORMATS", "detect_format", "load_file"), "jade_env.data.loaders"),
    **dict.fromkeys(("DATASETS", "canonical_name", "load_examples"), "jade_env.data.registry"),
    **dict.fromkeys(("DecompositionStep", "Example", "Passage", "make_passage", "passage_id"), "jade_env.data.types"),
}

__all__ = sorted(_MODULES)


def __getattr__(name: str):
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'jade_env.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULES))
