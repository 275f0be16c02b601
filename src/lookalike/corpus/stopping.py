"""Collection work that stops when its caller gives up: `cancel` is asked between the steps (the join,
the graph, HDBSCAN, the numbering) and after every join cell; HDBSCAN itself cannot be interrupted,
so a cancel during it takes effect when it returns."""

from __future__ import annotations

from ..errors import Cancelled
from ..types import Cancel, Progress


def stop_if(cancel: Cancel | None) -> None:
    """Raise Cancelled when `cancel` says the caller gave up."""
    if cancel is not None and cancel():
        raise Cancelled("cancelled")


def asking(progress: Progress | None, cancel: Cancel | None) -> Progress | None:
    """`progress`, also asking `cancel` after every step it hears (the join's cells)."""
    if cancel is None:
        return progress

    def heard(done: int, total: int) -> None:
        stop_if(cancel)
        if progress is not None:
            progress(done, total)

    return heard
