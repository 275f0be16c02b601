"""Flip, rotation and crop invariance at query time. While duplicates are searched, each image's mirror
and 90/180/270-degree rotations are embedded (its *turned* views) and so are five crops of it (the
centre and the four corners, each 65% of a side): a crop of the original looks like a deeply cropped
copy, and the copy turned upright looks like that crop. Every view asks for its nearest images among
all images' stored and turned vectors, and a pair scores the best over the views. The index keeps one
vector per image; the views live only while the run lasts (five vectors per image, never N²)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..embedders import Embedder
from ..errors import ImageReadError
from ..images import IMAGE_VIEWS, load_image
from .edges import EdgeFinder, Edges, undirected_max

CROP_SHARE = 0.65
Views = Callable[[Image.Image], list[Image.Image]]


def turned_views(picture: Image.Image) -> list[Image.Image]:
    """The mirror and the three rotations."""
    return [view(picture) for view in IMAGE_VIEWS.values()]


def crop_views(picture: Image.Image, share: float = CROP_SHARE) -> list[Image.Image]:
    """The centre and the four corners, each `share` of the width and of the height."""
    width, height = picture.size
    crop_width, crop_height = max(1, round(width * share)), max(1, round(height * share))
    lefts = {"centre": (width - crop_width) // 2, "left": 0, "right": width - crop_width}
    tops = {"centre": (height - crop_height) // 2, "top": 0, "bottom": height - crop_height}
    corners = [(lefts["centre"], tops["centre"])] + [(lefts[x], tops[y]) for y in ("top", "bottom")
                                                      for x in ("left", "right")]
    return [picture.crop((left, top, left + crop_width, top + crop_height)) for left, top in corners]


def embed_views(embedder: Embedder, paths: Sequence[Path], views: Views,
                batch_size: int = 32) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(vectors, owners) batches: every view of every readable path and the path position it belongs
    to. Files that no longer decode contribute no views (their stored vector still counts)."""
    items: list[object] = []
    owners: list[int] = []
    for position, path in enumerate(paths):
        try:
            picture = load_image(path, embedder.decode_options)
        except ImageReadError:
            continue
        for view in views(picture):
            items.append(embedder.prepare(view))
            owners.append(position)
        if len(items) >= batch_size:
            yield embedder.embed_prepared(items), np.asarray(owners, dtype=np.int64)
            items, owners = [], []
    if items:
        yield embedder.embed_prepared(items), np.asarray(owners, dtype=np.int64)


def view_vectors(embedder: Embedder, paths: Sequence[Path], views: Views = turned_views,
                 batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """All of `embed_views` at once: (vectors, owners)."""
    batches = list(embed_views(embedder, paths, views, batch_size))
    if not batches:
        return np.zeros((0, embedder.spec.dim), np.float32), np.zeros(0, np.int64)
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def invariant_edges(embedder: Embedder, paths: Sequence[Path], vectors: np.ndarray, threshold: float,
                    k: int) -> Edges:
    """Candidate pairs of `paths` (stored `vectors`, one per path) that score at least `threshold`
    through any view, each view keeping its `k` nearest other images."""
    turned, turned_owners = view_vectors(embedder, paths, turned_views)
    targets = np.concatenate([vectors, turned]).astype(np.float32, copy=False)
    owners = np.concatenate([np.arange(len(paths), dtype=np.int64), turned_owners])
    finder = EdgeFinder(targets, owners)
    found = [finder.edges(threshold, k=k)]
    for crops, crop_owners in embed_views(embedder, paths, crop_views):
        found.append(finder.edges(threshold, crops, crop_owners, k=k))
    return undirected_max(np.concatenate([e.i for e in found]), np.concatenate([e.j for e in found]),
                          np.concatenate([e.score for e in found]))
