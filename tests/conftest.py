"""Shared fixtures, and the `needs_corpus` marker: tests that sweep the full
corpus in ../shared are skipped, for one stated reason, when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest
import shared_paths

CORPUS = shared_paths.CORPUS
NO_CORPUS = f"needs_corpus: the full corpus is not at {CORPUS}"


def pytest_report_header(config: pytest.Config) -> str:
    where = "found" if shared_paths.HAVE_CORPUS else "absent: needs_corpus tests are skipped"
    return f"corpus {CORPUS}: {where}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shared_paths.HAVE_CORPUS:
        return
    skip = pytest.mark.skip(reason=NO_CORPUS)
    for item in items:
        if item.get_closest_marker("needs_corpus"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The full shared corpus (tests using it also carry the needs_corpus marker)."""
    if not shared_paths.HAVE_CORPUS:
        pytest.skip(NO_CORPUS)
    return CORPUS
