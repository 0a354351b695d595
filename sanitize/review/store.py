"""Render plans and reviewers' decisions, in two tables of OUT/ledger.sqlite.

`plans`: one row per input, the RenderPlan of its latest run (replaced by a re-run).
`decisions`: append-only audit rows (time, reviewer, file, target, action, reason,
payload JSON).  Nothing is ever updated or deleted there: the current decisions of
a file are *derived* by replaying its rows, and undo is a row of its own that names
the row it reverts.  `sanitize run` never touches this table, so a re-run on the
same OUT keeps every decision.  Rows carry the sha256 of the original they were
made on: decisions about a different original (the input was replaced) are not
applied to it (their region ids would name other regions).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sanitize.ledger import LEDGER_NAME
from sanitize.plan import (
    CLEARED,
    CONFIRMED,
    KEEP,
    Decisions,
    FlagChoice,
    RegionChoice,
    RenderPlan,
    Track,
)
from sanitize.types import Box

_SCHEMA = """
CREATE TABLE IF NOT EXISTS plans (
    rel        TEXT PRIMARY KEY,     -- the ledger's input key
    sha256_in  TEXT NOT NULL,
    plan_json  TEXT NOT NULL,        -- RenderPlan.to_json()
    saved_at   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    time       REAL NOT NULL,
    reviewer   TEXT NOT NULL,
    file       TEXT NOT NULL,        -- the ledger's input key
    sha256_in  TEXT NOT NULL,        -- of the original the decision was made on
    target     TEXT NOT NULL,        -- region/flag id, "audio", "file", or the undone seq
    action     TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    payload    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS decisions_file ON decisions (file, seq);
"""

# Actions a row may carry.  The first group shapes the output and can be undone.
KEEP_ACTION, BLUR_ACTION, ADD, EDIT, MUTE = "keep", "blur", "add", "edit", "mute"
CLEAR, CONFIRM, REJECT = CLEARED, CONFIRMED, "reject"
UNDO, APPROVE = "undo", "approve"
# An approval handed to the background queue, and one that queue refused: the
# request is on disk before the render starts, so a server stopped with approvals
# still queued takes them up again at its next start (ReviewService) instead of
# losing a reviewer's approval without a word.
APPROVE_QUEUED, APPROVE_REFUSED = "approve_queued", "approve_refused"
UNDOABLE = (KEEP_ACTION, BLUR_ACTION, ADD, EDIT, MUTE, CLEAR, CONFIRM, REJECT)


@dataclass(frozen=True)
class AuditRow:
    seq: int
    time: float
    reviewer: str
    file: str
    sha256_in: str
    target: str
    action: str
    reason: str
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time, "reviewer": self.reviewer,
                "file": self.file, "target": self.target, "action": self.action,
                "reason": self.reason, "payload": self.payload}


@dataclass
class FileState:
    """What the audit rows of one file add up to."""

    decisions: Decisions = field(default_factory=Decisions)
    rejected: str | None = None  # the reason, while rejected
    approved: AuditRow | None = None  # the latest approval
    approval_queued: AuditRow | None = None  # an approval asked for and not yet ended
    approval_refused: AuditRow | None = None  # the last approval that ended refused
    history: list[AuditRow] = field(default_factory=list)
    last_undoable: AuditRow | None = None  # what undo would revert


_COLS = "seq, time, reviewer, file, sha256_in, target, action, reason, payload"


def _audit(t: tuple[Any, ...]) -> AuditRow:
    seq, when, reviewer, file, sha, target, action, reason, payload = t
    return AuditRow(seq, when, reviewer, file, sha, target, action, reason, json.loads(payload))


class ReviewStore:
    """Thread-safe (one lock): the review server answers requests on several threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a decision is stored as it is made
        self._db.executescript(_SCHEMA)
        self._plans: dict[str, tuple[float, RenderPlan]] = {}

    @classmethod
    def open(cls, out_root: Path) -> ReviewStore:
        return cls(out_root / LEDGER_NAME)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- plans

    def save_plan(self, plan: RenderPlan) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO plans (rel, sha256_in, plan_json, saved_at) "
                "VALUES (?, ?, ?, ?)", (plan.input, plan.sha256, plan.dumps(), time.time()))

    def plan(self, rel: str) -> RenderPlan | None:
        """The stored plan, shared with other callers: copy it before changing it.
        Parsed plans are cached by their save time (a video's holds every frame's time)."""
        with self._lock:
            t = self._db.execute("SELECT saved_at FROM plans WHERE rel = ?", (rel,)).fetchone()
            if t is None:
                return None
            cached = self._plans.get(rel)
            if cached is None or cached[0] != t[0]:
                text = self._db.execute("SELECT plan_json FROM plans WHERE rel = ?",
                                        (rel,)).fetchone()[0]
                cached = self._plans[rel] = (t[0], RenderPlan.loads(text))
        return cached[1]

    # -------------------------------------------------------------- decisions

    def append(self, reviewer: str, file: str, sha256_in: str, target: str, action: str,
               reason: str = "", payload: dict[str, Any] | None = None) -> AuditRow:
        when = time.time()
        text = json.dumps(payload or {}, ensure_ascii=False, sort_keys=True)
        with self._lock:
            cur = self._db.execute(
                f"INSERT INTO decisions ({_COLS.replace('seq, ', '')}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (when, reviewer, file, sha256_in, target, action, reason, text))
            seq = int(cur.lastrowid or 0)
        return AuditRow(seq, when, reviewer, file, sha256_in, target, action, reason,
                        payload or {})

    def rows(self, file: str | None = None) -> list[AuditRow]:
        with self._lock:
            if file is None:
                cur = self._db.execute(f"SELECT {_COLS} FROM decisions ORDER BY seq")
            else:
                cur = self._db.execute(
                    f"SELECT {_COLS} FROM decisions WHERE file = ? ORDER BY seq", (file,))
            return [_audit(t) for t in cur.fetchall()]

    def state(self, file: str, sha256_in: str) -> FileState:
        return derive(self.rows(file), sha256_in)

    def undo(self, reviewer: str, file: str, sha256_in: str) -> AuditRow | None:
        """Append a row reverting the file's last decision; None when there is none."""
        last = self.state(file, sha256_in).last_undoable
        if last is None:
            return None
        return self.append(reviewer, file, sha256_in, str(last.seq), UNDO,
                           f"undo {last.action} {last.target}")


def derive(rows: list[AuditRow], sha256_in: str) -> FileState:
    """Replay audit rows (in seq order) into the current state of one file."""
    st = FileState(history=list(rows))
    current = [r for r in rows if r.sha256_in == sha256_in]
    undone = {int(r.target) for r in current if r.action == UNDO and r.target.isdigit()}
    d = st.decisions
    for r in current:
        if r.seq in undone or r.action == UNDO:
            continue
        if r.action in UNDOABLE:
            st.last_undoable = r
        if r.action in (KEEP_ACTION, BLUR_ACTION):
            # One row may name several regions ("keep all suggested officers"): one undo.
            for rid in r.payload.get("ids") or [r.target]:
                d.regions[str(rid)] = RegionChoice(
                    KEEP if r.action == KEEP_ACTION else "blur", r.reason)
        elif r.action == ADD:
            d.added.append(Track.from_json(r.payload["track"]))
        elif r.action == EDIT:
            # A drawn box moved or resized: on a video, a keyframe at that frame.
            drawn = next((t for t in d.added if t.id == r.target), None)
            if drawn is not None:
                drawn.boxes[int(r.payload["frame"])] = Box(*r.payload["box"])
        elif r.action in (CLEAR, CONFIRM):
            d.flags[r.target] = FlagChoice(r.action, r.reason)
        elif r.action == MUTE:
            d.mutes = [(float(a), float(b)) for a, b in r.payload.get("ranges", [])]
        elif r.action == REJECT:
            st.rejected = r.reason or "rejected"
        elif r.action == APPROVE:
            st.approved, st.rejected, st.approval_queued = r, None, None
            st.approval_refused = None
        elif r.action == APPROVE_QUEUED:
            st.approval_queued, st.approval_refused = r, None
        elif r.action == APPROVE_REFUSED:
            st.approval_queued, st.approval_refused = None, r
    return st
