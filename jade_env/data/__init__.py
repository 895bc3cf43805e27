"""Datasets, corpora and the Synthetic world."""

from jade_env.data.corpus import Corpus
from jade_env.data.hashing import corpus_hash, split_hash
from jade_env.data.types import DecompositionStep, Example, Passage

__all__ = ["Corpus", "DecompositionStep", "Example", "Passage", "corpus_hash", "split_hash"]
