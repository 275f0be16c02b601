"""The app factory: `create_app(service, library)` gives a FastAPI app serving one library.

    from lookalike import Lookalike, load_settings
    from lookalike.web.app import create_app

    service = Lookalike(load_settings("photos"))
    app = create_app(service, service.library("photos", readonly=True), token=None)
    # uvicorn.run(app, host="127.0.0.1", port=8765)

The model loads once, in the lifespan (at start-up, never at import). The REST API lives under /api
(schema at /openapi.json, docs at /docs and /redoc, served offline); the page is at / and its files
under /static.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

import lookalike

from ..service import Lookalike, VectorStore
from .budget import PixelBudget
from .context import DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_THUMBNAIL_CACHE_BYTES, WebContext
from .dependencies import require_token
from .docs import install_docs
from .errors import install_error_handlers
from .guard import Guard
from .jobs import DEFAULT_IDLE_SECONDS, Jobs
from .routes_jobs import router as jobs_router
from .routes_library import router as library_router
from .routes_review import router as review_router
from .routes_search import router as search_router
from .schemas import ErrorOut

STATIC = Path(__file__).parent / "static"
SHUTDOWN_WAIT = 2.0  # seconds shutting down waits for job threads
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and fields beside the files
PAGE_POLICY = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
               "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
ERRORS = {
    400: "Not an image, a corrupt image, a query the model cannot answer, or a Host other than loopback.",
    403: "A cross-site browser request (POSTs and the heavy GETs answer only this server's pages).",
    404: "Unknown id.", 413: "Upload too large (bytes or pixels).",
    422: "A parameter missing or out of range (the error names it).",
    503: "The server is shutting down (an upload that was waiting for the pixel budget).",
}
TOKEN_ERRORS = {401: "Missing or wrong token.",
                429: "Too many wrong tokens from this address: wait for Retry-After seconds."}


def error_responses(token: bool) -> dict[int | str, dict[str, object]]:
    """The error answers every API operation documents (the token's only when a token is set)."""
    documented = {**ERRORS, **TOKEN_ERRORS} if token else ERRORS
    return {status: {"model": ErrorOut, "description": text} for status, text in sorted(documented.items())}


def create_app(service: Lookalike, library: VectorStore, token: str | None = None,
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, loopback_only: bool | None = None,
               thumbnail_cache_bytes: int = DEFAULT_THUMBNAIL_CACHE_BYTES,
               upload_pixel_budget: int | None = None, job_idle_seconds: float = DEFAULT_IDLE_SECONDS) -> FastAPI:
    """A FastAPI app over `library` (opened through `service`). With `token`, every /api request needs
    `Authorization: Bearer <token>` (wrong tokens are logged and throttled per address); without one,
    only requests addressed to this machine's loopback names are answered (`loopback_only`, default:
    when there is no token). Uploads above `max_upload_bytes`, or above the service's pixel limit, are
    refused with 413; requests decoding uploads hold their images' pixels (read from the headers) within
    `upload_pixel_budget` (default: twice the pixel limit), waiting their turn beyond it. Thumbnails
    cached in the library's folder are kept within `thumbnail_cache_bytes` (0: none cached). Heavy work
    (duplicates) runs as jobs, one at a time; a job nobody polled for `job_idle_seconds` is cancelled,
    and shutting down cancels every job, waiting at most ~2 s for their threads."""
    if max_upload_bytes < 1:
        raise ValueError("max_upload_bytes must be positive")
    if thumbnail_cache_bytes < 0:
        raise ValueError("thumbnail_cache_bytes must not be negative")
    budget = PixelBudget(upload_pixel_budget or 2 * service.settings.max_pixels, release=service.release_memory)
    context = WebContext(service=service, library=library, max_upload_bytes=max_upload_bytes, token=token or None,
                         thumbnail_cache_bytes=thumbnail_cache_bytes, uploads=budget,
                         jobs=Jobs(idle_seconds=job_idle_seconds))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(library.embedder)  # the model loads once, before the first request
        try:
            yield
        finally:  # SIGTERM: running jobs stop between two steps; a stuck one never holds the exit, nor do
            budget.close()  # uploads queued for the pixel budget (the exit waits for every request's thread)
            await run_in_threadpool(context.jobs.close, SHUTDOWN_WAIT)

    app = FastAPI(title="lookalike", version=lookalike.__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None, description="Image similarity and visual search over one library. Images "
                                              "are addressed by catalog id.")
    app.state.lookalike = context
    install_error_handlers(app)
    guards = [Depends(require_token)] if context.token else []  # the schema shows security only when it is so
    for router in (search_router, library_router, jobs_router, review_router):
        app.include_router(router, prefix="/api", dependencies=guards, responses=error_responses(bool(context.token)))
    install_docs(app, "lookalike")

    page_headers = {"Content-Security-Policy": PAGE_POLICY, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=page_headers)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    guarded = token is None if loopback_only is None else loopback_only
    app.add_middleware(Guard, max_body=2 * max_upload_bytes + FORM_OVERHEAD, loopback_only=guarded)
    return app
