"""What every request handler reads: the service, the one library it serves and the limits."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidArgumentError, display_path
from ..service import Lookalike, VectorStore
from .budget import PixelBudget
from .jobs import Jobs
from .throttle import TokenThrottle

DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
DEFAULT_THUMBNAIL_CACHE_BYTES = 256 * 1024 * 1024
DEFAULT_PIXEL_BUDGET = 200_000_000  # pixels of uploads decoded at once (create_app: twice the pixel limit)


class FoundGroups:
    """The duplicate groups (member ids) the last finished duplicates job of this server found: moving
    files is allowed only within one of them."""

    def __init__(self) -> None:
        self._groups: list[frozenset[int]] = []
        self._lock = threading.Lock()

    def remember(self, groups: Iterable[Iterable[int]]) -> None:
        with self._lock:
            self._groups = [frozenset(group) for group in groups]

    def check(self, ids: Iterable[int]) -> None:
        """Refuse ids that are not all members of one group found by the last duplicates job."""
        wanted = frozenset(ids)
        with self._lock:
            known = any(wanted <= group for group in self._groups)
        if not known:
            raise InvalidArgumentError("these images are not one duplicate group of the last duplicates job of "
                                       "this server: find the groups again first", argument="ids")


@dataclass(frozen=True)
class WebContext:
    """The served library, the limits uploads are held to (bytes, pixels, the pixels decoded at once),
    the token and its failure table, the heavy jobs and the duplicate groups they found."""

    service: Lookalike
    library: VectorStore
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    token: str | None = None
    thumbnail_cache_bytes: int = DEFAULT_THUMBNAIL_CACHE_BYTES
    throttle: TokenThrottle = field(default_factory=TokenThrottle)
    uploads: PixelBudget = field(default_factory=lambda: PixelBudget(DEFAULT_PIXEL_BUDGET))
    jobs: Jobs = field(default_factory=Jobs)
    found: FoundGroups = field(default_factory=FoundGroups)

    @property
    def max_pixels(self) -> int:
        return self.service.settings.max_pixels

    def relative(self, path: str | os.PathLike[str]) -> str:
        """A library file's path as the API shows it: relative to the library's folder, '/'-separated."""
        candidate = Path(path)
        if candidate.is_relative_to(self.library.root):
            candidate = candidate.relative_to(self.library.root)
        return display_path(candidate.as_posix())
