"""An edited copy moves its keypoints by an affine map at most; another shot from almost the same place
sees the scene in another perspective, which a homography fits better. The check rejects the shot
even where its keypoints fit a similarity closely enough to pass the exact-fit limit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from lookalike.dedupe.verifier import Verifier
from lookalike.dedupe.verify import VerifyOptions
from lookalike.dedupe.viewpoint import perspective

cv2 = pytest.importorskip("cv2")


def _scene() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).convert("RGB").resize((480, 480))


def _seen_turned(picture: Image.Image, pixels: int) -> Image.Image:
    """The picture as a camera a little to the side sees it: its right edge `pixels` shorter at the top
    and at the bottom (a plane turned by a degree or so)."""
    side = picture.width
    corners = np.float32([[0, 0], [side, 0], [side, side], [0, side]])
    moved = np.float32([[0, 0], [side, pixels], [side, side - pixels], [0, side]])
    warp = cv2.getPerspectiveTransform(corners, moved)
    return Image.fromarray(cv2.warpPerspective(np.asarray(picture), warp, (side, side), borderMode=cv2.BORDER_REFLECT))


def test_points_moved_by_an_affine_map_show_no_perspective_a_turned_plane_does() -> None:
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 320, (200, 2))
    affine = source @ np.array([[0.6, 0.01], [-0.02, 0.61]]).T + [12.0, -7.0]  # resized, a little skewed
    noise = rng.normal(0, 0.4, source.shape)  # keypoints found to about half a pixel
    copy = perspective(source, affine + noise, 320)
    assert copy.significance < 15 and copy.shift < 0.0008
    assert not copy.another_shot(15.0, 0.0008)

    homography = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [3e-5, 1e-5, 1.0]])  # a plane turned slightly
    moved = np.hstack([source, np.ones((200, 1))]) @ homography.T
    shot = perspective(source, moved[:, :2] / moved[:, 2:] + noise, 320)
    assert shot.significance > 50 and shot.shift > 0.0008
    assert shot.another_shot(15.0, 0.0008)
    assert perspective(source[:5], affine[:5], 320).significance == 0.0  # too few points to tell


def test_a_slightly_turned_shot_that_fits_a_similarity_is_not_confirmed(tmp_path: Path) -> None:
    first = _scene()
    copy = first.crop((30, 20, 450, 440)).resize((252, 252), Image.Resampling.BICUBIC)
    copy = ImageEnhance.Brightness(copy).enhance(1.15).rotate(90, expand=True)
    paths = [tmp_path / "shot1.jpg", tmp_path / "copy.jpg", tmp_path / "shot2.jpg"]
    first.save(paths[0], quality=90)
    copy.save(paths[1], quality=45)
    _seen_turned(first, 3).save(paths[2], quality=90)  # 3 px at 480: about 1.3 px at the keypoints' 320
    pairs = np.array([0, 1, 0, 2]), np.array([1, 0, 2, 0])
    options = VerifyOptions()

    report = Verifier(paths, options).verify(*pairs)
    assert report.confirmed(options).tolist() == [True, True, False, False]

    # without the perspective check the turned shot passes everything else: the exact-fit limit and
    # aligned pixels that agree as well as a copy's
    without = replace(options, max_perspective=float("inf"))
    before = Verifier(paths, without).verify(*pairs)
    assert before.confirmed(without).tolist() == [True, True, True, True]
    assert min(before.agreement[2:]) >= 0.99
    assert without.method() != options.method()  # verdicts measured without the check are not reused
