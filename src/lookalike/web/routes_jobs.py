"""Duplicate groups as a job: `POST /api/duplicates` starts it (202, `Location: /api/jobs/{id}`), the
page polls `GET /api/jobs/{id}` (progress, then the groups) and `DELETE /api/jobs/{id}` cancels it. A
job nobody polls for the app's `job_idle_seconds` is cancelled; one heavy job runs per library (a
second POST meanwhile gets 429 with Retry-After, whatever its parameters)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from ..types import Cancel, DuplicateOptions, Progress
from . import results
from .context import WebContext
from .dependencies import get_context
from .errors import error_body
from .jobs import Busy, Job
from .schemas import DuplicatesOut, ErrorOut, JobOut

router = APIRouter(tags=["jobs"])
Context = Annotated[WebContext, Depends(get_context)]
JobId = Annotated[str, Path(min_length=1, max_length=64, description="The id POST /api/duplicates gave.")]
BUSY: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorOut, "description": "Another heavy job of this library is running: retry after "
                                            "Retry-After seconds (or cancel it)."}}


def job_out(job: Job) -> JobOut:
    end = job.finished if job.finished is not None else time.monotonic()
    return JobOut(job=job.id, kind=job.kind, status=job.status, done=job.done, total=job.total,
                  seconds=round(end - job.started, 3), params=job.params, result=job.result,
                  error=job.error, error_kind=job.error_kind)


def accepted(job: Job) -> JSONResponse:
    return JSONResponse(job_out(job).model_dump(mode="json"), status_code=202,
                        headers={"Location": f"/api/jobs/{job.id}"})


@router.post("/duplicates", status_code=202, response_model=JobOut, responses=BUSY,
             summary="Start a job finding groups of duplicate images")
def duplicates(context: Context, threshold: Annotated[float | None, Query(
        ge=-1.0, le=1.0, description="Candidate similarity; default: the model's calibration.")] = None,
               verify: Annotated[bool, Query(description="Check every candidate pair by keypoints.")] = False,
               similar: Annotated[bool, Query(description="Also list unconfirmed candidates as similar.")] = False,
               ) -> JSONResponse:
    """Exact and near duplicates from the stored vectors, as a job (202, `Location: /api/jobs/{id}`): the
    same calibrated decision as `lookalike duplicates --library` (borderline pairs checked by keypoints),
    kinds and keepers. Poll the job at least every `job_idle_seconds` (30 s) or it is cancelled."""
    options = DuplicateOptions(threshold=threshold, verify=verify, similar=-1.0 if similar else None)

    def work(cancel: Cancel, progress: Progress) -> DuplicatesOut:
        found = context.service.duplicates(context.library, options, join_progress=progress, cancel=cancel)
        used = found.thresholds
        return DuplicatesOut(candidate=used.candidate, accept=used.accept, source=used.source,
                             candidates=found.stats.candidates, checked=found.stats.checked,
                             groups=results.duplicate_groups(context, found.groups))

    params = {"threshold": threshold, "verify": verify, "similar": similar}
    try:
        job = context.jobs.start("duplicates", params, work)
    except Busy as exc:
        body = {**error_body(exc.reason, exc.kind), "job": exc.details.get("job")}
        return JSONResponse(body, status_code=429, headers={"Retry-After": str(exc.details["retry_after"])})
    return accepted(job)


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A job's status, progress and result")
def job_status(context: Context, job_id: JobId) -> JobOut:
    """running (with `done` of `total` steps of the current phase), done (with `result`), cancelled or
    failed (with `error`). Each poll keeps a running job alive."""
    return job_out(context.jobs.get(job_id))


@router.delete("/jobs/{job_id}", response_model=JobOut, summary="Cancel a job")
def cancel_job(context: Context, job_id: JobId) -> JobOut:
    """Stop the job between two steps of its work (a finished job is left as it is)."""
    return job_out(context.jobs.cancel(job_id))
