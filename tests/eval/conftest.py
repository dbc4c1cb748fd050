"""Eval test fixtures: the seed document and an index of it (the model fixtures are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from policyqa.indexer import Embedder, IndexSettings, build_index

REPO = Path(__file__).resolve().parents[2]
SEED_DOCUMENT = REPO / "corpus" / "samples" / "000_a0c1336e9725a78b.txt"


@pytest.fixture(scope="session")
def seed_document() -> Path:
    """The demo document shipped with the corpus package."""
    return SEED_DOCUMENT


@pytest.fixture(scope="session")
def seed_index(policyqa_home: Path, index_settings: IndexSettings, embedder: Embedder) -> Path:
    """An index of the seed document only."""
    index_dir = policyqa_home / "seed-index"
    build_index([SEED_DOCUMENT], index_dir, index_settings, embedder=embedder, progress=False)
    return index_dir
