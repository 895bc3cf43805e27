"""Shared fixtures. Tests never touch the network: the HuggingFace offline switches are set here too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real benchmark files beside the clone (../shared/data), read in place, never copied."""
    if not (SHARED_DATA / "SOURCES.md").is_file():
        pytest.skip(f"the real data files are not at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def _index_cache(tmp_path_factory) -> None:
    """Indexes built by tests go to a temporary cache, not the user's."""
    if "JADE_CACHE_DIR" not in os.environ:
        os.environ["JADE_CACHE_DIR"] = str(tmp_path_factory.mktemp("jade-cache"))
