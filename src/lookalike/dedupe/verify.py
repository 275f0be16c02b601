"""Geometric verification of candidate pairs: SIFT keypoints (RootSIFT descriptors) matched with a
ratio test, a RANSAC similarity transform (rotation, uniform scale, shift: what cropping, resizing and
rotating a picture do) and its inliers counted, also against the mirrored image so flips verify. A pair
is confirmed when enough inliers agree on a sane transform that covers a real part of both pictures,
which tells an edited copy from a different object that only looks alike: a similarity has 4 degrees
of freedom, so chance matches between different pictures rarely agree on one (a homography's 8 let
them). Runs on candidate edges only, in threads (OpenCV releases the GIL)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Cancelled, ImageReadError
from ..images import load_image
from ..system import available_cores
from ..types import DEFAULT_MIN_INLIERS, Cancel


@dataclass(frozen=True)
class VerifyOptions:
    """Feature budget and the acceptance rule (defaults measured in docs/duplicates.md)."""

    max_side: int = 512
    features: int = 2000
    contrast: float = 0.02  # SIFT's contrast threshold: below OpenCV's 0.04 so soft pictures keep keypoints
    detector: str = "sift"
    ratio: float = 0.8
    tolerance: float = 0.01  # RANSAC reprojection error, as a share of the longer side
    min_inliers: int = DEFAULT_MIN_INLIERS
    min_spread: float = 0.12  # inliers' spread across their thinnest direction (see `spread`)
    workers: int | None = None


@dataclass(frozen=True)
class _Features:
    points: np.ndarray
    descriptors: np.ndarray | None
    shape: tuple[int, int]


@dataclass
class VerifyReport:
    """Inliers per edge (-1: a file could not be read), and what the check cost."""

    inliers: np.ndarray
    images: int
    pairs: int
    seconds: float


def opencv_available() -> bool:
    """Whether the keypoint check can run (OpenCV is an optional dependency)."""
    import importlib.util

    return importlib.util.find_spec("cv2") is not None


def _grey(path: Path, max_side: int) -> np.ndarray:
    import cv2

    picture = load_image(path)
    picture.thumbnail((max_side, max_side))
    return cv2.cvtColor(np.asarray(picture), cv2.COLOR_RGB2GRAY)


def root_sift(descriptors: np.ndarray) -> np.ndarray:
    """RootSIFT (Arandjelovic & Zisserman 2012): L1-normalised, square-rooted SIFT, whose Euclidean
    distance is the Hellinger distance of the originals; it matches markedly better."""
    total = np.abs(descriptors).sum(axis=1, keepdims=True) + 1e-7
    return np.sqrt(descriptors / total).astype(np.float32)


def _features(grey: np.ndarray, options: VerifyOptions) -> _Features:
    import cv2

    if options.detector == "sift":
        detector = cv2.SIFT_create(nfeatures=options.features,  # type: ignore[attr-defined]
                                   contrastThreshold=options.contrast)
    else:
        detector = cv2.ORB_create(nfeatures=options.features, scaleFactor=1.2, nlevels=10,  # type: ignore[attr-defined]
                                  fastThreshold=10)
    keypoints, descriptors = detector.detectAndCompute(grey, None)
    points = np.asarray([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
    if descriptors is not None and descriptors.dtype != np.uint8:
        descriptors = root_sift(descriptors)
    return _Features(points, descriptors, (int(grey.shape[0]), int(grey.shape[1])))


def spread(points: np.ndarray, shape: tuple[int, int]) -> float:
    """How far the points reach across their thinnest direction, as a share of the picture's short
    side: the range holding the middle 80% of them (so a few stray points do not widen a band), about
    0.8 for points all over the picture, small for a line of text or a logo strip."""
    if len(points) < 3:
        return 0.0
    centred = points.astype(np.float64) - np.median(points, axis=0)
    thinnest = np.linalg.eigh(np.cov(centred.T))[1][:, 0]
    low, high = np.quantile(centred @ thinnest, [0.1, 0.9])
    return float(high - low) / float(min(shape))


def count_inliers(a: _Features, b: _Features, options: VerifyOptions) -> int:
    """Inliers of the RANSAC similarity transform from a to b; 0 when its scale is absurd or its
    inliers lie along a thin band of either picture (a shared caption or logo strip, not the scene)."""
    import cv2

    if a.descriptors is None or b.descriptors is None or len(a.points) < 4 or len(b.points) < 4:
        return 0
    binary = a.descriptors.dtype == np.uint8
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING if binary else cv2.NORM_L2)
    matches = matcher.knnMatch(a.descriptors, b.descriptors, k=2)
    good = [m[0] for m in matches if len(m) == 2 and m[0].distance < options.ratio * m[1].distance]
    if len(good) < 6:
        return 0
    source = a.points[[m.queryIdx for m in good]]
    target = b.points[[m.trainIdx for m in good]]
    transform, mask = cv2.estimateAffinePartial2D(source, target, method=cv2.RANSAC, maxIters=4000,
                                                  ransacReprojThreshold=options.tolerance * max(b.shape))
    if transform is None:
        return 0
    determinant = float(np.linalg.det(transform[:2, :2]))  # the scale squared
    if not 0.01 < determinant < 100:
        return 0
    inside = mask.ravel().astype(bool)
    reach = min(spread(source[inside], a.shape), spread(target[inside], b.shape))
    return int(inside.sum()) if reach >= options.min_spread else 0


class Verifier:
    """Keypoints per image (plain and mirrored), computed once on first use."""

    def __init__(self, paths: list[Path], options: VerifyOptions | None = None) -> None:
        self.paths = paths
        self.options = options or VerifyOptions()
        self._cache: dict[int, tuple[_Features, _Features] | None] = {}

    def _load(self, position: int) -> tuple[_Features, _Features] | None:
        import cv2

        try:
            grey = _grey(self.paths[position], self.options.max_side)
        except ImageReadError:
            return None
        return _features(grey, self.options), _features(cv2.flip(grey, 1), self.options)

    def pair(self, i: int, j: int) -> int:
        """Inliers of (i, j), or of (i, mirrored j) when that is better and the plain pair is not
        already confirmed; -1 when either file is unreadable."""
        a, b = self._cache[i], self._cache[j]
        if a is None or b is None:
            return -1
        plain = count_inliers(a[0], b[0], self.options)
        if plain >= self.options.min_inliers:
            return plain
        return max(plain, count_inliers(a[0], b[1], self.options))

    def verify(self, i: np.ndarray, j: np.ndarray, cancel: Cancel | None = None) -> VerifyReport:
        """Inliers for every edge (i[e], j[e]), in parallel; `cancel` is asked before each image and
        each pair, and a True stops the work (Cancelled) once the pairs in progress end."""
        import cv2

        started = time.perf_counter()
        cv2.setNumThreads(1)  # parallel across pairs instead
        needed = sorted((set(map(int, i)) | set(map(int, j))) - set(self._cache))
        workers = self.options.workers or available_cores()

        def load(position: int) -> tuple[_Features, _Features] | None:
            check_cancel(cancel)
            return self._load(position)

        def pair(a: int, b: int) -> int:
            check_cancel(cancel)
            return self.pair(a, b)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookalike-verify") as pool:
            for position, features in zip(needed, pool.map(load, needed), strict=True):
                self._cache[position] = features
            counts: list[Any] = list(pool.map(pair, map(int, i), map(int, j)))
        return VerifyReport(np.asarray(counts, dtype=np.int64), len(needed), len(counts),
                            time.perf_counter() - started)


def check_cancel(cancel: Cancel | None) -> None:
    """Raise Cancelled when `cancel` says the caller gave up."""
    if cancel is not None and cancel():
        raise Cancelled("cancelled")
