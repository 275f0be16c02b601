"""Helpers for library tests: an embedder wrapper that counts what it embeds, and consistency checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from lookalike.embedders import Embedder
from lookalike.store import Library


class CountingEmbedder(Embedder):
    """Delegates to a real embedder and counts the images it embeds."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.supports_text = inner.supports_text
        self.embedded = 0

    @property
    def decode_options(self):  # type: ignore[no-untyped-def]
        return self.inner.decode_options

    def prepare(self, image: Image.Image) -> Any:
        return self.inner.prepare(image)

    def _embed_prepared(self, items: Sequence[Any]) -> np.ndarray:
        self.embedded += len(items)
        return self.inner._embed_prepared(items)

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        return self.inner._embed_texts(texts)


def assert_consistent(library: Library) -> None:
    """Catalog and index hold exactly the same ids, once each, and every indexed row has a vector."""
    with library.catalog.snapshot():
        ids, vectors = library.catalog.vectors(library.spec.dim)
        rows = library.catalog.rows()
    index_ids = library.index().ids()
    assert len(index_ids) == len(set(index_ids.tolist())), "duplicate vectors in the index"
    assert sorted(index_ids.tolist()) == sorted(ids.tolist()), "index and catalog disagree"
    assert len(ids) == sum(1 for r in rows.values() if r.status == "indexed")
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
