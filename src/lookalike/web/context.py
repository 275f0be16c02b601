"""What every request handler reads: the service, the one library it serves and the limits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import display_path
from ..service import Lookalike, VectorStore

DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class WebContext:
    """The served library and the limits uploads are held to."""

    service: Lookalike
    library: VectorStore
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    token: str | None = None

    @property
    def max_pixels(self) -> int:
        return self.service.settings.max_pixels

    def relative(self, path: str | os.PathLike[str]) -> str:
        """A library file's path as the API shows it: relative to the library's folder, '/'-separated."""
        candidate = Path(path)
        if candidate.is_relative_to(self.library.root):
            candidate = candidate.relative_to(self.library.root)
        return display_path(candidate.as_posix())
