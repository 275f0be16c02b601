"""The JSON shapes the API answers with (they make the OpenAPI schema at /openapi.json)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path
from pydantic import BaseModel, Field

MAX_ID = 2**63 - 1  # SQLite's largest integer: a larger id is a 422, never an overflow inside the catalog
ImageId = Annotated[int, Path(ge=1, le=MAX_ID, description="Catalog id of a library image.")]


class ImageOut(BaseModel):
    """One image of the library."""

    id: int = Field(description="Catalog id: the only way to address an image.")
    path: str = Field(description="Path relative to the library's folder.")
    width: int | None = None
    height: int | None = None


class MatchOut(ImageOut):
    """A search hit."""

    score: float = Field(description="Cosine similarity to the query.")
    time: float | None = Field(None, description="For a video: the moment (seconds) of its best frame; null: a photo.")


class SearchOut(BaseModel):
    results: list[MatchOut]
    model: str
    took_ms: float


class CompareOut(BaseModel):
    score: float
    model: str


class PairOut(BaseModel):
    a: ImageOut
    b: ImageOut
    score: float
    a_time: float | None = Field(None, description="When a is a video: the moment (seconds) of its frame.")
    b_time: float | None = Field(None, description="When b is a video: the moment (seconds) of its frame.")


class PairsOut(BaseModel):
    pairs: list[PairOut]


class DuplicateMemberOut(ImageOut):
    """A member of a duplicate group and its strongest link in the group."""

    kind: str = Field(description="exact (same bytes), near (an edited copy) or similar (with similar=true).")
    score: float = Field(description="Cosine similarity of that link (1 for exact copies).")
    inliers: int | None = Field(None, description="Keypoint inliers of that link; null when it was not checked.")
    keeper: bool = Field(description="The suggested file to keep: most pixels, then largest, then oldest.")


class DuplicateGroupOut(BaseModel):
    id: int
    kind: str = Field(description="The group's weakest link kind.")
    members: list[DuplicateMemberOut]


class DuplicatesOut(BaseModel):
    candidate: float = Field(description="Similarity at which pairs became candidates.")
    accept: float = Field(description="Similarity above which candidates needed no keypoint check.")
    source: str = Field(description="Where the thresholds came from (model calibration, library, request).")
    candidates: int
    checked: int
    groups: list[DuplicateGroupOut]


class DuplicatesPartialOut(BaseModel):
    """The groups a running duplicates job found so far, to show while it goes on. Provisional: linked
    by the pairs confirmed so far (not yet checked against each group's keeper; similar groups come
    only with the result), so a group may still split or vanish; the result replaces them."""

    provisional: bool = Field(True, description="Always true: the final groups come as the job's result.")
    phase: str = Field(description="exact: byte-identical copies (from the content hashes, before any "
                                   "check); near: plus the candidate pairs confirmed so far.")
    confirmed: int = Field(description="Near pairs confirmed so far.")
    count: int = Field(description="Groups found so far (at most `groups`' length of them are listed).")
    groups: list[DuplicateGroupOut] = Field(description="The largest groups so far (at most 200), members "
                                                        "with their kind, score and the suggested keeper.")


class FailureOut(BaseModel):
    path: str
    reason: str


class StatsOut(BaseModel):
    library: str = Field(description="The folder's name.")
    model: str
    dim: int
    index: str
    indexed: int
    failed: int
    text: bool = Field(description="Whether the model answers text queries.")
    max_upload_bytes: int
    failures: list[FailureOut]


def id_form(description: str) -> object:
    """A form field holding a catalog id (same bounds as `ImageId`)."""
    return Form(ge=1, le=MAX_ID, description=description)


class ErrorOut(BaseModel):
    """Every error: one line saying what went wrong (naming the parameter), and a machine-readable kind."""

    error: str
    kind: str


CatalogId = Annotated[int, Field(ge=1, le=MAX_ID, description="Catalog id of a library image.")]
GroupIds = Annotated[list[CatalogId], Field(min_length=2, max_length=1000,
                                            description="The images of one duplicate group, by catalog id.")]


class NotDuplicateIn(BaseModel):
    """Images a person says are not duplicates of each other."""

    ids: GroupIds
    member: CatalogId | None = Field(None, description="Only this one against each of the others.")


class KeeperIn(BaseModel):
    keeper: CatalogId = Field(description="The image to keep whenever it is in a duplicate group.")


class TrashIn(BaseModel):
    """A duplicate group (as the last duplicates job of this server found it) and the image to keep."""

    ids: GroupIds
    keeper: CatalogId


class UndoIn(BaseModel):
    log: str = Field(min_length=7, max_length=80, pattern=r"^[0-9A-Za-z_.-]+\.jsonl$",
                     description="The undo log a trash answer named.")


class NotDuplicateOut(BaseModel):
    pairs: int = Field(description="How many pairs were newly marked.")


class KeeperOut(BaseModel):
    keeper: int


class TrashOut(BaseModel):
    moved: int = Field(description="Files moved into the library folder's .lookalike/trash.")
    log: str = Field(description="The undo log: POST it to /api/duplicates/undo to put them back.")
    skipped: list[str] = Field(description="Members left out, with the reason.")
    synced: bool = Field(description="Whether the library already dropped the moved files.")


class UndoOut(BaseModel):
    restored: int
    synced: bool


class ClusterOut(BaseModel):
    number: int = Field(description="Clusters are numbered from 0, largest first.")
    size: int
    representative: ImageOut = Field(description="The cluster's medoid.")
    members: list[ImageOut] = Field(description="Its images (at most 48 shown; size counts all).")


class ClustersOut(BaseModel):
    count: int = Field(description="Images considered.")
    unclustered: int = Field(description="Images in no cluster.")
    clusters: list[ClusterOut]


class OutlierOut(ImageOut):
    score: float = Field(description="Mean similarity to its k nearest others (lower: more unusual).")


class OutliersOut(BaseModel):
    k: int
    outliers: list[OutlierOut]


class JobOut(BaseModel):
    """A heavy request running as a job (poll GET /api/jobs/{id})."""

    job: str = Field(description="The job's id.")
    kind: str = Field(description="What it computes (duplicates, clusters, outliers).")
    status: str = Field(description="running, done, cancelled or failed.")
    done: int = Field(description="Steps done of the current phase (the join's cells).")
    total: int = Field(description="Steps of the current phase (0 before it is known).")
    seconds: float = Field(description="Seconds since it started (until it ended).")
    params: dict[str, float | bool | None] = Field(description="The parameters it was started with.")
    result: DuplicatesOut | ClustersOut | OutliersOut | None = Field(default=None, description="The answer, once done.")
    partial: DuplicatesPartialOut | None = Field(
        default=None, description="While a duplicates job runs: the groups found so far (null before the "
                                  "first ones, and once the job ended).")
    error: str | None = Field(default=None, description="Why it was cancelled or failed.")
    error_kind: str | None = None
