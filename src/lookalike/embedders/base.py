"""The embedder interface: images (and, for some models, text) in; L2-normalised float32 rows out.

An embedder splits its work in two so the pipeline can overlap them: `prepare` turns one decoded
picture into model input (run in decode workers, and used for queries too, so indexed images and
queries always share one preprocessing path), and `embed_prepared` runs the model on a batch.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from PIL import Image

from ..errors import SpecMismatchError, UnsupportedQueryError
from ..images import DecodeOptions
from .preprocess import Preprocess

Precision = Literal["auto", "fp32", "bf16", "int8"]


@dataclass(frozen=True)
class EmbeddingSpec:
    """What produced a set of vectors; two sets can be compared only when their specs agree."""

    model: str
    source: str
    dim: int
    preprocessing: str
    metric: str = "cosine"
    normalized: bool = True
    revision: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbeddingSpec:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def identity(self) -> tuple[Any, ...]:
        """The fields that must match for vectors to be comparable."""
        return (self.source, self.revision, self.dim, self.preprocessing, self.metric, self.normalized)

    def check_compatible(self, other: EmbeddingSpec, what: str = "the index") -> None:
        """Raise `SpecMismatchError` when vectors of `other` cannot be compared with ours."""
        if self.identity() != other.identity():
            raise SpecMismatchError(
                f"{what} was built with model '{self.model}' ({self.source}, {self.dim}-d) but the query "
                f"uses '{other.model}' ({other.source}, {other.dim}-d)", expected=self.model, given=other.model,
            )


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class Embedder(ABC):
    """Base class: subclasses implement `prepare` and `_embed_prepared`; this class batches,
    casts to float32 and normalises."""

    spec: EmbeddingSpec
    supports_text: bool = False
    default_batch_size: int = 32
    # How `prepare` turns a picture into the model's input array, as data (None: the model prepares its
    # input its own way). Beside the spec, not in it: the spec's `preprocessing` string stays what
    # libraries already store.
    preprocess: Preprocess | None = None

    @property
    def decode_options(self) -> DecodeOptions:
        """How images should be decoded for this model (draft-mode short side)."""
        return DecodeOptions()

    @abstractmethod
    def prepare(self, image: Image.Image) -> Any:
        """Model input for one RGB picture (for neural models a float32 numpy array, made by
        `prepare_array(image, self.preprocess)`); thread-safe, called from decode workers."""

    @abstractmethod
    def _embed_prepared(self, items: Sequence[Any]) -> np.ndarray:
        """Raw (unnormalised) vectors for a batch of prepared items."""

    def embed_prepared(self, items: Sequence[Any]) -> np.ndarray:
        """L2-normalised float32 vectors, shape (len(items), dim)."""
        if not items:
            return np.zeros((0, self.spec.dim), dtype=np.float32)
        return l2_normalize(self._embed_prepared(items))

    def embed_images(self, images: Sequence[Image.Image], batch_size: int | None = None) -> np.ndarray:
        """Vectors for decoded RGB pictures, in order."""
        size = batch_size or self.default_batch_size
        chunks = [
            self.embed_prepared([self.prepare(img) for img in images[start : start + size]])
            for start in range(0, len(images), size)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.spec.dim), np.float32)

    def warm(self) -> None:
        """Load now what loads on first use (ONNX Runtime sessions), so a server's first request is fast."""
        return None

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for text queries, in the image space; only for models with a text tower."""
        if not self.supports_text:
            raise UnsupportedQueryError(
                f"model '{self.spec.model}' has no text tower; use a SigLIP or CLIP model for text queries"
            )
        return l2_normalize(self._embed_texts(list(texts)))

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError
