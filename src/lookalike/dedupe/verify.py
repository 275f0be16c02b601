"""Photo-level verification of candidate pairs: is one picture the other one cropped, resized,
rotated, mirrored or re-coloured? Two pieces of evidence, both required:

1. geometry: RootSIFT keypoints matched with a ratio test, and a RANSAC similarity transform (rotation,
   uniform scale, shift: what cropping, resizing and rotating a picture do; never a perspective change
   of a 3-D scene) with enough inliers spread over a real part of both pictures that fit it to about
   a pixel (another shot from almost the same place leaves parallax in the residuals) and that a
   homography fits no better (another shot's change of perspective: viewpoint.py), tried against the
   mirrored picture too;
2. pixels: one picture warped onto the other with that transform (in the frame where their overlap
   is larger, so a pair's order does not matter) agrees with it over their overlap (normalised
   cross-correlation of grey levels, so brightness and contrast changes do not matter; with `trim`,
   over all but the pixels that differ most: a caption). Another shot of the
   same object can pass the first test on a flat object, rarely the second: its background, lighting
   and viewpoint differ.

The checks of many pairs run in verifier.py (threads, features computed once per image).
Thresholds measured in docs/results.md (benchmarks/duplicates_quality.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..types import DEFAULT_MIN_INLIERS
from .features import FeatureOptions, Features
from .viewpoint import perspective

SEARCHED = -2  # the inliers of a pair of tiny pictures aligned by search


@dataclass(frozen=True)
class VerifyOptions:
    """The acceptance rule (defaults measured in docs/results.md) and the feature recipe."""

    features: FeatureOptions = field(default_factory=FeatureOptions)
    ratio: float = 0.8
    tolerance: float = 0.015  # RANSAC reprojection error, as a share of the longer side
    min_inliers: int = DEFAULT_MIN_INLIERS
    min_spread: float = 0.12  # inliers' spread across their thinnest direction (see `spread`)
    max_error: float = 0.004  # inliers' 80th-percentile reprojection error, share of the longer side (see `align`)
    max_perspective: float = 0.0008  # a homography's shift over an affine fit, share of the side (viewpoint.py)
    perspective_significance: float = 15.0  # ... which counts only when its F statistic is above this
    min_agreement: float = 0.975  # NCC of the aligned grey pixels over the overlap
    trim: float = 0.0  # share of the overlap's most differing pixels left out of that NCC (a caption)
    larger_frame: bool = True  # compare pixels where the overlap is larger (else always a's onto b's)
    min_overlap: float = 0.4  # the overlap as a share of the smaller picture
    min_search_agreement: float = 0.9  # tiny pictures aligned by search (see `search_alignment`)
    workers: int | None = None

    def method(self) -> str:
        """What a stored verdict was measured with (inliers and agreement are stored, not the verdict,
        so min_inliers and min_agreement may change without new checks; everything that changes what
        is measured is named here: a pair whose inliers miss `max_error` is stored with 0 inliers)."""
        return (f"{self.features.method()}-r{self.ratio:g}-e{self.tolerance:g}-s{self.min_spread:g}"
                f"-f{self.max_error:g}-p{self.max_perspective:g}-{self.perspective_significance:g}"
                f"-o{self.min_overlap:g}-t{self.trim:g}{'-L' if self.larger_frame else ''}")


@dataclass(frozen=True)
class PairCheck:
    """The evidence for one pair: RANSAC inliers (-1: a file could not be read) and how well the
    aligned pixels agree (NCC in [-1, 1]; -1 when no transform was found)."""

    inliers: int  # SEARCHED: a tiny picture, aligned by search instead of keypoints
    agreement: float

    def confirmed(self, options: VerifyOptions) -> bool:
        return bool(confirmed(np.array([self.inliers]), np.array([self.agreement]), options)[0])


@dataclass
class VerifyReport:
    """Inliers and agreement per edge, and what the check cost."""

    inliers: np.ndarray
    agreement: np.ndarray
    images: int
    pairs: int
    seconds: float

    def confirmed(self, options: VerifyOptions) -> np.ndarray:
        return confirmed(self.inliers, self.agreement, options)


def confirmed(inliers: np.ndarray, agreement: np.ndarray, options: VerifyOptions) -> np.ndarray:
    """The rule of `PairCheck.confirmed` over arrays."""
    keypoints = (inliers >= options.min_inliers) & (agreement >= options.min_agreement)
    return keypoints | ((inliers == SEARCHED) & (agreement >= options.min_search_agreement))


def opencv_available() -> bool:
    """Whether the keypoint check can run (OpenCV is an optional dependency)."""
    import importlib.util

    return importlib.util.find_spec("cv2") is not None


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


def _matches(a: np.ndarray, b: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Ratio-test matches (a row, b row) between unit descriptors, by one matrix product (OpenCV's, on
    the calling thread: numpy's BLAS would start its own threads for each small product, which cost
    10-30x the CPU of the product itself while the pairs already run in parallel) and the best two
    per row found in place (no index matrix: large temporaries cost page faults in worker threads)."""
    import cv2

    if len(a) < 2 or len(b) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    similarity = np.asarray(cv2.gemm(a, b, 1.0, np.empty((0, 0), np.float32), 0.0, flags=cv2.GEMM_2_T))
    rows = np.arange(len(a))
    nearest = similarity.argmax(axis=1)
    best = similarity[rows, nearest]
    similarity[rows, nearest] = -np.inf
    second = similarity.max(axis=1)
    distance = np.sqrt(np.maximum(2 - 2 * best, 0))
    keep = distance < ratio * np.sqrt(np.maximum(2 - 2 * second, 0))
    return rows[keep], nearest[keep]


def align(a: Features, b: Features, mirrored: bool,
          options: VerifyOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The similarity transform from a's keypoints to b's (or mirrored b's) and its inliers (a's points,
    b's points); None when too few match, the scale is absurd, the inliers lie along a thin band (a
    caption, a logo strip) or do not fit the transform exactly: an edited copy's keypoints land within
    a pixel or so of where the transform puts them (80th percentile at most `max_error` of the side),
    another shot of a 3-D scene from almost the same place has parallax that a similarity leaves
    behind (measured in docs/results.md), or a change of perspective that a homography fits (see
    viewpoint.py)."""
    import cv2

    if len(a.points) < 4 or len(b.points) < 4:
        return None
    rows, cols = _matches(a.unit_descriptors(), b.unit_descriptors(mirrored), options.ratio)
    if len(rows) < 6:
        return None
    source = a.points[rows]
    target = (b.mirrored_points() if mirrored else b.points)[cols]
    transform, mask = cv2.estimateAffinePartial2D(source, target, method=cv2.RANSAC, maxIters=2000,
                                                  ransacReprojThreshold=options.tolerance * max(b.shape))
    if transform is None:
        return None
    determinant = float(np.linalg.det(transform[:2, :2]))  # the scale squared
    if not 0.01 < determinant < 100:
        return None
    inside = mask.ravel().astype(bool)
    source, target = source[inside], target[inside]
    if min(spread(source, a.shape), spread(target, b.shape)) < options.min_spread:
        return None
    error = np.quantile(residuals(transform, source, target), 0.8) / max(b.shape)
    if error > options.max_error:
        return None
    if options.max_perspective < float("inf") and perspective(source, target, max(b.shape)).another_shot(
            options.perspective_significance, options.max_perspective):
        return None
    return transform, source, target


def residuals(transform: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """How far each source point lands from its target under the transform (target pixels)."""
    landed = source.astype(np.float64) @ transform[:, :2].T + transform[:, 2]
    return np.linalg.norm(landed - target, axis=1)


def _aligned(a: Features, b: Features, transform: np.ndarray, mirrored: bool,
             options: VerifyOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """a's thumbnail warped onto b's (mirrored when asked), b's, both slightly blurred (JPEG blocks and
    resampling are not differences), and the overlap mask; None when they overlap too little. With
    `options.larger_frame`, b's onto a's where the overlap covers more of a's thumbnail (a copy is
    compared in its own frame whichever way round the pair comes: a crop shrunk onto its original
    agreed less, NCC 0.96-0.97 against 0.99, in docs/results.md)."""
    import cv2

    scale_a = a.thumb.shape[1] / a.shape[1]
    scale_b = b.thumb.shape[1] / b.shape[1]
    warp = transform.astype(np.float64).copy()
    warp[:, :2] *= scale_b / scale_a
    warp[:, 2] *= scale_b
    target = (b.thumb[:, ::-1] if mirrored else b.thumb).astype(np.float32)
    source = a.thumb.astype(np.float32)
    if options.larger_frame and abs(float(np.linalg.det(warp[:, :2]))) < 1.0:
        warp = np.asarray(cv2.invertAffineTransform(warp), np.float64)
        source, target = target, source
    height, width = target.shape
    source = np.asarray(cv2.GaussianBlur(source, (0, 0), 1.0), np.float32)
    warped = cv2.warpAffine(source, warp, (width, height), flags=cv2.INTER_LINEAR)
    inside = cv2.warpAffine(np.ones_like(source), warp, (width, height), flags=cv2.INTER_NEAREST) > 0.5
    inside = cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    overlap = int(inside.sum())
    source_area = source.size * abs(float(np.linalg.det(warp[:, :2])))
    if overlap < 64 or overlap < options.min_overlap * min(source_area, target.size):
        return None
    return warped, cv2.GaussianBlur(target, (0, 0), 1.0), inside


def _ncc(x: np.ndarray, y: np.ndarray, trim: float = 0.0) -> float:
    """Normalised cross-correlation of two sets of grey levels; with `trim`, over all but that share of
    the pixels that differ most once their grey levels are matched (brightness and contrast)."""
    x = x.astype(np.float64) - x.mean()
    y = y.astype(np.float64) - y.mean()
    if trim > 0:
        x /= x.std() + 1e-9
        y /= y.std() + 1e-9
        error = np.abs(y - float(np.mean(x * y)) * x)  # y less its least-squares fit from x
        keep = error <= np.quantile(error, 1.0 - trim)
        return _ncc(x[keep], y[keep])
    norm = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / norm) if norm > 1e-9 else -1.0


def agreement(a: Features, b: Features, transform: np.ndarray, mirrored: bool, options: VerifyOptions) -> float:
    """NCC of a's thumbnail warped onto b's (mirrored when asked) over their overlap, less
    `options.trim` of its pixels; -1 when they overlap too little."""
    found = _aligned(a, b, transform, mirrored, options)
    if found is None:
        return -1.0
    warped, target, inside = found
    return _ncc(warped[inside], target[inside], options.trim)


def check_pair(a: Features, b: Features, options: VerifyOptions) -> PairCheck:
    """The best evidence that b is a (cropped, resized, rotated, re-coloured) copy of a, plain or
    mirrored: the first orientation that confirms, else the stronger of the two."""
    best = PairCheck(0, -1.0)
    for mirrored in (False, True):
        aligned = align(a, b, mirrored, options)
        if aligned is None:
            continue
        transform, source, _ = aligned
        found = PairCheck(len(source), agreement(a, b, transform, mirrored, options))
        if found.confirmed(options):
            return found
        if (found.agreement, found.inliers) > (best.agreement, best.inliers):
            best = found
    if (a.small or b.small) and a.pixels is not None and b.pixels is not None:
        return PairCheck(SEARCHED, search_alignment(a.pixels, b.pixels))
    return best


def search_alignment(a: np.ndarray, b: np.ndarray) -> float:
    """For tiny pictures (too few keypoints): the best NCC of one picture, scaled to 50-100% of the
    other's width, mirrored or not, at any shift inside the other (either way round). Measured on
    32x32 CIFAR-10 cats: edited copies 0.86-0.99, random pairs of different cats up to 0.86, so 0.9."""
    import cv2

    best = -1.0
    for outer, inner in ((a, b), (b, a)):
        height, width = outer.shape
        for mirrored in (False, True):
            template = (inner[:, ::-1] if mirrored else inner).astype(np.float32)
            for share in np.arange(0.5, 1.001, 0.05):
                w = int(round(width * share))
                h = int(round(w * template.shape[0] / template.shape[1]))
                if h > height or w < 8 or h < 8:
                    continue
                shrink = w < template.shape[1]
                scaled = cv2.resize(template, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
                found = cv2.matchTemplate(np.ascontiguousarray(outer, dtype=np.float32), scaled,
                                          cv2.TM_CCOEFF_NORMED)
                best = max(best, float(np.nan_to_num(found, nan=-1.0).max()))
    return best


PairCheckFn = Callable[[np.ndarray, np.ndarray], VerifyReport]
