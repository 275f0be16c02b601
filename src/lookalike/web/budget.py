"""A pixel budget shared by the requests that decode uploads: each holds the pixel count its images
declare (read from their headers before any decoding) while it decodes and embeds them; a request that
would pass the budget waits its turn instead of adding to the memory in use. (The decoding itself
already works at the model's size where the format allows: JPEG draft mode, and a whole-factor reduction
before any colour conversion for the formats that must decode in full.) After a large hold the freed heap
goes back to the system, so that memory comes back after a burst of big uploads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..errors import Cancelled

TRIM_PIXELS = 4_000_000  # a hold at least this large gives the freed heap back when it ends


class PixelBudget:
    """At most `limit` pixels decoded at once across requests; one image larger than the whole budget
    (never above the pixel limit uploads are held to, which the budget is at least) runs alone."""

    def __init__(self, limit: int, release: Callable[[], object] | None = None) -> None:
        if limit < 1:
            raise ValueError("the pixel budget must be positive")
        self.limit = limit
        self._release = release  # gives freed memory back to the system (the service's release_memory)
        self.in_use = 0
        self.peak = 0  # the most ever held at once (for tests and stats)
        self._closed = False
        self._changed = threading.Condition()

    def close(self) -> None:
        """Shutting down: requests waiting their turn, and later ones, stop with `Cancelled` (503) instead
        of decoding one after another while the server waits for its threads to exit."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Wait until `pixels` fit in the budget, hold them for the block, then give them back."""
        weight = max(1, min(pixels, self.limit))
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self.in_use + weight <= self.limit)
            if self._closed:
                raise Cancelled("the server is shutting down")
            self.in_use += weight
            self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            with self._changed:
                self.in_use -= weight
                self._changed.notify_all()
            if weight >= TRIM_PIXELS and self._release is not None:
                self._release()
