"""Photo-level duplicate checks: an edited copy is confirmed and another shot of the same object is not
(real UKBench photos), and verdicts are kept in the store so a second run checks nothing again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from lookalike.dedupe.run import find_duplicates
from lookalike.dedupe.verifier import Verifier
from lookalike.dedupe.verify import VerifyOptions
from lookalike.embedders import create_embedder
from lookalike.store.library import Library
from lookalike.types import DuplicateOptions

pytest.importorskip("cv2")


def test_an_edited_copy_is_confirmed_and_another_shot_is_not(shared_data: Path, tmp_path: Path) -> None:
    from lookalike.dedupe.editset import edit

    images = shared_data / "ukbench-a" / "images"
    shots = [images / f"ukbench{n:05d}.jpg" for n in range(4)]  # one object, four shots
    with Image.open(shots[0]) as opened:
        original = opened.convert("RGB")
    rng = np.random.default_rng(0)
    copies = [tmp_path / "copy.jpg", tmp_path / "mirrored.jpg"]
    copies[0].write_bytes(edit(original, rng))
    copies[1].write_bytes(edit(original, rng, mirror=True))
    paths = shots + copies
    report = Verifier(paths).verify(np.array([0, 0, 0, 0, 4]), np.array([4, 5, 1, 2, 3]))
    assert report.confirmed(VerifyOptions()).tolist() == [True, True, False, False, False]


def _photos(folder: Path) -> None:
    from skimage import data

    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        photo = Image.fromarray(getattr(data, name)()).convert("RGB")
        photo.save(folder / f"{name}.jpg", quality=90)
        width, height = photo.size
        copy = photo.crop((width // 10, height // 12, width * 9 // 10, height * 7 // 8))
        copy = ImageEnhance.Contrast(copy.resize((copy.width * 3 // 5, copy.height * 3 // 5))).enhance(1.2)
        ImageOps.mirror(copy).save(folder / f"{name}_copy.jpg", quality=50)


def test_a_second_run_reuses_every_verdict(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    _photos(folder)
    library = Library.open(folder, model=create_embedder("histogram"), create=True)
    library.sync()
    options = DuplicateOptions(threshold=-1.0, neighbours=5)  # every neighbour is a candidate to check
    first = find_duplicates(library, options)
    assert first.stats.checked > 0 and first.stats.reused == 0
    assert sorted(sorted(p.name for p in g.members) for g in first.groups) == [
        [f"{name}.jpg", f"{name}_copy.jpg"] for name in ("astronaut", "chelsea", "coffee")]
    library.close()
    again = Library.open(folder, model=create_embedder("histogram"))
    second = find_duplicates(again, options)
    assert second.stats.checked == 0 and second.stats.check_images == 0  # nothing verified again
    assert second.stats.reused >= first.stats.checked
    assert [g.members for g in second.groups] == [g.members for g in first.groups]
    again.close()


def test_tiny_pictures_are_aligned_by_search(shared_data: Path, tmp_path: Path) -> None:
    """32x32 CIFAR-10 pictures have too few keypoints: an edited copy (about 16 px) is confirmed by the
    scale/shift/mirror search, another picture of the same class is not."""
    from lookalike.dedupe.editset import edit

    cats = sorted((shared_data / "cifar10-test" / "cat").glob("*.jpg"))[:3]
    with Image.open(cats[0]) as opened:
        picture = opened.convert("RGB")
    copy, mild = tmp_path / "copy.jpg", tmp_path / "mild.jpg"
    copy.write_bytes(edit(picture, np.random.default_rng(0), mirror=True))  # cropped too: about 16 px
    ImageEnhance.Brightness(ImageOps.mirror(picture).resize((19, 19))).enhance(1.2).save(mild, quality=60)
    report = Verifier([*cats, copy, mild]).verify(np.array([0, 0, 1, 0]), np.array([3, 1, 3, 4]))
    assert report.confirmed(VerifyOptions()).tolist() == [False, False, False, True]
    assert report.agreement[0] > 0.85 > max(report.agreement[1], report.agreement[2])  # the copy still ranks first
