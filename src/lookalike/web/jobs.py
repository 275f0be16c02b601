"""Heavy work as bounded, cancellable jobs: each runs in its own daemon thread, at most one at a time
per served library (a second start is refused as `Busy`, the caller answers 429 with Retry-After),
and stops when nobody polls it any more (`idle_seconds`), when it is deleted, or when the server
shuts down. The work is asked between its steps whether to stop (the service's `cancel` callback) and
raises `Cancelled`; while it runs it may publish a partial answer (the latest replaces the one before,
and the final result replaces it); its result is dropped with the job a few minutes after it finished."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import Cancelled, LookalikeError
from ..types import Cancel, Progress

logger = logging.getLogger(__name__)
DEFAULT_IDLE_SECONDS = 30.0  # a running job nobody polled for this long is cancelled
KEEP_SECONDS = 300.0  # a finished job (and its result) is kept this long for its poller
MAX_KEPT = 32  # finished jobs kept at most (the oldest go first)
TICK = 1.0  # how often the watchdog looks
Publish = Callable[[Any], None]
"""Hands the job's latest partial answer to its pollers (kept by reference: no copy per poll)."""
Work = Callable[[Cancel, Progress, Publish], Any]
"""The job's work: called with its cancel, progress and publish callbacks, returns the result."""


class Busy(LookalikeError):
    """Another heavy job of this library is still running (`details['job']`, `details['retry_after']`)."""

    kind = "busy"


@dataclass
class Job:
    """One job: its status (running, done, cancelled, failed), progress, the partial answer published
    while it runs, and its result or error."""

    id: str
    kind: str
    params: dict[str, Any]
    seen: float
    status: str = "running"
    done: int = 0
    total: int = 0
    result: Any = None
    partial: Any = None
    error: str | None = None
    error_kind: str | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        """Whether its worker thread still runs (a cancelled job winds down between two steps)."""
        return self.thread is not None and self.thread.is_alive()

    def cancelled(self) -> bool:
        return self.stop.is_set()

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def publish(self, partial: Any) -> None:
        """The answer so far (ignored once the job ended: the result or the error replaces it)."""
        if self.status == "running":
            self.partial = partial


class Jobs:
    """The jobs of one served library. The watchdog thread starts with the first job; `close` cancels
    everything and waits a bounded time for the workers."""

    def __init__(self, idle_seconds: float = DEFAULT_IDLE_SECONDS, keep_seconds: float = KEEP_SECONDS,
                 max_kept: int = MAX_KEPT, tick: float = TICK) -> None:
        if idle_seconds <= 0:
            raise ValueError("idle_seconds must be positive")
        self.idle_seconds, self.keep_seconds, self.max_kept, self.tick = idle_seconds, keep_seconds, max_kept, tick
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._watchdog: threading.Thread | None = None

    def start(self, kind: str, params: dict[str, Any], work: Work) -> Job:
        """A new running job doing `work`; `Busy` while another job's worker still runs."""
        with self._lock:
            if self._closed.is_set():
                raise Busy("the server is shutting down", retry_after=5)
            for other in self._jobs.values():
                if other.alive:
                    wait = 2 if other.cancelled() else 5
                    raise Busy(f"a {other.kind} job is already running on this library (job {other.id}): "
                               f"wait for it, or cancel it", job=other.id, retry_after=wait)
            self._prune()
            job = Job(secrets.token_urlsafe(12), kind, params, seen=time.monotonic())
            job.thread = threading.Thread(target=self._run, args=(job, work), name=f"lookalike-job-{job.id}",
                                          daemon=True)
            self._jobs[job.id] = job
            if self._watchdog is None:
                self._watchdog = threading.Thread(target=self._watch, name="lookalike-job-watchdog", daemon=True)
                self._watchdog.start()
            job.thread.start()
        return job

    def get(self, job_id: str) -> Job:
        """The job, marked as watched (its idle clock starts again)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise LookalikeError(f"no job {job_id[:40]!r} (unknown, or finished long ago)", unknown_id=job_id[:40])
            job.seen = time.monotonic()
            return job

    def cancel(self, job_id: str, reason: str = "cancelled on request") -> Job:
        """Tell the job to stop (a finished job stays as it is)."""
        job = self.get(job_id)
        self._cancel(job, reason)
        return job

    def running(self) -> list[Job]:
        """Jobs whose worker still runs."""
        with self._lock:
            return [job for job in self._jobs.values() if job.alive]

    def close(self, wait: float = 2.0) -> None:
        """Cancel every job and wait at most `wait` seconds in all for the workers (they are daemon
        threads: one still busy does not keep the process alive)."""
        self._closed.set()
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            self._cancel(job, "the server is shutting down")
        deadline = time.monotonic() + wait
        for job in jobs:
            if job.thread is not None:
                job.thread.join(max(0.0, deadline - time.monotonic()))

    def _cancel(self, job: Job, reason: str) -> None:
        with self._lock:
            if job.status == "running":
                job.status, job.error, job.error_kind = "cancelled", reason, Cancelled.kind
                job.finished = time.monotonic()
                job.partial = None
            job.stop.set()

    def _run(self, job: Job, work: Work) -> None:
        result: Any = None
        status, error, kind = "done", None, None
        try:
            result = work(job.cancelled, job.progress, job.publish)
        except Cancelled:
            status, error, kind = "cancelled", "cancelled", Cancelled.kind
        except LookalikeError as exc:
            status, error, kind = "failed", exc.reason or str(exc), exc.kind
        except Exception:  # an unforeseen failure is logged, never a dead thread with a running job
            logger.exception("%s job %s failed", job.kind, job.id)
            status, error, kind = "failed", "internal server error", "internal"
        with self._lock:
            if job.status == "running":  # a job already cancelled keeps its reason and drops the result
                job.status, job.result, job.error, job.error_kind = status, result, error, kind
                job.finished = time.monotonic()
            job.partial = None

    def _watch(self) -> None:
        while not self._closed.wait(self.tick):
            now = time.monotonic()
            with self._lock:
                idle = [job for job in self._jobs.values()
                        if job.status == "running" and now - job.seen > self.idle_seconds]
            for job in idle:
                logger.warning("%s job %s not polled for %.0f s: cancelled", job.kind, job.id, self.idle_seconds)
                self._cancel(job, f"nobody polled the job for {self.idle_seconds:g} s")
            with self._lock:
                self._prune()

    def _prune(self) -> None:
        """Drop finished jobs older than `keep_seconds`, and the oldest beyond `max_kept` (lock held)."""
        now = time.monotonic()
        finished = sorted((job for job in self._jobs.values() if job.finished is not None and not job.alive),
                          key=lambda job: job.finished or 0.0)
        for position, job in enumerate(finished):
            if now - (job.finished or now) > self.keep_seconds or len(finished) - position > self.max_kept:
                del self._jobs[job.id]
