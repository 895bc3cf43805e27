"""Retrieval behind one batched interface: in-process BM25, Lucene, dense, remote, and a replay cache."""

from jade_env.retrieval.base import Hit, Retriever

__all__ = ["Hit", "Retriever"]
