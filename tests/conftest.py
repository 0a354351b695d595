"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared test corpus (faces, …) next to the repository; skip where absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"test corpus not found at {CORPUS}")
    return CORPUS
