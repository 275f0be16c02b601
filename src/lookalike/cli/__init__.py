"""The `lookalike` command: a thin layer over the Python API. Results go to stdout; progress bars,
skipped files and errors go to stderr."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import sys
import warnings

import typer

from ..errors import LookalikeError
from . import collections, dedupe, evaluate, folder, library, pairs, pictures, serve, train  # noqa: F401  (registers the commands)
from .common import app
from .errors import database_error, exit_code, with_hint

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


DEBUG_FLAG = "--debug"
DEBUG_ENV = "LOOKALIKE_DEBUG"


def _take_debug_flag(argv: list[str]) -> bool:
    """Remove `--debug` (anywhere before a `--`) from argv; whether it, or LOOKALIKE_DEBUG=1, was given."""
    end = argv.index("--") if "--" in argv else len(argv)
    found = DEBUG_FLAG in argv[:end]
    argv[:end] = [arg for arg in argv[:end] if arg != DEBUG_FLAG]
    return found or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _interrupted(signum: int, frame: object) -> None:
    """One Ctrl-C stops at once (exit 130), without waiting for worker threads stuck in a slow file;
    every catalog write is a transaction, so what was committed is kept and a rerun continues."""
    os.write(2, b"\nerror: interrupted; what was committed is kept (run the command again to continue)\n")
    os._exit(130)


def _one_line(text: str) -> str:
    return text.strip().replace("\r", "\\r").replace("\n", "\\n")


def main() -> None:
    """Console entry point: one-line errors (with the flag that fixes them) instead of tracebacks
    (`--debug` shows them); exit 1 for errors, 2 for usage errors, 130 when interrupted (one Ctrl-C
    stops at once)."""
    debug = _take_debug_flag(sys.argv)
    _configure_process()
    if not debug:
        signal.signal(signal.SIGINT, _interrupted)
    usage_error, help_shown = _click_errors()
    try:
        code = app(prog_name="lookalike", standalone_mode=False)
    except LookalikeError as exc:
        if debug:
            raise
        typer.echo(f"error: {_one_line(with_hint(exc))}", err=True)
        sys.exit(exit_code(exc))
    except usage_error as exc:
        if not isinstance(exc, help_shown):
            typer.echo(f"error: {_one_line(exc.format_message())}", err=True)  # type: ignore[attr-defined]
        sys.exit(getattr(exc, "exit_code", 2))
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("error: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except sqlite3.DatabaseError as exc:
        if debug:
            raise
        typer.echo(f"error: the library catalog is damaged or unreadable ({_one_line(str(exc))}); nothing was "
                   "changed", err=True)
        sys.exit(1)
    except (OSError, MemoryError) as exc:
        if debug:
            raise
        typer.echo(f"error: {_one_line(str(exc) or type(exc).__name__)}", err=True)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - a bug, but still one line unless --debug
        if debug:
            raise
        if (line := database_error(exc)) is not None:
            typer.echo(f"error: {line}", err=True)
            sys.exit(1)
        typer.echo(f"error: unexpected {type(exc).__name__}: {_one_line(str(exc))} (rerun with --debug for the "
                   "traceback and report it)", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
