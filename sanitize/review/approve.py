"""Approve: write a file again from its original with the reviewer's decisions,
through the same render (redact → encode → verify) as a run, and publish it to
safe/ only when the re-check passed.  Fail closed at every step: an original
that is gone or changed, a re-check that fails, or a face the re-check finds
that no decision keeps refuses the approval and leaves OUT as it was.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import os
from pathlib import Path
from typing import Any

from sanitize.batch import out_lock, write_run_reports
from sanitize.config import Settings
from sanitize.detect.registry import get_detectors
from sanitize.errors import SanitizeError, UsageProblem
from sanitize.hashing import sha256_file
from sanitize.ledger import Ledger
from sanitize.plan import Decisions, RenderPlan
from sanitize.render import render
from sanitize.review.service import ReviewError
from sanitize.review.store import APPROVE, ReviewStore
from sanitize.types import Approval, Status


def approve(out_root: Path, rel: str, reviewer: str, store: ReviewStore) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(out_lock(out_root))  # not while a run writes OUT
        except (UsageProblem, RuntimeError) as e:
            raise ReviewError(409, f"{e} (approve when it has finished)", open=[]) from e
        return _approve(out_root, rel, reviewer, store)


def _approve(out_root: Path, rel: str, reviewer: str, store: ReviewStore) -> dict[str, Any]:
    with Ledger.open(out_root) as ledger:
        row = ledger.get(rel)
        stored = store.plan(rel)
        if row is None or stored is None or not row.output:
            raise ReviewError(409, "no render plan or output is stored for this file", open=[])
        plan = copy.deepcopy(stored)  # the render may add faces the re-check found
        _check_original(plan)
        decisions = store.state(rel, plan.sha256).decisions
        faces = get_detectors(Settings(flags=False)).faces
        try:
            rendered = render(plan, decisions, out_root, faces)
        except SanitizeError as e:
            raise ReviewError(409, f"the re-render failed: {e}", open=[]) from e
        if rendered.problems:
            rendered.path.unlink(missing_ok=True)
            raise ReviewError(
                409, "the re-check of the re-rendered file still finds a face that no decision "
                     "keeps: add a box over it or keep it, then approve again",
                open=[], problems=[p.detail for p in rendered.problems])
        out_rel = Path("safe") / Path(row.output).relative_to(Path(row.output).parts[0])
        dst = out_root / out_rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        sha_out = sha256_file(rendered.path)
        os.replace(rendered.path, dst)
        if (out_root / row.output).resolve() != dst.resolve():
            (out_root / row.output).unlink(missing_ok=True)  # the review copy
        result = row.result()
        result.status, result.output, result.sha256_out = Status.SAFE, out_rel.as_posix(), sha_out
        result.approval = Approval(reviewer, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                                   tuple(summary(plan, decisions)))
        ledger.record(rel, row.src, row.size, row.mtime, row.fingerprint, row.tool_version,
                      result, started_at=row.started_at)
        store.save_plan(plan)  # with any face the re-check added
        store.append(reviewer, rel, plan.sha256, "file", APPROVE, "",
                     {"output": out_rel.as_posix(), "sha256_out": sha_out,
                      "decisions": decisions.to_json()})
        results = [r.result() for r in ledger.rows()]
    write_run_reports(out_root, results, plan.run_settings())
    return {"status": "safe", "output": out_rel.as_posix()}


def _check_original(plan: RenderPlan) -> None:
    src = Path(plan.source)
    try:
        digest = sha256_file(src)
    except OSError as e:
        raise ReviewError(409, f"the original {src} is gone or unreadable: cannot re-render",
                          open=[]) from e
    if digest != plan.sha256:
        raise ReviewError(409, f"the original {src} changed since the run (sha256 differs): "
                               "run it again", open=[])


def summary(plan: RenderPlan, d: Decisions) -> list[str]:
    """One line per decision, for the report's approval entry."""
    lines = []
    for rid, c in sorted(d.regions.items()):
        t = plan.track(rid) or next((a for a in d.added if a.id == rid), None)
        kind = t.kind if t else "?"
        lines.append(f"{c.action} {rid} ({kind})" + (f": {c.reason}" if c.reason else ""))
    for t in d.added:
        if d.action(t) == "blur":
            lines.append(f"added {t.id} ({t.kind})")
    for fid, fc in sorted(d.flags.items()):
        f = plan.flag(fid)
        lines.append(f"{fc.state} {fid} ({f.kind if f else '?'}): {fc.reason}")
    lines += [f"muted {a:.2f}-{b:.2f} s" for a, b in d.mutes]
    return lines
