"""lookalike: image similarity, visual search and top-k retrieval.

The public API is imported lazily, so `import lookalike` stays cheap (no torch, no FAISS):

    from lookalike import Lookalike, Query
    with Lookalike() as service:
        library = service.library("photos", create=True)
        service.sync(library)
        for match in service.search(library, Query("query.jpg"), k=5).matches:
            print(match.path, match.score)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Lookalike": "service",
    "Settings": "settings",
    "load_settings": "settings",
    "Library": "store.library",
    "MemoryStore": "store.memory",
    "open_folder": "store.folders",
    "VectorStore": "store.base",
    "Snapshot": "store.base",
    "SyncReport": "store.base",
    "LibraryStats": "store.base",
    "Query": "types",
    "Source": "types",
    "Match": "types",
    "Pair": "types",
    "MatchRow": "types",
    "SearchResult": "types",
    "PairsResult": "types",
    "MatchResult": "types",
    "DuplicateGroup": "types",
    "DuplicateOptions": "types",
    "DuplicateReport": "types",
    "JoinChoice": "types",
    "cluster_vectors": "corpus",
    "outlier_scores": "corpus",
    "readable_formats": "corpus.formats",
    "ClusterReport": "service.collections",
    "OutlierReport": "service.collections",
    "EmbedOutcome": "service.collections",
    "search": "similarity",
    "similar": "similarity",
    "find_pairs": "similarity",
    "match": "similarity",
    "find_duplicates": "dedupe.run",
    "embed_image": "similarity.query",
    "create_embedder": "embedders",
    "list_models": "embedders",
    "register_model": "embedders",
    "ModelInfo": "embedders",
    "DEFAULT_MODEL": "embedders",
    "Embedder": "embedders",
    "EmbeddingSpec": "embedders",
    "load_image": "images",
    "decode_image": "images",
    "find_images": "images",
    "sample_frames": "video",
    "VideoOptions": "video",
    "LookalikeError": "errors",
    "ImageReadError": "errors",
    "UnknownModelError": "errors",
    "ModelLoadError": "errors",
    "UnsupportedQueryError": "errors",
    "InvalidArgumentError": "errors",
    "TooManyItemsError": "errors",
    "SpecMismatchError": "errors",
    "ConfigError": "errors",
    "Cancelled": "errors",
    "LibraryError": "errors",
    "LibraryLockedError": "errors",
    "CorruptLibraryError": "errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lookalike' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
