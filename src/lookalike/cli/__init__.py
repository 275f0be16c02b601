"""The `lookalike` command: a thin layer over the Python API. Results go to stdout; progress bars,
skipped files and errors go to stderr."""

from __future__ import annotations

import logging
import os
import sys
import warnings

import typer

from ..errors import LookalikeError
from . import dedupe, evaluate, folder, library, pairs  # noqa: F401  (registers the commands)
from .common import app

__all__ = ["app", "main"]


def _configure_process() -> None:
    # Idle OpenMP threads sleep instead of spinning, so decode threads get the cores while the model
    # waits; measured +30% end-to-end on 2 cores (benchmarks/embed_throughput.py). Before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr)
    logging.getLogger("lookalike.pipeline").setLevel(logging.ERROR)  # the CLI reports skips itself
    from PIL import Image

    warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own pixel limit applies


def main() -> None:
    """Console entry point: one-line errors instead of tracebacks."""
    _configure_process()
    try:
        app()
    except LookalikeError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(0)
