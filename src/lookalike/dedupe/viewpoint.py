"""The same capture edited, or another shot from almost the same place? Perspective in the keypoints.

Editing a photo (cropping, resizing, rotating, mirroring, re-colouring, captioning) moves its points by
an affine map at most: a similarity, plus a rounding of each side's length. A second shot taken from a
slightly different place sees the scene in another perspective (a turned plane, parallax), which a
homography fits better than any affine map. Measured on the RANSAC inliers of the similarity fit:

- significance: the homography's gain over the affine fit as an F statistic (the drop of the squared
  residuals per added parameter over the homography's residual variance), about 1 when the gain is
  keypoint noise, far above it for a change of perspective;
- shift: how far apart the two fits put the inliers (RMS), as a share of the picture's longer side.

A pair is another shot only when both are large: a copy with hundreds of inliers can show a significant
but tiny departure (keypoints found at another scale), one with few inliers a visible but insignificant
one. The 10% of inliers that fit the homography worst are left out first (RANSAC's tolerance lets in a
few loose matches). Thresholds measured in docs/results.md (benchmarks/duplicate_pairs.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Perspective:
    """A homography's gain over an affine fit of matched points."""

    significance: float  # F statistic (2 added parameters); 0 when too few points
    shift: float  # RMS distance between the two fits' points, share of the longer side

    def another_shot(self, min_significance: float, min_shift: float) -> bool:
        """Whether the perspective change is both beyond noise and large enough to be a real one."""
        return self.significance > min_significance and self.shift > min_shift


def _homography(source: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """The least-squares homography of source onto target (None when degenerate)."""
    import cv2

    found, _ = cv2.findHomography(source, target, 0)
    return None if found is None else np.asarray(found, np.float64)


def _project(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    moved = np.hstack([points, np.ones((len(points), 1))]) @ homography.T
    return moved[:, :2] / np.where(np.abs(moved[:, 2:]) < 1e-12, 1e-12, moved[:, 2:])


def perspective(source: np.ndarray, target: np.ndarray, side: int, trim: float = 0.1) -> Perspective:
    """The homography's gain over the affine fit of source onto target points (target pictures'
    pixels, `side` its longer side), leaving out the `trim` share of points the homography fits
    worst."""
    source = source.astype(np.float64)
    target = target.astype(np.float64)
    if len(source) < 10:
        return Perspective(0.0, 0.0)
    homography = _homography(source, target)
    if homography is None:
        return Perspective(0.0, 0.0)
    error = np.linalg.norm(_project(homography, source) - target, axis=1)
    keep = error <= np.quantile(error, 1.0 - trim)
    source, target = source[keep], target[keep]
    homography = _homography(source, target)
    if homography is None or len(source) < 8:
        return Perspective(0.0, 0.0)
    design = np.hstack([source, np.ones((len(source), 1))])
    affine, *_ = np.linalg.lstsq(design, target, rcond=None)
    by_affine, by_homography = design @ affine, _project(homography, source)
    affine_rss = float(((by_affine - target) ** 2).sum())
    homography_rss = float(((by_homography - target) ** 2).sum())
    variance = homography_rss / (2 * len(source) - 8)
    significance = (affine_rss - homography_rss) / 2 / max(variance, 1e-12)
    shift = float(np.sqrt(((by_affine - by_homography) ** 2).sum(axis=1).mean())) / side
    return Perspective(max(significance, 0.0), shift)
