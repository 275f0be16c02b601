"""Classical baselines, no neural network: an HSV colour histogram, a perceptual hash, and the
seeds' combination of ORB feature matching + histogram + SSIM.

The histogram and the hash are embedders like any other (cosine on their vectors is meaningful,
see each class). ORB and SSIM only score pairs, so `classical-combo` embeds with the histogram and
then reranks each query's top candidates with the weighted pair score (`Reranker`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from ..errors import ModelLoadError
from ..images import DecodeOptions, load_image
from .base import Embedder, EmbeddingSpec

HUE_BINS, SATURATION_BINS, VALUE_BINS = 16, 4, 4
WORKING_SIDE = 128


def _require(module: str, extra: str = "classical") -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModelLoadError(f"this method needs {module}: pip install 'lookalike[{extra}]'") from None


@runtime_checkable
class Reranker(Protocol):
    """A method that rescores a query's top candidates pair by pair."""

    rerank_depth: int

    def pairwise_features(self, path: Path) -> Any: ...

    def pair_score(self, a: Any, b: Any) -> float: ...


class HistogramEmbedder(Embedder):
    """A 16x4x4-bin HSV histogram, L1-normalised, then square-rooted: the cosine of two such vectors
    is the Bhattacharyya coefficient of the two histograms (1 = identical colour distributions)."""

    default_batch_size = 256

    def __init__(self, name: str = "histogram", **_: Any) -> None:
        self.spec = EmbeddingSpec(
            model=name, source="builtin:hsv-histogram", dim=HUE_BINS * SATURATION_BINS * VALUE_BINS,
            preprocessing=f"thumbnail {WORKING_SIDE}px, HSV {HUE_BINS}x{SATURATION_BINS}x{VALUE_BINS}, sqrt(L1)",
            extra={"family": "classical"},
        )

    @property
    def decode_options(self) -> DecodeOptions:
        return DecodeOptions(draft_short_side=WORKING_SIDE)

    def prepare(self, image: Image.Image) -> np.ndarray:
        small = image.copy()
        small.thumbnail((WORKING_SIDE, WORKING_SIDE))
        hsv = np.asarray(small.convert("HSV"), dtype=np.uint16).reshape(-1, 3)
        bins = (hsv[:, 0] * HUE_BINS // 256) * SATURATION_BINS * VALUE_BINS \
            + (hsv[:, 1] * SATURATION_BINS // 256) * VALUE_BINS + hsv[:, 2] * VALUE_BINS // 256
        histogram = np.bincount(bins, minlength=self.spec.dim).astype(np.float32)
        return np.sqrt(histogram / max(histogram.sum(), 1.0))

    def _embed_prepared(self, items: Sequence[Any]) -> np.ndarray:
        return np.stack(items).astype(np.float32)


class PerceptualHashEmbedder(Embedder):
    """The 64-bit DCT perceptual hash (imagehash.phash) as a +-1 vector: cosine = 1 - 2 * Hamming / 64,
    so ranking by cosine is ranking by Hamming similarity."""

    default_batch_size = 256

    def __init__(self, name: str = "phash", **_: Any) -> None:
        self.imagehash = _require("imagehash")
        self.spec = EmbeddingSpec(model=name, source="builtin:phash-64", dim=64,
                                  preprocessing="imagehash.phash(hash_size=8)", extra={"family": "classical"})

    @property
    def decode_options(self) -> DecodeOptions:
        return DecodeOptions(draft_short_side=64)

    def prepare(self, image: Image.Image) -> np.ndarray:
        bits = self.imagehash.phash(image, hash_size=8).hash.ravel()
        return np.where(bits, 1.0, -1.0).astype(np.float32)

    def _embed_prepared(self, items: Sequence[Any]) -> np.ndarray:
        return np.stack(items).astype(np.float32)


class ClassicalComboEmbedder(HistogramEmbedder):
    """Histogram retrieval, reranked by 0.4 ORB match ratio + 0.3 histogram + 0.3 SSIM."""

    rerank_depth = 50
    weights = (0.4, 0.3, 0.3)

    def __init__(self, name: str = "classical-combo", **options: Any) -> None:
        super().__init__(name=name, **options)
        self.cv2 = _require("cv2")
        self.metrics = _require("skimage.metrics")
        self.orb = self.cv2.ORB_create(nfeatures=300, edgeThreshold=8, patchSize=15)
        self.matcher = self.cv2.BFMatcher(self.cv2.NORM_HAMMING)
        self.spec = EmbeddingSpec(
            model=name, source="builtin:orb-hist-ssim", dim=self.spec.dim,
            preprocessing=self.spec.preprocessing + "; rerank: ORB 300 on 256px grey, SSIM on 64px grey",
            extra={"family": "classical", "weights": list(self.weights), "rerank_depth": self.rerank_depth},
        )

    def pairwise_features(self, path: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(histogram vector, ORB descriptors, 64x64 grey thumbnail) of one image."""
        picture = load_image(path, DecodeOptions(draft_short_side=256))
        grey = picture.convert("L")
        orb_input = np.asarray(grey.resize((256, 256), Image.Resampling.BILINEAR))
        _, descriptors = self.orb.detectAndCompute(orb_input, None)
        thumbnail = np.asarray(grey.resize((64, 64), Image.Resampling.BILINEAR))
        return self.prepare(picture), descriptors, thumbnail

    def _orb_ratio(self, a: np.ndarray | None, b: np.ndarray | None) -> float:
        if a is None or b is None or len(a) < 2 or len(b) < 2:
            return 0.0
        pairs = self.matcher.knnMatch(a, b, k=2)
        good = sum(1 for pair in pairs if len(pair) == 2 and pair[0].distance < 0.75 * pair[1].distance)
        return good / min(len(a), len(b))

    def pair_score(self, a: Any, b: Any) -> float:
        histogram = float(np.dot(a[0], b[0]))
        ssim = float(self.metrics.structural_similarity(a[2], b[2], data_range=255))
        w_orb, w_hist, w_ssim = self.weights
        return w_orb * self._orb_ratio(a[1], b[1]) + w_hist * histogram + w_ssim * max(ssim, 0.0)
