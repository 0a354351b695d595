"""Watch folder: files dropped into INBOX are sanitised into OUT as they arrive.

A file is taken only once its size and mtime have stayed the same for
`stable_seconds` (a copy from a phone or a network share arrives in pieces).
Everything goes through the same ledger as `sanitize run`, so a restart skips
what is done and picks up whatever was dropped while the watcher was down.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from sanitize.batch import (
    InputFile,
    clean_tmp,
    collect_inputs,
    out_lock,
    plan,
    process_pending,
    sweep_orphans,
    write_run_reports,
)
from sanitize.config import Settings
from sanitize.engines import DEFAULT_WORKER, Engine, make_engine, sigterm_as_interrupt
from sanitize.ledger import Ledger
from sanitize.policy import PolicyError, load_policy
from sanitize.types import FileResult, Status

log = logging.getLogger("sanitize.watch")


class StableTracker:
    """Paths seen recently, released once they stop changing.  Thread-safe:
    the observer thread adds, the main loop takes."""

    def __init__(self, stable_seconds: float) -> None:
        self.stable_seconds = stable_seconds
        self._lock = threading.Lock()
        self._seen: dict[Path, tuple[tuple[int, int] | None, float]] = {}

    def touch(self, path: Path) -> None:
        with self._lock:
            self._seen[path] = (None, time.monotonic())

    def take_ready(self) -> list[Path]:
        now = time.monotonic()
        ready = []
        with self._lock:
            for path, (sig, since) in list(self._seen.items()):
                try:
                    st = path.stat()
                except OSError:  # gone again (a temp name renamed away): forget it
                    del self._seen[path]
                    continue
                cur = (st.st_size, st.st_mtime_ns)
                if cur != sig:
                    self._seen[path] = (cur, now)
                elif now - since >= self.stable_seconds:
                    ready.append(path)
                    del self._seen[path]
        return sorted(ready)


class _InboxHandler(FileSystemEventHandler):
    def __init__(self, tracker: StableTracker, out_root: Path) -> None:
        self.tracker = tracker
        self.out_root = out_root

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if not raw:
                continue
            path = Path(os.fsdecode(raw))
            if path == self.out_root or self.out_root in path.parents:
                continue  # our own outputs when OUT sits inside INBOX
            if event.is_directory:
                # A folder moved in arrives as one event; its files need a scan.
                for f in collect_inputs([path], self.out_root):
                    self.tracker.touch(f.src)
            else:
                self.tracker.touch(path)


def watch(inbox: Path, out_root: Path, settings: Settings, stable_seconds: float = 2.0,
          stop: threading.Event | None = None, *, jobs: int = 1, engine: str = "local",
          scheduler: str | None = None, poll_seconds: float = 0.5,
          worker: str = DEFAULT_WORKER) -> None:
    """Run until `stop` is set (or forever).  Results land in OUT/safe or
    OUT/review and the ledger; reports are rebuilt after each batch of arrivals."""
    stop = stop or threading.Event()
    inbox = Path(os.path.abspath(inbox))
    out_root = Path(os.path.abspath(out_root))
    tracker = StableTracker(stable_seconds)
    with out_lock(out_root), sigterm_as_interrupt():
        clean_tmp(out_root)
        with Ledger.open(out_root) as ledger:
            eng = make_engine(engine, jobs, scheduler)
            observer = Observer()
            observer.schedule(_InboxHandler(tracker, out_root), str(inbox), recursive=True)
            observer.start()
            try:
                # Scan after the observer is live, so nothing dropped in between is missed.
                for f in collect_inputs([inbox], out_root):
                    tracker.touch(f.src)
                refused = ""
                while not stop.is_set():
                    ready = tracker.take_ready()
                    if ready and (problem := _policy_problem(settings)):
                        # The policy file was edited into one that is refused: say so
                        # once, and keep the files waiting until it is fixed.
                        if problem != refused:
                            log.error("%s; %d file(s) wait until it is fixed", problem,
                                      len(ready))
                        refused = problem
                        for path in ready:
                            tracker.touch(path)
                    elif ready:
                        refused = ""
                        _process(ready, inbox, out_root, settings, ledger, eng, worker)
                    stop.wait(poll_seconds)
            except BaseException:
                # Ctrl-C or SIGTERM: the workers end with us, mid-file if need be (the
                # ledger and the atomic renames make the next start finish that file).
                eng.terminate()
                raise
            finally:
                observer.stop()
                observer.join()
                eng.close()


def _policy_problem(settings: Settings) -> str:
    """Why the (possibly edited) policy file is refused, or "" when it is sound."""
    try:
        load_policy(settings.policy_file)
    except PolicyError as e:
        return str(e)
    return ""


def _log_result(r: FileResult) -> None:
    if r.status is Status.ERROR:
        log.warning("%s: error: %s", r.input, r.error)
    else:
        log.info("%s: %s -> %s", r.input, r.status.value, r.output)


def _process(paths: list[Path], inbox: Path, out_root: Path, settings: Settings,
             ledger: Ledger, eng: Engine, worker: str) -> None:
    inputs = [InputFile(p, p.relative_to(inbox)) for p in paths if p.is_file()]
    p = plan(inputs, out_root, settings, ledger)
    for refused in p.conflicts.values():  # not processed, so never in the ledger: log them
        _log_result(refused)
    counts = process_pending(p.todo, out_root, settings, eng, ledger, progress=False,
                             worker=worker, on_result=_log_result)
    sweep_orphans(out_root, inputs, ledger)
    write_run_reports(out_root, [r.result() for r in ledger.rows()], settings)
    log.info("watch: %d new (%s), %d already done", len(p.todo),
             ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-", p.skipped)
