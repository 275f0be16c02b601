"""The photo-level check tells an edited copy (exactly a similarity transform of its original, whatever
the JPEG and colour changes) from another shot of the same scene taken from almost the same place (a
burst shot): the copy's keypoints fit the transform to about a pixel, while the other shot sees the
scene in a slightly different perspective, which no similarity removes."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from lookalike.dedupe.verifier import Verifier
from lookalike.dedupe.verify import VerifyOptions

cv2 = pytest.importorskip("cv2")


def _scene() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).convert("RGB").resize((480, 480))


def _seen_turned(picture: Image.Image, pixels: int) -> Image.Image:
    """The picture as a camera a little to the side sees it: its right edge `pixels` shorter at the top
    and at the bottom (a plane turned by a few degrees)."""
    side = picture.width
    corners = np.float32([[0, 0], [side, 0], [side, side], [0, side]])
    moved = np.float32([[0, 0], [side, pixels], [side, side - pixels], [0, side]])
    warp = cv2.getPerspectiveTransform(corners, moved)
    return Image.fromarray(cv2.warpPerspective(np.asarray(picture), warp, (side, side), borderMode=cv2.BORDER_REFLECT))


def test_a_shot_from_beside_is_not_confirmed_while_an_edited_copy_is(tmp_path: Path) -> None:
    first = _scene()
    copy = first.crop((30, 20, 450, 440)).resize((252, 252), Image.Resampling.BICUBIC)
    copy = ImageEnhance.Brightness(copy).enhance(1.15)
    paths = [tmp_path / "shot1.jpg", tmp_path / "copy.jpg", tmp_path / "shot2.jpg"]
    first.save(paths[0], quality=90)
    copy.save(paths[1], quality=45)
    _seen_turned(first, 16).save(paths[2], quality=90)
    pairs = np.array([0, 1, 0, 1]), np.array([1, 0, 2, 2])
    options = VerifyOptions()

    report = Verifier(paths, options).verify(*pairs)
    assert report.confirmed(options).tolist() == [True, True, False, False]

    # without the exact-fit limit (and the perspective check, test_dedupe_viewpoint.py) the other shot
    # passes both older tests (enough inliers spread over the picture, aligned pixels that agree as well
    # as an edited copy's may: NCC 0.95), so the limit is what rejects it
    loose = replace(options, max_error=float("inf"), max_perspective=float("inf"), min_agreement=0.95)
    before = Verifier(paths, loose).verify(*pairs)
    assert before.confirmed(loose).tolist() == [True, True, True, True]
    assert min(before.agreement) >= loose.min_agreement
    assert loose.method() != options.method()  # verdicts measured without the limit are not reused


def test_invariant_pixels_leave_a_caption_out(tmp_path: Path) -> None:
    """A rotated copy carrying a large caption: the plain NCC of the aligned pixels falls below the
    `--invariant` threshold, the trimmed one (the 10% of pixels that differ most left out) does not;
    the shot from beside still fails on its keypoints' fit."""
    from PIL import ImageDraw, ImageFont

    from lookalike.dedupe.run import INVARIANT_AGREEMENT, INVARIANT_TRIM

    first = _scene()
    copy = first.crop((100, 60, 400, 380)).resize((210, 224)).rotate(90, expand=True)
    font = ImageFont.load_default(size=copy.height // 3)
    ImageDraw.Draw(copy).text((4, copy.height // 3), "IMG_4821\n24.11.26", fill=(255, 255, 255), font=font,
                              stroke_width=2, stroke_fill=(0, 0, 0))
    paths = [tmp_path / "shot1.jpg", tmp_path / "copy.jpg", tmp_path / "shot2.jpg"]
    first.save(paths[0], quality=90)
    copy.save(paths[1], quality=50)
    _seen_turned(first, 16).save(paths[2], quality=90)
    pairs = np.array([0, 1, 0]), np.array([1, 0, 2])

    plain = VerifyOptions(min_agreement=INVARIANT_AGREEMENT)
    assert Verifier(paths, plain).verify(*pairs).confirmed(plain).tolist() == [False, False, False]
    trimmed = VerifyOptions(min_agreement=INVARIANT_AGREEMENT, trim=INVARIANT_TRIM)
    assert Verifier(paths, trimmed).verify(*pairs).confirmed(trimmed).tolist() == [True, True, False]
    assert plain.method() != trimmed.method()


def test_features_over_the_budget_are_read_back_never_computed_again(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Pairs in no useful order with a budget below one image's features: every image's keypoints are
    still found once (the rest are read back from the spill file), and the evidence is the same as
    with everything in memory."""
    from lookalike.dedupe import verifier

    scene = _scene()
    paths = []
    for n, box in enumerate([(0, 0, 480, 480), (20, 10, 460, 470), (40, 30, 420, 450), (10, 40, 470, 440)]):
        paths.append(tmp_path / f"p{n}.jpg")
        scene.crop(box).save(paths[-1], quality=80 - 10 * n)
    left = np.array([0, 1, 2, 3, 0, 2, 1, 3, 0, 3])
    right = np.array([1, 2, 3, 0, 2, 0, 3, 1, 3, 2])
    in_memory = Verifier(paths).verify(left, right)
    monkeypatch.setattr(verifier, "CHUNK", 2)
    monkeypatch.setattr(verifier, "CACHE_BYTES", 1)
    spill_dir = tmp_path / "library"  # where a library's run spills: its own folder, not a tmpfs
    spill_dir.mkdir()
    spilled = Verifier(paths, spill_dir=spill_dir)
    report = spilled.verify(left, right)
    assert spilled.computed == len(paths)
    if Path("/proc/self/fd").is_dir():  # the unlinked spill file is open in that folder
        assert any(os.readlink(f"/proc/self/fd/{fd}").startswith(f"{spill_dir}/") for fd in _open_fds())
    assert report.inliers.tolist() == in_memory.inliers.tolist()
    assert np.allclose(report.agreement, in_memory.agreement)
    assert report.confirmed(VerifyOptions()).all()


def test_a_copy_agrees_as_well_whichever_way_round_the_pair_comes(tmp_path: Path) -> None:
    """Pixels are compared in the frame where the overlap is larger (the crop's), so the order of the
    pair (the order of the file names in a run) no longer changes the agreement: the same thumbnails
    are compared, only the transform is estimated the other way round."""
    from lookalike.dedupe.features import load_features
    from lookalike.dedupe.verify import check_pair

    first = _scene()
    copy = first.crop((120, 90, 420, 390)).resize((180, 180), Image.Resampling.BICUBIC)
    first.save(tmp_path / "a.jpg", quality=90)
    copy.save(tmp_path / "b.jpg", quality=40)
    options = VerifyOptions()
    a, b = (load_features(tmp_path / name, options.features) for name in ("a.jpg", "b.jpg"))
    forth, back = check_pair(a, b, options), check_pair(b, a, options)
    assert forth.confirmed(options) and back.confirmed(options)
    assert abs(forth.agreement - back.agreement) < 0.001

    one_way = replace(options, larger_frame=False)  # always a's thumbnail onto b's, as before
    assert one_way.method() != options.method()
    assert check_pair(a, b, one_way).agreement == forth.agreement  # the crop's frame already
    assert abs(check_pair(b, a, one_way).agreement - forth.agreement) > 0.002  # the original's frame


def _open_fds() -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        found.append(fd)
    return found
