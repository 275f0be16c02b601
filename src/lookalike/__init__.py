"""lookalike: image similarity, visual search and top-k retrieval.

The public API is imported lazily, so `import lookalike` stays cheap (no torch, no FAISS).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "compare": "operations",
    "find_pairs": "operations",
    "find_duplicates": "operations",
    "search": "operations",
    "embed_folder": "operations",
    "embed_image": "operations",
    "Match": "operations",
    "Pair": "operations",
    "create_embedder": "embedders",
    "list_models": "embedders",
    "register_model": "embedders",
    "Embedder": "embedders",
    "EmbeddingSpec": "embedders",
    "load_image": "images",
    "find_images": "images",
    "LookalikeError": "errors",
    "ImageReadError": "errors",
    "ModelLoadError": "errors",
    "SpecMismatchError": "errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lookalike' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
