"""Approvals in the background: one render at a time, in submission order.

An approval renders the whole file again (a minute of video takes minutes on two
cores), so the page hands it over and goes on to the next file; it asks
`/api/jobs` how its approvals went.  While a file's approval is queued or
running its decisions are frozen (the service refuses edits), so the file is
written with exactly the decisions the reviewer approved.  The queue itself lives
in memory; what makes an approval survive a stopped server is the request row
the review service stores first (ReviewService._resume_approvals).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
PENDING = (QUEUED, RUNNING)


@dataclass
class Job:
    id: str
    fid: str
    input: str
    state: str = QUEUED
    submitted: float = field(default_factory=time.time)
    finished: float | None = None
    output: str | None = None
    error: str | None = None
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "file": self.fid, "input": self.input, "state": self.state,
                "submitted": self.submitted, "finished": self.finished,
                "output": self.output, "error": self.error, "problems": self.problems}


class JobError(Exception):
    """Why an approval failed: the message and any re-check problems."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class ApprovalQueue:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sanitize-approve")

    def submit(self, fid: str, input_rel: str, work: Callable[[], str]) -> Job:
        """Queue `work` (returns the output path; raises JobError) for file `fid`;
        ValueError when that file already has an approval queued or running."""
        with self._lock:
            if self._pending(fid) is not None:
                raise ValueError("this file is already being approved")
            job = Job(f"j{next(self._ids)}", fid, input_rel)
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, work)
        return job

    def pending(self, fid: str) -> Job | None:
        """The file's approval that is queued or running, if any."""
        with self._lock:
            return self._pending(fid)

    def _pending(self, fid: str) -> Job | None:
        return next((j for j in self._jobs.values() if j.fid == fid and j.state in PENDING),
                    None)

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def close(self) -> None:
        """Finish the approval being written; drop those not started (the review
        service keeps them queued in its store and queues them again at its next
        start)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, job: Job, work: Callable[[], str]) -> None:
        job.state = RUNNING
        try:
            job.output = work()
            job.state = DONE
        except JobError as e:
            job.error, job.problems, job.state = str(e), e.problems, FAILED
        except Exception as e:  # noqa: BLE001 -- a bug fails this approval, not the server
            job.error, job.state = f"internal error: {type(e).__name__}: {e}", FAILED
        finally:
            job.finished = time.time()
