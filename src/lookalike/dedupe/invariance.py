"""Flip and rotation invariance at query time: an image's mirror and its 90/180/270-degree rotations
are embedded when duplicates are searched, and a pair scores the best over the views. The index keeps
one vector per image."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..embedders import Embedder
from ..errors import ImageReadError
from ..images import IMAGE_VIEWS as VIEWS
from ..images import load_image


def view_vectors(embedder: Embedder, paths: Sequence[Path], batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, owners): every view of every readable path, and the path position each belongs to.
    Files that no longer decode contribute no views (their stored vector still counts)."""
    vectors: list[np.ndarray] = []
    owners: list[int] = []
    items: list[object] = []
    item_owners: list[int] = []

    def flush() -> None:
        if items:
            vectors.append(embedder.embed_prepared(items))
            owners.extend(item_owners)
            items.clear()
            item_owners.clear()

    for position, path in enumerate(paths):
        try:
            picture = load_image(path, embedder.decode_options)
        except ImageReadError:
            continue
        for view in VIEWS.values():
            items.append(embedder.prepare(view(picture)))
            item_owners.append(position)
        if len(items) >= batch_size:
            flush()
    flush()
    if not vectors:
        return np.zeros((0, embedder.spec.dim), np.float32), np.zeros(0, np.int64)
    return np.concatenate(vectors), np.asarray(owners, dtype=np.int64)
