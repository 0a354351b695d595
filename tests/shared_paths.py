"""Where the test media and tools live.

`DATA` (tests/data) is a small subset of the shared corpus committed with the
repository, so the default suite runs on a clean clone.  `CORPUS` is the full
corpus in `../shared` next to the repository; the sweeps over it are marked
`needs_corpus` and skipped when it is absent (conftest.py).  One place, so that
a checkout anywhere (CI runs it under another root) finds them.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
LEAKCHECK = TESTS / "tools" / "leakcheck.py"  # the independent checker, a copy of shared/tools

SHARED = TESTS.parents[1] / "shared"
CORPUS = SHARED / "corpus"
FACES = CORPUS / "faces"
METADATA = CORPUS / "metadata"
HAVE_CORPUS = CORPUS.is_dir()


def corpus_files(folder: Path, suffixes: set[str] | None = None,
                 exclude: set[str] | frozenset[str] = frozenset()) -> list[Path]:
    """The media files of a corpus folder (all but SOURCES.* without `suffixes`),
    to parametrize a `needs_corpus` sweep with.  Without the corpus: the folder
    itself, one placeholder the marker skips (an empty list would be skipped for
    another, vaguer reason)."""
    if not folder.is_dir():
        return [folder]
    return sorted(p for p in folder.iterdir()
                  if (p.suffix.lower() in suffixes if suffixes else p.stem != "SOURCES")
                  and p.name not in exclude)


def data_files(folder: str, suffixes: set[str]) -> list[Path]:
    """The committed test files in tests/data/<folder> with these suffixes."""
    return sorted(p for p in (DATA / folder).iterdir() if p.suffix.lower() in suffixes)
