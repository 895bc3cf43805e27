"""jade_env: Gymnasium and PettingZoo environments for agentic retrieval-augmented generation.

The environments package the setting of JADE (arXiv 2601.21916): a planner chooses, per question, a
workflow of executors (decompose, rewrite, retrieve, select, answer, summarise) over several rounds.
"""

__version__ = "0.1.0"
