"""Batch runs: find the inputs, skip what the ledger says is done, run the
rest on an engine, record each result as it arrives, then tidy OUT and
rebuild the reports from the ledger.

Kill-safety rests on three rules:
  * a worker publishes an output only by os.replace from OUT/.tmp (pipeline);
  * a file counts as done only when its ledger row is committed AND its
    output still exists with the recorded sha256 — so an output renamed into
    place just before a SIGKILL, without its row, is simply made again;
  * at the end, files in safe/ or review/ that belong to a current input but
    that no ledger row vouches for (left by a killed run, or by an input whose
    status flipped) are removed, and stale temp files are cleared at start.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from sanitize import __version__
from sanitize.config import TMP_DIR, Settings, threads_for
from sanitize.engines import (
    DEFAULT_WORKER,
    Engine,
    Job,
    LocalEngine,
    error_result,
    make_engine,
    sigterm_as_interrupt,
)
from sanitize.errors import UsageProblem
from sanitize.hashing import sha256_file
from sanitize.ledger import Ledger, LedgerRow
from sanitize.naming import possible_outputs
from sanitize.review.store import ReviewStore
from sanitize.types import FileResult, Status

OUTPUT_DIRS = ("safe", "review")
LOCK_NAME = ".lock"


@dataclass(frozen=True)
class InputFile:
    src: Path  # absolute
    rel: Path  # where it is mirrored below OUT/safe or OUT/review


# ---------------------------------------------------------------- walking


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _is_regular(path: Path) -> bool:
    """Regular file (following a file symlink).  FIFOs, sockets and devices are
    skipped: opening a FIFO would block the batch forever."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return path.is_symlink()  # dangling link: keep it, it becomes an ERROR with a reason


def _walk(root: Path) -> Iterator[Path]:
    # followlinks=False: a directory symlink is never entered, so a link back to
    # an ancestor cannot loop and a link out of the tree cannot pull in strangers.
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in filenames:
            yield Path(dirpath) / name


def collect_inputs(paths: list[Path], out_root: Path) -> list[InputFile]:
    """Files given and files below folders given, recursively, in a stable order.

    A file's `rel` is its path below the folder it was found in (a file given
    directly keeps its bare name) — never renamed: output names come from
    sanitize.naming, and `plan` refuses inputs whose outputs could clash.  Anything
    inside `out_root` is skipped so the tool never re-processes its own outputs.
    The same file reached twice counts once.
    """
    out_dirs = {Path(os.path.abspath(out_root)), Path(os.path.realpath(out_root))}
    found: list[InputFile] = []
    seen_src: set[Path] = set()
    for arg in paths:
        base = Path(os.path.abspath(arg))
        if base.is_dir():  # a folder named on the command line is entered even if a link
            candidates = [(p, p.relative_to(base)) for p in _walk(base)]
        else:
            candidates = [(base, Path(base.name))]
        local = []
        for src, rel in candidates:
            real = Path(os.path.realpath(src))
            if any(_inside(src, d) or _inside(real, d) for d in out_dirs):
                continue
            if not _is_regular(src):
                continue
            local.append(InputFile(src, rel))
        local.sort(key=lambda f: f.rel.as_posix())
        for f in local:
            real = Path(os.path.realpath(f.src))
            if real in seen_src:
                continue
            seen_src.add(real)
            found.append(f)
    return found


# ---------------------------------------------------------------- OUT housekeeping


@contextmanager
def out_lock(out_root: Path) -> Iterator[None]:
    """One run per OUT at a time (a `run` and a `watch` on the same OUT would
    delete each other's temp files).  The OS drops the lock when we die."""
    out_root.mkdir(parents=True, exist_ok=True)
    with open(out_root / LOCK_NAME, "a+b") as fh:
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            raise UsageProblem(f"another sanitize process (a `run` or `watch`) is using "
                               f"{out_root}; wait for it, stop it, or use another -o") from e
        yield


def clean_tmp(out_root: Path) -> int:
    """Remove partial files a killed run left in OUT/.tmp (only ever ours)."""
    tmp = out_root / TMP_DIR
    if not tmp.is_dir():
        return 0
    n = 0
    for p in tmp.iterdir():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        n += 1
    return n


def _output_ok(out_root: Path, row: LedgerRow) -> bool:
    if row.output is None or row.sha256_out is None:
        return False
    try:
        return sha256_file(out_root / row.output) == row.sha256_out
    except OSError:
        return False


def is_done(row: LedgerRow | None, src: Path, size: int | None, fingerprint: str,
            out_root: Path) -> bool:
    """True when the ledger row covers this exact input (bytes, settings, policy,
    tool version, models) and its output is still there, unchanged.  Errors are
    always retried: a crash or a locked file may not happen again."""
    if row is None or row.fingerprint != fingerprint or row.status is Status.ERROR:
        return False
    if row.tool_version != __version__:  # also in the fingerprint; stated for the reader
        return False
    if size is None or row.size != size:
        return False
    try:
        if sha256_file(src) != row.sha256_in:
            return False
    except OSError:
        return False
    return _output_ok(out_root, row)


def _remove_unclaimed(out_root: Path, output: str | None, ledger: Ledger) -> None:
    if output and output not in ledger.claimed_outputs():
        (out_root / output).unlink(missing_ok=True)


def sweep_orphans(out_root: Path, inputs: list[InputFile], ledger: Ledger) -> list[str]:
    """Delete outputs of current inputs that no ledger row vouches for.

    Candidates are the names an input's output could have (naming.possible_outputs:
    the format decides the extension), so outputs of other inputs are never touched."""
    claimed = ledger.claimed_outputs()
    listing: dict[Path, list[str]] = {}
    removed = []
    for f in inputs:
        mine = possible_outputs(f.rel)
        for top in OUTPUT_DIRS:
            d = out_root / top / f.rel.parent
            if d not in listing:
                try:
                    listing[d] = sorted(os.listdir(d))
                except OSError:
                    listing[d] = []
            for name in listing[d]:
                if (f.rel.parent / name).as_posix().casefold() not in mine:
                    continue
                rel_out = (Path(top) / f.rel.parent / name).as_posix()
                p = out_root / rel_out
                if rel_out not in claimed and p.is_file():
                    p.unlink(missing_ok=True)
                    removed.append(rel_out)
    return removed


def write_run_reports(out_root: Path, results: list[FileResult], settings: Settings) -> None:
    """report.json/html from ledger results, so every input appears exactly once
    even when this run only did part of the work."""
    from sanitize.report.writer import write_reports

    models = sorted({m for r in results for m in r.models})
    write_reports(out_root, results, models, settings)


# ---------------------------------------------------------------- running


@dataclass
class _Pending:
    inp: InputFile
    size: int | None
    mtime: float | None


def _stat(src: Path) -> tuple[int | None, float | None]:
    try:
        st = src.stat()
        return st.st_size, st.st_mtime
    except OSError:
        return None, None


class _Progress:
    """One tqdm bar with safe/review/failed counts; silent when disabled."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.counts: Counter[str] = Counter()
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="file", desc="sanitize", dynamic_ncols=True)

    def update(self, status: Status) -> None:
        self.counts[status.value] += 1
        if self.bar is not None:
            self.bar.set_postfix(safe=self.counts["safe"], review=self.counts["review"],
                                 failed=self.counts["error"], refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def process_pending(todo: list[_Pending], out_root: Path, settings: Settings, engine: Engine,
                    ledger: Ledger, progress: bool, worker: str = DEFAULT_WORKER,
                    on_result: Callable[[FileResult], None] | None = None) -> Counter[str]:
    """Run `todo` on `engine`, committing each result to the ledger on arrival
    (then telling `on_result`, e.g. the watch folder's log)."""
    fingerprint = settings.fingerprint()
    if settings.threads == 0 and isinstance(engine, LocalEngine):
        # The cores each worker has: a lone file gets them all.
        settings = replace(settings, threads=threads_for(min(engine.jobs, len(todo))))
    by_rel = {p.inp.rel.as_posix(): p for p in todo}
    bar = _Progress(len(todo), progress)
    jobs = (Job(p.inp.src, p.inp.rel, out_root, settings, worker) for p in todo)
    plans = ReviewStore(ledger.path)  # each input's render plan, for the review workstation
    try:
        for result in engine.run(jobs):
            p = by_rel.get(result.input)
            if p is None:  # cannot happen: engines stamp input=rel; never drop a result silently
                raise RuntimeError(f"engine returned an unknown input {result.input!r}")
            if result.status is Status.ERROR:
                result.output = None
            elif result.plan is not None:
                plans.save_plan(result.plan)
            result.plan = None
            old = ledger.record(p.inp.rel.as_posix(), str(p.inp.src), p.size, p.mtime,
                                fingerprint, __version__, result,
                                started_at=time.time() - result.seconds)
            # The pipeline removes a stale copy in the other folder; this also
            # covers an extension change or a file that now fails.
            if old is not None and old.output != result.output:
                _remove_unclaimed(out_root, old.output, ledger)
            bar.update(result.status)
            if on_result is not None:
                on_result(result)
    finally:
        bar.close()
        plans.close()
    return bar.counts


@dataclass
class Plan:
    todo: list[_Pending]
    skipped: int
    # input src → ERROR result for inputs refused without touching the ledger
    conflicts: dict[Path, FileResult]


def _clashes(row: LedgerRow, src: Path) -> bool:
    """The ledger already holds this rel for a *different* file that still exists:
    two folders with the same layout run into one OUT (day1/, then day2/).
    Processing would overwrite the first one's output and its ledger row."""
    if os.path.realpath(row.src) == os.path.realpath(src):
        return False
    old = Path(row.src)
    try:
        return old.is_file() and sha256_file(old) == row.sha256_in
    except OSError:
        return False


def _output_owners(ledger: Ledger) -> dict[str, LedgerRow]:
    """Every output name a ledger row's input could have → that row."""
    owners: dict[str, LedgerRow] = {}
    for row in ledger.rows():
        for name in possible_outputs(Path(row.rel)):
            owners.setdefault(name, row)
    return owners


def plan(inputs: list[InputFile], out_root: Path, settings: Settings, ledger: Ledger) -> Plan:
    """Split inputs into work to do, work already done and refused clashes.

    Two inputs whose outputs could get the same name (the same relative path from
    two folders, or names like `p` and `p.jpg`) would overwrite each other: the one
    the ledger already holds, else the first in (path, folder) order, is processed
    and the other refused with a reason naming the first."""
    fingerprint = settings.fingerprint()
    result = Plan([], 0, {})
    owners = _output_owners(ledger)
    taken: dict[str, InputFile] = {}
    for inp in sorted(inputs, key=lambda f: (f.rel.as_posix(), str(f.src))):
        names = possible_outputs(inp.rel)
        first = next((taken[n] for n in sorted(names) if n in taken), None)
        other = next((owners[n] for n in sorted(names) if n in owners
                      and owners[n].rel != inp.rel.as_posix()), None)
        if first is None:
            taken.update(dict.fromkeys(names, inp))
        if first is not None:
            result.conflicts[inp.src] = error_result(
                inp.rel, f"its output name would clash with that of {first.src} in this run; "
                "rename one of them or run them into different output folders")
        elif other is not None and _clashes(other, inp.src):
            result.conflicts[inp.src] = error_result(
                inp.rel, f"its output name would clash with that of {other.src} in this OUT; "
                "rename one of them or use another output folder")
    for inp in inputs:
        if inp.src in result.conflicts:
            continue
        size, mtime = _stat(inp.src)
        rel = inp.rel.as_posix()
        row = ledger.get(rel)
        if row is not None and _clashes(row, inp.src):
            result.conflicts[inp.src] = error_result(
                inp.rel, f"{rel} in this OUT already belongs to {row.src}; "
                "use another output folder or give the parent folder as input")
        elif is_done(row, inp.src, size, fingerprint, out_root):
            result.skipped += 1
        else:
            result.todo.append(_Pending(inp, size, mtime))
    return result


def format_summary(results: list[FileResult], processed: int, skipped: int,
                   seconds: float) -> str:
    counts = Counter(r.status.value for r in results)
    rate = processed / seconds if seconds > 0 else 0.0
    lines = [
        f"{'status':<10}{'files':>8}",
        f"{'safe':<10}{counts['safe']:>8}",
        f"{'review':<10}{counts['review']:>8}",
        f"{'failed':<10}{counts['error']:>8}",
        f"{'total':<10}{len(results):>8}",
        f"processed {processed}, already done {skipped}, "
        f"{seconds:.1f} s ({rate:.2f} files/s)",
    ]
    return "\n".join(lines)


def _results_for(inputs: list[InputFile], ledger: Ledger,
                 conflicts: dict[Path, FileResult]) -> list[FileResult]:
    out = []
    for inp in inputs:
        rel = inp.rel.as_posix()
        if inp.src in conflicts:
            out.append(conflicts[inp.src])
        elif (row := ledger.get(rel)) is not None:
            out.append(row.result())
        else:  # cannot happen after process_pending; never drop an input silently
            out.append(error_result(inp.rel, "not processed (no ledger entry)"))
    return out


def run_batch(inputs: list[InputFile], out_root: Path, settings: Settings,
              jobs: int | None = None, engine: str = "local", scheduler: str | None = None,
              progress: bool = True, *, worker: str = DEFAULT_WORKER) -> list[FileResult]:
    """Process `inputs` into out_root; returns one result per input, in input order.

    Safe to re-run after any interruption: finished inputs are skipped, the rest
    done, and OUT ends as a clean run would leave it.  `worker` names the
    per-file function ("module:function"); only tests change it."""
    t0 = time.monotonic()
    out_root = Path(os.path.abspath(out_root))
    with out_lock(out_root), sigterm_as_interrupt():
        clean_tmp(out_root)
        with Ledger.open(out_root) as ledger:
            p = plan(inputs, out_root, settings, ledger)
            if p.todo:
                eng = make_engine(engine, jobs, scheduler)
                try:
                    process_pending(p.todo, out_root, settings, eng, ledger, progress, worker)
                except BaseException:
                    eng.terminate()  # Ctrl-C or SIGTERM: no orphaned workers
                    raise
                finally:
                    eng.close()
            sweep_orphans(out_root, inputs, ledger)
            clean_tmp(out_root)
            results = _results_for(inputs, ledger, p.conflicts)
            write_run_reports(out_root, results, settings)
    if progress:
        print(format_summary(results, len(p.todo), p.skipped, time.monotonic() - t0),
              file=sys.stderr)
    return results
