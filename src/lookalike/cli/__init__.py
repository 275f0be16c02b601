"""The `lookalike` command: a thin layer over the Python API. Results go to stdout; progress bars,
skipped files and errors go to stderr."""

from __future__ import annotations

import logging
import os
import sys
import warnings

import typer

from ..errors import LookalikeError
from . import evaluate, folder, library, serve  # noqa: F401  (registers the commands)
from .common import app
from .errors import exit_code, with_hint

__all__ = ["app", "main"]


def _configure_process() -> None:
    # Idle OpenMP threads sleep instead of spinning, so decode threads get the cores while the model
    # waits; measured +30% end-to-end on 2 cores (benchmarks/embed_throughput.py). Before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr)
    logging.getLogger("lookalike.pipeline").setLevel(logging.ERROR)  # the CLI reports skips itself
    from PIL import Image

    warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own pixel limit applies


def _click_errors() -> tuple[type[Exception], type[Exception]]:
    """(usage error base class, "no arguments: help shown" class) of the click Typer runs on."""
    import importlib

    try:
        module = importlib.import_module("typer._click.exceptions")
    except ImportError:  # a Typer that uses the click package itself
        module = importlib.import_module("click.exceptions")
    return module.ClickException, module.NoArgsIsHelpError


def main() -> None:
    """Console entry point: one-line errors (with the flag that fixes them) instead of tracebacks;
    exit 1 for errors, 2 for usage errors, 130 when interrupted."""
    _configure_process()
    usage_error, help_shown = _click_errors()
    try:
        code = app(prog_name="lookalike", standalone_mode=False)
    except LookalikeError as exc:
        typer.echo(f"error: {with_hint(exc)}", err=True)
        sys.exit(exit_code(exc))
    except usage_error as exc:
        if not isinstance(exc, help_shown):
            typer.echo(f"error: {exc.format_message()}", err=True)  # type: ignore[attr-defined]
        sys.exit(getattr(exc, "exit_code", 2))
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("error: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(code if isinstance(code, int) else 0)
