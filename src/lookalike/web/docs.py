"""The API's documentation pages, /docs (Swagger UI) and /redoc, with their scripts and styles served by
this server from an installed package (`fastapi-offline`, part of the web extra), never from a CDN: the
pages work offline and load nothing from another host. Without that package there are no pages (the
schema is still at /openapi.json)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/static-docs"
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
# Nothing from another host, not even ReDoc's "powered by" logo (cdn.redoc.ly): the browser never asks.
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def assets_folder() -> Path | None:
    """The folder of the installed Swagger UI and ReDoc files, or None when the package is absent."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if all((folder / name).is_file() for name in ASSET_FILES) else None


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_POLICY
    page.headers["X-Content-Type-Options"] = "nosniff"
    return page


def install_docs(app: FastAPI, title: str) -> bool:
    """Add /docs and /redoc (and their files under /static-docs); False when the assets are not installed."""
    folder = assets_folder()
    if folder is None:
        return False
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS_URL, StaticFiles(directory=folder), name="static-docs")

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return _with_policy(get_swagger_ui_html(openapi_url=openapi_url, title=f"{title} API",
                                   swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS_URL}/favicon.png"))

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _with_policy(get_redoc_html(openapi_url=openapi_url, title=f"{title} API",
                              redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS_URL}/favicon.png", with_google_fonts=False))

    return True
