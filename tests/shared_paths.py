"""Where the shared corpus and tools live: `../shared` next to the repository.

One place, so that a checkout anywhere (CI runs it under another root) finds them.
"""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "corpus"
FACES = CORPUS / "faces"
METADATA = CORPUS / "metadata"
LEAKCHECK = SHARED / "tools" / "leakcheck.py"
