"""Datasets, corpora and the Synthetic world.

``load_examples(name_or_path, ...)`` is the one public way to get questions (see
:mod:`jade_env.data.registry`); the corpus modes are in :mod:`jade_env.data.corpora`.
"""

from jade_env.data.corpora import ExternalCorpus, attach_corpus, external_corpus, load_corpus, per_question_corpus, pooled_corpus
from jade_env.data.corpus import Corpus
from jade_env.data.hashing import corpus_hash, split_hash
from jade_env.data.loaders import FORMATS, detect_format, load_file
from jade_env.data.registry import DATASETS, canonical_name, load_examples
from jade_env.data.types import DecompositionStep, Example, Passage, make_passage, passage_id

__all__ = [
    "DATASETS",
    "FORMATS",
    "Corpus",
    "DecompositionStep",
    "Example",
    "ExternalCorpus",
    "Passage",
    "attach_corpus",
    "canonical_name",
    "corpus_hash",
    "detect_format",
    "external_corpus",
    "load_corpus",
    "load_examples",
    "load_file",
    "make_passage",
    "passage_id",
    "per_question_corpus",
    "pooled_corpus",
    "split_hash",
]
