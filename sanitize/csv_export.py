"""Ledger → CSV for the media cell's registers: one row per input (register.csv)
and one row per review decision (decisions.csv, the audit trail).

Written for Excel on a district PC: UTF-8 with a BOM (so Hindi names show
correctly) and cells that Excel would read as a formula are defused, because
file names come from outside and `=HYPERLINK(...)` in a name is an attack.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from sanitize.ledger import Ledger, LedgerRow

CSV_NAME = "register.csv"
DECISIONS_NAME = "decisions.csv"
DECISION_COLUMNS = ("time", "reviewer", "input", "target", "action", "reason", "details")
COLUMNS = (
    "input", "status", "output", "sha256_in", "sha256_out",
    "finding_kinds", "clauses", "error", "processed_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A leading apostrophe makes Excel/LibreOffice show the text instead of evaluating it.
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_row(row: LedgerRow) -> list[str]:
    result = row.result()
    kinds = sorted({f.kind for f in result.findings})
    clauses = sorted({c for f in result.findings for c in f.clauses},
                     key=lambda c: (len(c), c))
    when = datetime.fromtimestamp(row.finished_at, tz=UTC).isoformat(timespec="seconds")
    values = (row.rel, row.status.value, row.output, row.sha256_in, row.sha256_out,
              ";".join(kinds), ";".join(clauses), result.error, when)
    return [_cell(v) for v in values]


def export_csv(out_root: Path, dest: Path | None = None) -> Path:
    """Write the register (default OUT/register.csv) atomically; returns its path."""
    dest = dest or out_root / CSV_NAME
    with Ledger.open(out_root) as ledger:
        rows = ledger.rows()
    _write(dest, COLUMNS, (csv_row(r) for r in rows))
    return dest


def export_decisions_csv(out_root: Path, dest: Path | None = None) -> Path:
    """Write every review decision (default OUT/decisions.csv) atomically, oldest first."""
    from sanitize.review.store import ReviewStore

    dest = dest or out_root / DECISIONS_NAME
    with ReviewStore.open(out_root) as store:
        rows = store.rows()
    _write(dest, DECISION_COLUMNS, (
        [_cell(v) for v in (
            datetime.fromtimestamp(r.time, tz=UTC).isoformat(timespec="seconds"),
            r.reviewer, r.file, r.target, r.action, r.reason,
            _details(r.action, r.payload))]
        for r in rows))
    return dest


def _details(action: str, payload: dict) -> str:
    if action == "mute":
        return ";".join(f"{a:.2f}-{b:.2f} s" for a, b in payload.get("ranges", []))
    if action == "add":
        t = payload.get("track", {})
        return f"{t.get('kind', '')} box"
    if action == "edit":
        box = ",".join(f"{v:.0f}" for v in payload.get("box", []))
        return f"box {box} on frame {payload.get('frame', 0)}"
    if action == "approve":
        return str(payload.get("output", ""))
    if action == "approve_refused":
        return "; ".join(str(p) for p in payload.get("problems", []))
    return ""


def _write(dest: Path, header: tuple[str, ...], rows: Iterable[list[str]]) -> None:
    tmp = dest.with_name(f".{dest.name}.part")
    with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    os.replace(tmp, dest)
