"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
import shared_paths

CORPUS = shared_paths.CORPUS


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared test corpus (faces, …) next to the repository; skip where absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"test corpus not found at {CORPUS}")
    return CORPUS
