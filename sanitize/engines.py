"""Where per-file jobs run: a local process pool or a Dask cluster.

Both engines take `Job`s and yield exactly one `FileResult` per job, in
completion order, and never raise because of one file: a worker that dies
(segfault in a native decoder, OOM kill) becomes an ERROR result for the file
it was working on.  The driver (sanitize.batch) owns the ledger; engines
only move jobs and results.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sanitize.config import Settings
from sanitize.errors import UsageProblem
from sanitize.types import FileResult, Status

DEFAULT_WORKER = "sanitize.pipeline:process_file"
CONNECT_TIMEOUT_S = 5.0  # Dask scheduler: an address that does not answer is an error

# Native libraries read these once, at import: they must be set before the
# worker imports numpy/cv2/onnxruntime, or every worker starts one thread per
# core and N workers fight over N cores.
_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "SANITIZE_WORKER": "1",  # read by Settings.session_threads: one ONNX thread per worker
}

CRASH_REASON = (
    "worker process crashed while processing this file "
    "(fault in a native decoder or out of memory)"
)


@dataclass(frozen=True)
class Job:
    src: Path
    rel: Path
    out_root: Path
    settings: Settings
    worker: str = DEFAULT_WORKER  # "module:function"; tests swap in fakes


ProcessFn = Callable[[Path, Path, Path, Settings], FileResult]


def error_result(rel: Path, reason: str) -> FileResult:
    return FileResult(input=rel.as_posix(), status=Status.ERROR, error=reason)


def init_worker() -> None:
    """Pool initializer: runs in the fresh worker before any task is unpickled."""
    os.environ.update(_THREAD_ENV)


def _resolve(spec: str) -> ProcessFn:
    module, _, name = spec.partition(":")
    fn: ProcessFn = getattr(importlib.import_module(module), name)
    return fn


def _ping() -> bool:
    return True


def run_job(job: Job) -> FileResult:
    """The per-file task, run inside a worker (pool process or Dask worker)."""
    # Dask workers never ran init_worker; setting it here is a no-op elsewhere.
    for k, v in _THREAD_ENV.items():
        os.environ.setdefault(k, v)
    t0 = time.monotonic()
    try:
        fn = _resolve(job.worker)
        if "cv2" in sys.modules:
            sys.modules["cv2"].setNumThreads(1)
        result = fn(job.src, job.rel, job.out_root, job.settings)
    except Exception as e:  # noqa: BLE001 — process_file never raises; a bug must cost one file
        result = error_result(job.rel, f"internal error: {type(e).__name__}: {e}")
        result.seconds = time.monotonic() - t0
    result.input = job.rel.as_posix()
    return result


class Engine(Protocol):
    def run(self, jobs: Iterable[Job]) -> Iterator[FileResult]:
        """One result per job, in completion order; never raises for one file."""
        ...

    def close(self) -> None: ...

    def terminate(self) -> None:
        """End every worker now, even mid-file (a stop request)."""
        ...


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within this block SIGTERM (a service manager's stop) raises KeyboardInterrupt,
    like Ctrl-C, so the driver unwinds and ends its workers instead of dying alone
    and leaving them orphaned.  Only the main thread can take signals; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class LocalEngine:
    """concurrent.futures process pool, 'spawn' context (onnxruntime and fork
    don't mix), workers recycled every `recycle_after` files to bound memory."""

    def __init__(self, jobs: int | None = None, recycle_after: int = 50) -> None:
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.recycle_after = recycle_after
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
            max_tasks_per_child=self.recycle_after,
        )

    def _drop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        self._drop_pool()

    def terminate(self) -> None:
        """Kill the pool's workers now: shutdown() alone would wait for the file each
        one is working on (minutes for a long video) and a stopped service's manager
        would then kill the driver, orphaning them."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # The executor offers no public handle on its processes before Python 3.14
        # (terminate_workers); _processes is the documented-by-source pid → Process map.
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        pool.shutdown(wait=True, cancel_futures=True)

    def _isolated(self, job: Job) -> FileResult:
        """Re-run one suspect of a pool crash alone, so a crash names its file."""
        pool = self._new_pool(1)
        try:
            try:
                pool.submit(_ping).result()
            except BrokenProcessPool as e:
                # Not this file's fault: no worker can start at all (broken install,
                # no memory).  Marking every file "crashed" would hide that.
                raise RuntimeError("cannot start worker processes; see the messages above") from e
            return pool.submit(run_job, job).result()
        except BrokenProcessPool:
            return error_result(job.rel, CRASH_REASON)
        except Exception as e:  # noqa: BLE001 — e.g. an unpicklable result: this file only
            return error_result(job.rel, f"internal error: {type(e).__name__}: {e}")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def run(self, jobs: Iterable[Job]) -> Iterator[FileResult]:
        pending = iter(jobs)
        inflight: dict[Future[FileResult], Job] = {}
        try:
            while True:
                if self._pool is None:
                    self._pool = self._new_pool(self.jobs)
                suspects: list[Job] = []
                # Keep only `jobs` files in flight: when the pool breaks we know
                # the culprit is among these few, and queued work stays small.
                while len(inflight) < self.jobs:
                    job = next(pending, None)
                    if job is None:
                        break
                    try:
                        inflight[self._pool.submit(run_job, job)] = job
                    except BrokenProcessPool:
                        suspects.append(job)
                        break
                if not inflight and not suspects:
                    return
                if inflight:
                    done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                    for fut in done:
                        job = inflight.pop(fut)
                        try:
                            yield fut.result()
                        except BrokenProcessPool:
                            suspects.append(job)
                        except Exception as e:  # noqa: BLE001 — pickling trouble: this file only
                            yield error_result(job.rel, f"internal error: {type(e).__name__}: {e}")
                if suspects:
                    # Every file still in flight may have been lost with the pool.
                    suspects.extend(inflight.values())
                    inflight.clear()
                    self._drop_pool()
                    for job in suspects:
                        yield self._isolated(job)
        finally:
            if inflight:
                self._drop_pool()


class DaskEngine:
    """Same jobs on a dask.distributed cluster.  Workers must see the input and
    OUT paths at the same locations (shared disk) and have sanitize installed;
    start them with `--nthreads 1` (one file per process, like the local pool)."""

    def __init__(self, scheduler: str | None = None, jobs: int | None = None) -> None:
        from distributed import Client, LocalCluster

        self._cluster: LocalCluster | None = None
        if scheduler:
            try:
                # Fail fast: the default connect timeout is 30 s, then a traceback.
                self.client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError) as e:
                raise UsageProblem(
                    f"cannot reach the Dask scheduler at {scheduler} ({type(e).__name__}); "
                    "start `dask scheduler` there or check the address") from e
        else:
            self._cluster = LocalCluster(
                n_workers=max(1, jobs or os.cpu_count() or 1),
                threads_per_worker=1, processes=True,
            )
            self.client = Client(self._cluster)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def terminate(self) -> None:
        # A local cluster's workers end with it; a remote cluster's workers are not ours.
        self.close()

    def run(self, jobs: Iterable[Job]) -> Iterator[FileResult]:
        from distributed import as_completed

        pending = iter(jobs)
        slots = max(2, 2 * sum(self.client.nthreads().values()))
        futs = {}
        for job in pending:
            futs[self.client.submit(run_job, job, pure=False)] = job
            if len(futs) >= slots:
                break
        ac = as_completed(list(futs))
        for fut in ac:
            job = futs.pop(fut)
            try:
                yield fut.result()
            except Exception as e:  # noqa: BLE001 — whatever a remote worker raised
                # KilledWorker: the task took its worker down `allowed-failures` times.
                name = type(e).__name__
                reason = CRASH_REASON if name == "KilledWorker" else f"internal error: {name}: {e}"
                yield error_result(job.rel, reason)
            finally:
                fut.release()
            nxt = next(pending, None)
            if nxt is not None:
                f = self.client.submit(run_job, nxt, pure=False)
                futs[f] = nxt
                ac.add(f)


def make_engine(name: str, jobs: int | None, scheduler: str | None = None) -> Engine:
    if name == "local":
        return LocalEngine(jobs)
    if name == "dask":
        return DaskEngine(scheduler, jobs)
    raise ValueError(f"unknown engine {name!r} (local or dask)")
