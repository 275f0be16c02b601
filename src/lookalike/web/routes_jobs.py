"""Heavy work as jobs (duplicate groups, clusters, outliers): `POST /api/duplicates` (or /api/clusters,
/api/outliers) starts one (202, `Location: /api/jobs/{id}`), the page polls `GET /api/jobs/{id}`
(progress and, for duplicates, the groups found so far; then the answer) and `DELETE /api/jobs/{id}`
cancels it. A job nobody polls for the app's
`job_idle_seconds` is cancelled; one heavy job runs per library (a second POST meanwhile gets 429
with Retry-After, whatever its parameters)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from ..errors import LookalikeError
from ..service import PartialGroups
from ..types import Cancel, DuplicateOptions, Progress
from . import results
from .context import WebContext
from .dependencies import get_context
from .errors import error_body
from .jobs import Busy, Job, Publish, Work
from .schemas import ClustersOut, DuplicatesOut, DuplicatesPartialOut, ErrorOut, JobOut, OutliersOut

router = APIRouter(tags=["jobs"])
Context = Annotated[WebContext, Depends(get_context)]
JobId = Annotated[str, Path(min_length=1, max_length=64, description="The id POST /api/duplicates gave.")]
BUSY: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorOut, "description": "Another heavy job of this library is running: retry after "
                                            "Retry-After seconds (or cancel it)."}}
PARTIAL_GROUPS = 200  # groups a poll lists at most while a duplicates job runs
PARTIAL_EVERY = 0.5  # seconds between two partial answers of one phase (each reads the members' facts)


def job_out(job: Job) -> JobOut:
    end = job.finished if job.finished is not None else time.monotonic()
    return JobOut(job=job.id, kind=job.kind, status=job.status, done=job.done, total=job.total,
                  seconds=round(end - job.started, 3), params=job.params, result=job.result,
                  partial=job.partial if job.status == "running" else None, error=job.error,
                  error_kind=job.error_kind)


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
    kinds and keepers (a keeper chosen with POST /api/duplicates/keeper first). While it runs, each poll
    carries the groups found so far (`partial`: exact copies first, then the confirmed near copies);
    the result replaces them. Poll the job at least every `job_idle_seconds` (30 s) or it is cancelled."""
    options = DuplicateOptions(threshold=threshold, verify=verify, similar=-1.0 if similar else None)

    def work(cancel: Cancel, progress: Progress, publish: Publish) -> DuplicatesOut:
        shown: dict[str, Any] = {"at": float("-inf"), "phase": None}

        def found_so_far(partial: PartialGroups) -> None:
            """Publish the groups so far: on each new phase, else at most every PARTIAL_EVERY seconds."""
            now = time.monotonic()
            if partial.phase == shown["phase"] and now - shown["at"] < PARTIAL_EVERY:
                return
            shown.update(at=now, phase=partial.phase)
            try:  # a display while the job runs: a file gone since it was indexed must not fail the job
                listed = results.duplicate_groups(context, partial.groups(PARTIAL_GROUPS))
            except (OSError, LookalikeError):
                return
            publish(DuplicatesPartialOut(provisional=True, phase=partial.phase, confirmed=partial.confirmed,
                                         count=partial.count(), groups=listed))

        found = context.service.duplicates(context.library, options, join_progress=progress, cancel=cancel,
                                           found=found_so_far)
        used = found.thresholds
        groups = results.duplicate_groups(context, found.groups)
        context.found.remember([member.id for member in group.members] for group in groups)
        return DuplicatesOut(candidate=used.candidate, accept=used.accept, source=used.source,
                             candidates=found.stats.candidates, checked=found.stats.checked, groups=groups)

    return start_job(context, "duplicates", {"threshold": threshold, "verify": verify, "similar": similar}, work)


def start_job(context: WebContext, kind: str, params: dict[str, Any], work: Work) -> JSONResponse:
    """202 with the new job, or 429 with Retry-After while another heavy job runs."""
    try:
        job = context.jobs.start(kind, params, work)
    except Busy as exc:
        body = {**error_body(exc.reason, exc.kind), "job": exc.details.get("job")}
        return JSONResponse(body, status_code=429, headers={"Retry-After": str(exc.details["retry_after"])})
    return accepted(job)


@router.post("/clusters", status_code=202, response_model=JobOut, responses=BUSY,
             summary="Start a job grouping the library's images by content")
def clusters(context: Context, min_size: Annotated[int, Query(
        ge=2, le=1000, description="The fewest images a cluster holds.")] = 5) -> JSONResponse:
    """Clusters as `lookalike clusters --library` finds them (HDBSCAN on the k-nearest-neighbour graph),
    largest first, each with its representative image, as a job (poll `/api/jobs/{id}`)."""

    def work(cancel: Cancel, progress: Progress, publish: Publish) -> ClustersOut:
        found = context.service.clusters(context.library, min_size, join_progress=progress, cancel=cancel)
        return results.clusters(context, found)

    return start_job(context, "clusters", {"min_size": min_size}, work)


@router.post("/outliers", status_code=202, response_model=JobOut, responses=BUSY,
             summary="Start a job finding the images least like the others")
def outliers(context: Context,
             k: Annotated[int, Query(ge=1, le=100, description="Neighbours each image is compared with.")] = 10,
             top: Annotated[int, Query(ge=1, le=1000, description="How many to list.")] = 24) -> JSONResponse:
    """The images least like their k nearest others, most unusual first (as `lookalike outliers`), as a job."""

    def work(cancel: Cancel, progress: Progress, publish: Publish) -> OutliersOut:
        found = context.service.outliers(context.library, k, top, join_progress=progress, cancel=cancel)
        return results.outliers(context, found, k)

    return start_job(context, "outliers", {"k": k, "top": top}, work)


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A job's status, progress and result")
def job_status(context: Context, job_id: JobId) -> JobOut:
    """running (with `done` of `total` steps of the current phase), done (with `result`), cancelled or
    failed (with `error`). Each poll keeps a running job alive."""
    return job_out(context.jobs.get(job_id))


@router.delete("/jobs/{job_id}", response_model=JobOut, summary="Cancel a job")
def cancel_job(context: Context, job_id: JobId) -> JobOut:
    """Stop the job between two steps of its work (a finished job is left as it is)."""
    return job_out(context.jobs.cancel(job_id))
