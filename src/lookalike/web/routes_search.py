"""Search endpoints: by uploaded image (with an optional text), by text, by a library image, and
comparing two images. Handlers are plain functions: FastAPI runs them in its thread pool and the
service is safe under concurrent callers."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile

from ..errors import InvalidArgumentError
from ..types import Query as LookalikeQuery
from . import results
from .context import WebContext
from .dependencies import get_context
from .schemas import CompareOut, ImageId, SearchOut, id_form
from .uploads import upload_bytes

router = APIRouter(tags=["search"])
Context = Annotated[WebContext, Depends(get_context)]
K = Annotated[int, Query(ge=1, le=1000, description="How many results.")]
Threshold = Annotated[float | None, Query(ge=-1.0, le=1.0, description="Only results scoring at least this.")]
TextWeight = Annotated[float, Query(ge=0.0, le=1.0, description="The text's share when an image is given too.")]
MAX_TEXT = 1000


def _search(context: WebContext, query: LookalikeQuery, k: int, threshold: float | None) -> SearchOut:
    start = time.perf_counter()
    found = context.service.search(context.library, query, k=k, threshold=threshold).matches
    took = (time.perf_counter() - start) * 1000
    return SearchOut(results=results.matches(context, found), model=context.library.spec.model,
                     took_ms=round(took, 2))


@router.post("/search", response_model=SearchOut, summary="Images most like an uploaded photo")
def search_upload(context: Context, file: Annotated[UploadFile, File(description="The query image.")],
                  k: K = 10, threshold: Threshold = None,
                  text: Annotated[str | None, Query(max_length=MAX_TEXT, description="Optional text.")] = None,
                  text_weight: TextWeight = 0.5) -> SearchOut:
    """The k library images most similar to the uploaded image (and `text`, when given, weighted by
    `text_weight`). The upload is decoded in memory, within the server's pixel budget (waiting its turn)."""
    data, pixels = upload_bytes(file.file, "file", context.max_upload_bytes, context.max_pixels)
    with context.uploads.hold(pixels):
        return _search(context, LookalikeQuery(data, text=text or None, text_weight=text_weight, name="file"), k,
                       threshold)


@router.get("/search", response_model=SearchOut, summary="Images matching a text")
def search_text(context: Context,
                text: Annotated[str, Query(min_length=1, max_length=MAX_TEXT, description="What to look for.")],
                k: K = 10, threshold: Threshold = None) -> SearchOut:
    """The k library images closest to `text` (models with a text tower: SigLIP, CLIP)."""
    if not text.strip():
        raise InvalidArgumentError("text must not be blank", argument="text")
    return _search(context, LookalikeQuery(text=text), k, threshold)


@router.get("/images/{image_id}/similar", response_model=SearchOut, summary="Images most like a library image")
def similar(context: Context, image_id: ImageId, k: K = 10, threshold: Threshold = None) -> SearchOut:
    """The k images most similar to one already in the library, itself left out (no model needed)."""
    start = time.perf_counter()
    found = context.service.similar(context.library, image_id, k=k, threshold=threshold)
    took = (time.perf_counter() - start) * 1000
    return SearchOut(results=results.matches(context, found), model=context.library.spec.model,
                     took_ms=round(took, 2))


@router.post("/compare", response_model=CompareOut, summary="Similarity of two images")
def compare(context: Context,
            a: Annotated[UploadFile | None, File(description="First image (or give a_id).")] = None,
            b: Annotated[UploadFile | None, File(description="Second image (or give b_id).")] = None,
            a_id: Annotated[int | None, id_form("First library image.")] = None,
            b_id: Annotated[int | None, id_form("Second library image.")] = None) -> CompareOut:
    """Cosine similarity of two uploads (`a`, `b`) or of two library images (`a_id`, `b_id`)."""
    model = context.library.spec.model
    if a is not None and b is not None and a_id is None and b_id is None:
        first, a_pixels = upload_bytes(a.file, "a", context.max_upload_bytes, context.max_pixels)
        second, b_pixels = upload_bytes(b.file, "b", context.max_upload_bytes, context.max_pixels)
        with context.uploads.hold(a_pixels + b_pixels):
            score = context.service.compare(first, second, model, names=("a", "b"))
        return CompareOut(score=round(score, 6), model=model)
    if a_id is not None and b_id is not None and a is None and b is None:
        return CompareOut(score=round(context.service.compare_ids(context.library, a_id, b_id), 6), model=model)
    raise InvalidArgumentError("compare needs two uploads (a, b) or two library ids (a_id, b_id)", argument="a")
