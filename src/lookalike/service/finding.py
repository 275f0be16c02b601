"""The service's verbs that find similar images: compare, search, similar, pairs and match, each on a
folder or a library alike (a `Source`) or on an open store."""

from __future__ import annotations

import numpy as np

from ..embedders.registry import model_info
from ..errors import InvalidArgumentError, UnsupportedQueryError
from ..images import ImageSource, find_images
from ..join import JoinOptions, Progress
from ..similarity import check_all_pairs, pairs_of
from ..similarity import match as match_sets
from ..similarity import search as search_store
from ..similarity import similar as similar_in
from ..similarity.query import embed_image
from ..store.base import VectorStore
from ..types import JoinChoice, Match, MatchResult, PairsResult, Query, SearchResult, Source, check_count
from .core import ServiceCore, Target, require_folder


def join_options(choice: JoinChoice | None, recall: float) -> JoinOptions:
    """The join's options for a caller's choice: exact, or approximate with a recall target (the
    choice's, else `recall`, the setting)."""
    if choice is None:
        return JoinOptions(recall=recall)
    return JoinOptions(exact=choice.exact or None, recall=recall if choice.recall is None else choice.recall)


class FindingVerbs(ServiceCore):
    """compare, search, similar, pairs, match."""

    def compare(self, a: ImageSource, b: ImageSource, model: str | None = None,
                names: tuple[str | None, str | None] = (None, None)) -> float:
        """Cosine similarity of two images (paths, bytes or file objects)."""
        embedder = self.embedder(self.model_for(None, model))
        return float(np.dot(embed_image(a, embedder, names[0]), embed_image(b, embedder, names[1])))

    def compare_ids(self, store: VectorStore, a: int, b: int) -> float:
        """Cosine similarity of two images of a store, from their stored vectors (no model)."""
        vectors = []
        for file_id in (a, b):
            vector = store.vector_of(file_id)
            if vector is None:
                raise InvalidArgumentError(f"no image with id {file_id} in this library", argument="id",
                                           unknown_id=file_id)
            vectors.append(vector)
        return float(np.dot(vectors[0], vectors[1]))

    def search(self, target: Target, query: Query, k: int = 10, threshold: float | None = None,
               exact: bool = False, ef_search: int | None = None, nprobe: int | None = None,
               progress: Progress | None = None) -> SearchResult:
        """The k images most similar to an image (path, bytes), a text, or both, best first; the query
        image itself is left out by identity."""
        check_count(k, "k")
        if query.text:
            self._check_text(target)
        store = self.store(target, progress)
        hits = search_store(store, query, k, threshold, exact, ef_search, nprobe)
        return SearchResult(hits, store.failures())

    def _check_text(self, target: Target) -> None:
        """Refuse a text query before any model loads when the registry knows the model has no text tower."""
        name = self.model_for(target.folder, target.model, target.library) if isinstance(target, Source) \
            else target.spec.model
        info = model_info(name)
        if info is not None and not info.text:
            raise UnsupportedQueryError(f"model '{name}' has no text tower; use a SigLIP or CLIP model for text "
                                        "queries (lookalike models: the text column)")

    def similar(self, store: VectorStore, file_id: int, k: int = 10, threshold: float | None = None) -> list[Match]:
        """The k images most like one already in the store (itself left out); no model needed."""
        return similar_in(store, file_id, k, threshold)

    def pairs(self, target: Target, top: int = 1, every: bool = False, join: JoinChoice | None = None,
              progress: Progress | None = None, join_progress: Progress | None = None) -> PairsResult:
        """The `top` most similar pairs (through the bounded-memory join), or every pair of a small set
        (refused before any embedding above the limit)."""
        check_count(top, "top")
        if every and isinstance(target, Source) and target.library is None and target.folder is not None:
            check_all_pairs(len(find_images(require_folder(target.folder))))
        store = self.store(target, progress)
        return pairs_of(store.snapshot(), top, every, join_options(join, self.settings.recall), join_progress)

    def match(self, a: Target, b: Target, k: int = 1, threshold: float | None = None,
              join: JoinChoice | None = None, progress: Progress | None = None,
              join_progress: Progress | None = None) -> MatchResult:
        """For each image of A, its k best matches in B; a file in both is not its own match. Without a
        model, a side that is a library decides it for the other."""
        b_first = isinstance(b, Source) and b.library is not None and b.model is None
        if b_first:
            side_b = self.store(b, progress)
            side_a = self.store(_with_model(a, side_b.spec.model), progress)
        else:
            side_a = self.store(a, progress)
            side_b = self.store(_with_model(b, side_a.spec.model), progress)
        return match_sets(side_a.snapshot(), side_b.snapshot(), k, threshold,
                          join_options(join, self.settings.recall), join_progress)


def _with_model(target: Target, model: str) -> Target:
    """A source that names no model gets `model` (the other side's)."""
    if isinstance(target, Source) and target.model is None:
        return Source(target.folder, target.library, model)
    return target
