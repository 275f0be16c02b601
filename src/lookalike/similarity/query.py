"""How a query (an image file, image bytes, a text, or an image and a text with weights) becomes one
unit vector, with the query image's other views for invariant search, and how several answers to one
query merge. `similarity.search` is the one search path built on these."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..embedders import Embedder, l2_normalize
from ..errors import InvalidArgumentError
from ..images import IMAGE_VIEWS, ImageSource, load_image
from ..types import Match, Query, check_unit_interval


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
