"""The run ledger: one SQLite row per input, kept in OUT/ledger.sqlite.

The ledger is the single source of truth for "what has been done": resume,
the reports and the CSV register are all rebuilt from it, never from the
folders.  Only the driver process writes to it (workers just return results),
so one connection and short transactions are enough; WAL keeps a reader (the
CSV export, a second `sanitize` looking at the same OUT) from blocking it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sanitize.types import FileResult, Status

LEDGER_NAME = "ledger.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    rel          TEXT PRIMARY KEY,   -- input path relative to its root, POSIX form
    src          TEXT NOT NULL,      -- absolute input path when processed
    size         INTEGER,
    mtime        REAL,
    sha256_in    TEXT,
    fingerprint  TEXT NOT NULL,      -- Settings.fingerprint() the output was made with
    tool_version TEXT NOT NULL,
    models       TEXT NOT NULL,      -- JSON list
    output       TEXT,               -- relative to OUT; NULL for errors
    sha256_out   TEXT,
    status       TEXT NOT NULL,
    result_json  TEXT NOT NULL,      -- FileResult.to_json()
    seconds      REAL NOT NULL,
    started_at   REAL,
    finished_at  REAL NOT NULL
);
"""


@dataclass(frozen=True)
class LedgerRow:
    rel: str
    src: str
    size: int | None
    mtime: float | None
    sha256_in: str | None
    fingerprint: str
    tool_version: str
    models: list[str]
    output: str | None
    sha256_out: str | None
    status: Status
    result_json: str
    seconds: float
    started_at: float | None
    finished_at: float

    def result(self) -> FileResult:
        r = FileResult.from_json(json.loads(self.result_json))
        r.settings_fingerprint = self.fingerprint
        return r


_COLUMNS = (
    "rel, src, size, mtime, sha256_in, fingerprint, tool_version, models, output, "
    "sha256_out, status, result_json, seconds, started_at, finished_at"
)


def _row(t: tuple[Any, ...]) -> LedgerRow:
    (rel, src, size, mtime, sha_in, fp, ver, models, output, sha_out, status, rj, secs,
     started, finished) = t
    return LedgerRow(rel, src, size, mtime, sha_in, fp, ver, json.loads(models), output,
                     sha_out, Status(status), rj, secs, started, finished)


class Ledger:
    """Thin typed wrapper over the `files` table.  Not thread-safe: use from one thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue explicit BEGIN/COMMIT so each record is
        # one atomic transaction (a SIGKILL leaves either the old or the new row).
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: the commit must survive a power cut, because after it we may delete
        # the previous output of that input.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def open(cls, out_root: Path) -> Ledger:
        return cls(out_root / LEDGER_NAME)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, rel: str) -> LedgerRow | None:
        cur = self._db.execute(f"SELECT {_COLUMNS} FROM files WHERE rel = ?", (rel,))
        t = cur.fetchone()
        return None if t is None else _row(t)

    def rows(self, rels: Iterable[str] | None = None) -> list[LedgerRow]:
        """All rows, or the rows for `rels` in that order (missing ones left out)."""
        if rels is None:
            cur = self._db.execute(f"SELECT {_COLUMNS} FROM files ORDER BY rel")
            return [_row(t) for t in cur.fetchall()]
        out = []
        for rel in rels:
            r = self.get(rel)
            if r is not None:
                out.append(r)
        return out

    def __iter__(self) -> Iterator[LedgerRow]:
        return iter(self.rows())

    def claimed_outputs(self) -> set[str]:
        """Output paths (relative to OUT) some row vouches for; anything else in
        safe/ or review/ is an orphan of an interrupted or superseded run."""
        cur = self._db.execute(
            "SELECT output FROM files WHERE output IS NOT NULL AND status IN (?, ?)",
            (Status.SAFE.value, Status.REVIEW.value),
        )
        return {t[0] for t in cur.fetchall()}

    def record(
        self,
        rel: str,
        src: str,
        size: int | None,
        mtime: float | None,
        fingerprint: str,
        tool_version: str,
        result: FileResult,
        started_at: float | None = None,
    ) -> LedgerRow | None:
        """Store `result` for `rel` (replacing any earlier row) and return the
        row it replaced, so the caller can remove a superseded output."""
        old = self.get(rel)
        output = result.output if result.status in (Status.SAFE, Status.REVIEW) else None
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                f"INSERT OR REPLACE INTO files ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rel, src, size, mtime, result.sha256_in, fingerprint, tool_version,
                    json.dumps(result.models), output, result.sha256_out,
                    result.status.value, json.dumps(result.to_json(), ensure_ascii=False),
                    result.seconds, started_at, time.time(),
                ),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return old
