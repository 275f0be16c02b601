"""The web app and REST API over the service: `create_app(service, library)` builds a FastAPI app
(FastAPI, uvicorn and python-multipart come with `pip install 'lookalike[web]'`); `lookalike serve`
runs it under uvicorn. Nothing here is imported by `import lookalike`."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'lookalike.web' has no attribute {name!r}")
