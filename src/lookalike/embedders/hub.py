"""Where weights come from: the local Hugging Face cache first, the hub only when it can be reached.

Without this, a machine with no network waits through the hub client's retries (half a minute or
more) before failing, even when the weights are already cached."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlparse

T = TypeVar("T")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")


def offline_mode() -> bool:
    """Whether the user asked for no hub access (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    return any(os.environ.get(name, "").lower() in {"1", "true", "yes", "on"}
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_reachable() -> bool:
    """A quick check that the hub's host name resolves (no network: it fails at once)."""
    if offline_mode():
        return False
    try:
        from huggingface_hub import constants

        host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
        socket.getaddrinfo(host, 443)
    except (OSError, ImportError):
        return False
    return True


def cached_file(repo_id: str, filenames: Sequence[str] = WEIGHT_FILES) -> str | None:
    """The local path of the first of `filenames` cached for `repo_id`, if any."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename)
        if isinstance(found, str):
            return found
    return None


def cache_first(load: Callable[[bool], T], unavailable: Callable[[], Exception]) -> T:
    """`load(local_files_only=True)`; then, only if the hub is reachable, `load(False)`.

    `unavailable()` builds the error raised when the cache misses and the hub cannot be reached.
    """
    try:
        return load(True)
    except (OSError, ValueError):
        if not hub_reachable():
            raise unavailable() from None
    return load(False)
