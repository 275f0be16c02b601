"""The one query path: what a query is (an image file, image bytes, a text, or an image and a text
with weights), how it becomes one unit vector, how the query image itself is left out of its own
results (by identity, never by rank), and the result types every caller gets back.

Folder operations, libraries, the evaluator, the service and the web server all build query vectors
and rank hits through these functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .embedders import Embedder, l2_normalize
from .errors import InvalidArgumentError
from .images import IMAGE_VIEWS, ImageSource, load_image


@dataclass(frozen=True)
class Match:
    """A search hit: a file, its cosine similarity to the query, and its library id (None outside a
    library)."""

    path: Path
    score: float
    id: int | None = None


@dataclass(frozen=True)
class Pair:
    """Two files and their cosine similarity."""

    a: Path
    b: Path
    score: float


@dataclass(frozen=True)
class Query:
    """An image (path, bytes or file object), a text, or both; `text_weight` is the text's share."""

    image: ImageSource | None = None
    text: str | None = None
    text_weight: float = 0.5
    name: str | None = None  # what errors call an image given as bytes
    invariant: bool = False  # also match the image's mirror and 90/180/270 rotations (best score kept)

    def __post_init__(self) -> None:
        if self.image is None and not self.text:
            raise InvalidArgumentError("a query needs an image, a text, or both", argument="query")
        check_unit_interval(self.text_weight, "text_weight")


def check_unit_interval(value: float, argument: str) -> float:
    """`value` when it is a number in [0, 1], else an `InvalidArgumentError` naming the argument."""
    if not isinstance(value, int | float) or math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InvalidArgumentError(f"{argument} must be between 0 and 1, not {value}", argument=argument)
    return float(value)


def check_threshold(value: float | None, argument: str = "threshold") -> float | None:
    """A cosine threshold in [-1, 1] (or None)."""
    if value is None:
        return None
    if not isinstance(value, int | float) or math.isnan(value) or not -1.0 <= value <= 1.0:
        raise InvalidArgumentError(f"{argument} must be a cosine similarity between -1 and 1, not {value}",
                                   argument=argument)
    return float(value)


def check_count(value: int, argument: str = "k", minimum: int = 1) -> int:
    """A positive count (k, top)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidArgumentError(f"{argument} must be an integer >= {minimum}, not {value}", argument=argument)
    return int(value)


def embed_image(source: ImageSource, embedder: Embedder, name: str | None = None) -> np.ndarray:
    """One image's unit vector through the same safe decode + preprocessing path as indexed images."""
    picture = load_image(source, embedder.decode_options, name)
    return embedder.embed_prepared([embedder.prepare(picture)])[0]


def combine_query(image_vector: np.ndarray | None, text_vector: np.ndarray | None,
                  text_weight: float = 0.5) -> np.ndarray:
    """One unit query vector: the image's, the text's, or their weighted sum (`text_weight` on text)."""
    if image_vector is None and text_vector is None:
        raise InvalidArgumentError("a query needs an image, a text, or both", argument="query")
    check_unit_interval(text_weight, "text_weight")
    if image_vector is None or text_vector is None:
        single = image_vector if image_vector is not None else text_vector
        return l2_normalize(np.asarray(single)[None, :])[0]
    return l2_normalize(((1.0 - text_weight) * image_vector + text_weight * text_vector)[None, :])[0]


def query_vector(query: Query, embedder: Callable[[], Embedder],
                 stored_image_vector: np.ndarray | None = None) -> np.ndarray:
    """The query as one unit vector. `embedder` is called only when a model is really needed, so an
    image whose vector is already stored (`stored_image_vector`) costs no model load."""
    image_vector = stored_image_vector
    if image_vector is None and query.image is not None:
        image_vector = embed_image(query.image, embedder(), query.name)
    text_vector = embedder().embed_texts([query.text])[0] if query.text else None
    return combine_query(image_vector, text_vector, query.text_weight)


def view_vectors(query: Query, embedder: Embedder) -> list[np.ndarray]:
    """With `query.invariant`: one unit vector per other view of the query image (mirror, rotations),
    each combined with the text like the image itself; else none."""
    if not query.invariant or query.image is None:
        return []
    picture = load_image(query.image, embedder.decode_options, query.name)
    views = embedder.embed_prepared([embedder.prepare(view(picture)) for view in IMAGE_VIEWS.values()])
    text_vector = embedder.embed_texts([query.text])[0] if query.text else None
    return [combine_query(view, text_vector, query.text_weight) for view in views]


def merge_best(answers: Sequence[Sequence[Match]], k: int) -> list[Match]:
    """Several answers to one query (its views) as one: each file once, with its best score, best first."""
    best: dict[object, Match] = {}
    for answer in answers:
        for match in answer:
            key = match.id if match.id is not None else match.path
            if key not in best or match.score > best[key].score:
                best[key] = match
    return sorted(best.values(), key=lambda match: -match.score)[:k]


def rank_hits(scores: np.ndarray, keys: np.ndarray, k: int, exclude: int | None = None,
              threshold: float | None = None) -> list[tuple[float, int]]:
    """(score, key) pairs best first from one query's candidates: invalid keys (-1) and the excluded
    key dropped, then cut at `threshold` and at `k`. Ties keep the candidates' order."""
    found = [(float(s), int(i)) for s, i in zip(scores, keys, strict=True) if i >= 0 and i != exclude]
    found.sort(key=lambda hit: -hit[0])
    if threshold is not None:
        found = [hit for hit in found if hit[0] >= threshold]
    return found[:k]


def same_file_position(paths: Sequence[Path], candidate: ImageSource | None) -> int | None:
    """The position in `paths` of the file `candidate` names (by file identity, so another spelling
    of the same path or a hard link counts), or None."""
    if not isinstance(candidate, str | Path):
        return None
    try:
        wanted = Path(candidate).stat()
    except OSError:
        return None
    for position, path in enumerate(paths):
        try:
            found = path.stat()
        except OSError:
            continue
        if (found.st_dev, found.st_ino) == (wanted.st_dev, wanted.st_ino):
            return position
    return None
