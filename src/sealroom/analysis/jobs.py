"""Analyses run in the background of a session, for clients that should not hold a request open
(the browser shows progress while the engine works).

A job runs ``AnalysisService.analyze`` on its own thread, as the session that started it, with every
check and audit record of a direct call; the masked result it returns is kept with the job, in memory,
until the session ends (the jobs of a purged session are dropped with its images). Only the session
that started a job can see it; another session's job id answers like an unknown one.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sealroom.analysis.models import AnalysisTask
from sealroom.analysis.progress import reporting
from sealroom.analysis.service import AnalysisService
from sealroom.clock import Clock
from sealroom.errors import (
    AccessDeniedError,
    ConflictError,
    NotFoundError,
    SealroomError,
    StepUpRequiredError,
)
from sealroom.material import SessionMaterial
from sealroom.sessions import ActiveSession

JobStatus = Literal["running", "done", "failed"]
MAX_RUNNING_PER_SESSION = 2
"""A session may have this many analyses running at once (the engines are CPU-bound)."""
MAX_KEPT_PER_SESSION = 20
UNKNOWN_JOB = "no such analysis in this session"
CLOSE_WAIT_SECONDS = 30.0


@dataclass
class AnalysisJob:
    """One analysis: what was asked, how far it got, and its masked result or error."""

    id: str
    session_id: str
    image_id: str
    engine: str
    task: str
    started_at: datetime
    status: JobStatus = "running"
    finished_at: datetime | None = None
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = field(default=None, repr=False)
    pages_done: int = 0
    pages_total: int | None = None
    """Set by the engine's page progress (``sealroom.analysis.progress``); ``None`` until it reports."""

    def advance(self, pages_done: int, pages_total: int) -> None:
        """Record the engine's page progress (never backwards: extra reads do not rewind it)."""
        if self.pages_total is None or pages_total >= self.pages_total:
            self.pages_total = pages_total
            self.pages_done = max(self.pages_done, pages_done)

    def view(self, now: datetime) -> dict[str, Any]:
        """JSON-ready: status, timing, page progress (``pages_total`` is ``None`` until the engine has
        read a page; engines that do not report leave it so), and the result or error once there is one."""
        end = self.finished_at or now
        return {
            "id": self.id,
            "image_id": self.image_id,
            "engine": self.engine,
            "task": self.task,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "elapsed_seconds": round((end - self.started_at).total_seconds(), 1),
            "progress": {"pages_done": self.pages_done, "pages_total": self.pages_total},
            "error": self.error,
            "result": self.result,
        }


def error_view(exc: Exception) -> dict[str, Any]:
    """What a client may learn of a failed analysis (a 404's reason would reveal scope)."""
    if not isinstance(exc, SealroomError):
        return {
            "code": "analysis_failed",
            "message": "the analysis failed; try again or ask an administrator",
        }
    view: dict[str, Any] = {"code": exc.code, "message": exc.message, "status": exc.http_status}
    if isinstance(exc, AccessDeniedError):
        view["reason"] = exc.reason
    if isinstance(exc, StepUpRequiredError):
        view["step_up"] = True
    return view


class AnalysisJobs:
    """The background analyses of every session in this process."""

    def __init__(self, analysis: AnalysisService, material: SessionMaterial, clock: Clock) -> None:
        self._analysis = analysis
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, AnalysisJob]] = {}
        self._threads: set[threading.Thread] = set()
        material.on_purge(self.drop_session)

    def start(self, actor: ActiveSession, image_id: str, engine: str, task: AnalysisTask) -> AnalysisJob:
        """Start analysing ``image_id`` for ``actor``; returns the running job at once.

        Raises ``ConflictError`` when the session already runs ``MAX_RUNNING_PER_SESSION`` analyses.
        Every check (scope, step-up, egress) happens in the job, audited as in a direct call.
        """
        job = AnalysisJob(
            id=secrets.token_hex(16),
            session_id=actor.id,
            image_id=image_id,
            engine=engine,
            task=task.kind,
            started_at=self._clock.now(),
        )
        with self._lock:
            held = self._jobs.setdefault(actor.id, {})
            if sum(1 for other in held.values() if other.status == "running") >= MAX_RUNNING_PER_SESSION:
                raise ConflictError("two analyses are already running in this session; wait for one to end")
            held[job.id] = job
            for old in sorted(held.values(), key=lambda j: j.started_at)[:-MAX_KEPT_PER_SESSION]:
                if old.status != "running":
                    del held[old.id]
        thread = threading.Thread(
            target=self._run, args=(actor, job, task), name=f"sealroom-analysis-{job.id[:8]}", daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return job

    def close(self, timeout: float = CLOSE_WAIT_SECONDS) -> None:
        """Wait (bounded) for running analyses, so none is cut off inside an engine at shutdown."""
        deadline = time.monotonic() + timeout
        with self._lock:
            running = list(self._threads)
        for thread in running:
            thread.join(max(0.0, deadline - time.monotonic()))

    def get(self, actor: ActiveSession, job_id: str) -> AnalysisJob:
        """The session's job ``job_id``; ``NotFoundError`` for any other id."""
        with self._lock:
            job = self._jobs.get(actor.id, {}).get(job_id)
        if job is None:
            raise NotFoundError(UNKNOWN_JOB)
        return job

    def drop_session(self, session_id: str) -> None:
        """Forget every job of a session (its results go with it)."""
        with self._lock:
            self._jobs.pop(session_id, None)

    def _run(self, actor: ActiveSession, job: AnalysisJob, task: AnalysisTask) -> None:
        try:
            self._finish(actor, job, task)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _finish(self, actor: ActiveSession, job: AnalysisJob, task: AnalysisTask) -> None:
        try:
            with reporting(job.advance):
                result = self._analysis.analyze(actor, job.image_id, job.engine, task)
        except Exception as exc:  # reported to the client through the job, by kind only
            outcome: tuple[JobStatus, dict[str, Any] | None, dict[str, Any] | None] = (
                "failed",
                error_view(exc),
                None,
            )
        else:
            outcome = ("done", None, result)
        with self._lock:
            if self._jobs.get(actor.id, {}).get(job.id) is not job:
                return  # the session ended meanwhile: nothing is kept
            job.status, job.error, job.result = outcome
            job.finished_at = self._clock.now()
