"""Collection work that stops when its caller gives up: `cancel` is asked between the steps (the join,
the graph, HDBSCAN, the numbering) and after every join cell; HDBSCAN itself cannot be interrupted,
so a cancel during it takes effect when it returns."""

from __future__ import annotations

from ..errors import check_cancel
from ..types import Cancel, Progress


def asking(progress: Progress | None, cancel: Cancel | None) -> Progress | None:
    """`progress`, also asking `cancel` after every step it hears (the join's cells)."""
    if cancel is None:
        return progress

    def heard(done: int, total: int) -> None:
        check_cancel(cancel)
        if progress is not None:
            progress(done, total)

    return heard
