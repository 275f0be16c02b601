"""Endpoints over the whole library (stats, pairs; duplicate groups run as jobs: routes_jobs.py) and
over one image by id (thumbnail, original file). Images are addressed by catalog id only: no parameter
is a path."""

from __future__ import annotations

import mimetypes
import os
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse

from ..errors import ImageReadError, LibraryError
from ..service import StoredFile
from . import results
from .context import WebContext
from .dependencies import get_context
from .files import chunks, open_library_file
from .schemas import ErrorOut, FailureOut, ImageId, PairsOut, StatsOut
from .thumbnails import MAX_SIZE, MIN_SIZE, thumbnail

router = APIRouter(tags=["library"])
Context = Annotated[WebContext, Depends(get_context)]
IMAGE_RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorOut, "description": "No image with this id, or its file is gone."}}


def stored_file(context: WebContext, image_id: int) -> StoredFile:
    found = context.library.files([image_id]).get(image_id)
    if found is None:
        raise LibraryError(f"no image with id {image_id} in this library", unknown_id=image_id)
    return found


@router.get("/stats", response_model=StatsOut, summary="The library: counts, model, index, failures")
def stats(context: Context) -> StatsOut:
    info = context.service.stats(context.library, scan=False)
    embedder = context.library.embedder()
    return StatsOut(library=context.library.root.name, model=info.model, dim=info.dim, index=info.index,
                    indexed=info.indexed, failed=info.failed, text=embedder.supports_text,
                    max_upload_bytes=context.max_upload_bytes,
                    failures=[FailureOut(path=context.relative(context.library.root / path), reason=reason)
                              for path, reason in info.failures])


@router.get("/pairs", response_model=PairsOut, summary="The most similar pairs of the library")
def pairs(context: Context, top: Annotated[int, Query(ge=1, le=1000, description="How many pairs.")] = 10) -> PairsOut:
    """The `top` most similar pairs, from the stored vectors (the same operation as `lookalike pairs`)."""
    return PairsOut(pairs=results.pairs(context, context.service.pairs(context.library, top).pairs))


@router.get("/images/{image_id}/thumbnail", response_class=Response, responses={
    200: {"content": {"image/jpeg": {}}, "description": "A JPEG that fits size x size."}, **IMAGE_RESPONSES},
    summary="A library image's thumbnail")
def image_thumbnail(context: Context, image_id: ImageId,
                    size: Annotated[int, Query(ge=MIN_SIZE, le=MAX_SIZE, description="Box side in pixels.")] = 256
                    ) -> Response:
    """The image scaled to fit size x size, upright (EXIF orientation applied), cached on disk."""
    found = stored_file(context, image_id)
    try:
        data = thumbnail(context.library.location, context.library.root, found, size, context.max_pixels,
                         context.thumbnail_cache_bytes)
    except ImageReadError as exc:  # named by its path in the library, not on the server
        raise ImageReadError(context.relative(found.path), exc.reason, **exc.details) from None
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/images/{image_id}/file", response_class=StreamingResponse, responses={
    200: {"content": {"image/*": {}}, "description": "The original file."}, **IMAGE_RESPONSES},
    summary="A library image's original file")
def image_file(context: Context, image_id: ImageId) -> StreamingResponse:
    """The original file as it is on disk: only a regular file inside the library (a file swapped for a
    link, or a folder leading outside, is refused), streamed from the descriptor that was checked."""
    found = stored_file(context, image_id)
    try:
        handle = open_library_file(context.library.root, found.path)
    except ImageReadError as exc:
        raise ImageReadError(context.relative(found.path), exc.reason, **exc.details) from None
    media_type = mimetypes.guess_type(found.path.name)[0] or "application/octet-stream"
    if not media_type.startswith("image/"):
        media_type = "application/octet-stream"
    name = quote(found.path.name)
    size = os.fstat(handle.fileno()).st_size
    headers = {"Content-Length": str(size),
               "Content-Disposition": f"inline; filename*=utf-8''{name}", "X-Content-Type-Options": "nosniff"}
    return StreamingResponse(chunks(handle, size), media_type=media_type, headers=headers)
