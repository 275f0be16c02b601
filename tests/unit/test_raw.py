"""Camera RAW files through rawpy: a small DNG written by the test (a Bayer mosaic, with and without an
RGB preview) decodes to the preview when there is one and to LibRaw's half-size decode otherwise;
broken RAW files are one clear reason naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import ImageReadError
from lookalike.images import decode_image, find_images
from lookalike.raw import is_raw

pytest.importorskip("rawpy")
tifffile = pytest.importorskip("tifffile")

_DNG = [(50706, "B", 4, (1, 4, 0, 0), True), (50707, "B", 4, (1, 1, 0, 0), True),
        (50708, "s", 0, "Lookalike Test", True)]  # DNGVersion, DNGBackwardVersion, UniqueCameraModel
_CFA = [(33421, "H", 2, (2, 2), True), (33422, "B", 4, (0, 1, 1, 2), True),  # a 2x2 RGGB mosaic
        (50717, "I", 1, 4095, True),  # WhiteLevel
        (50721, "2i", 9, (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1), True)]  # ColorMatrix1 = I


def write_dng(path: Path, preview: bool, size: tuple[int, int] = (96, 64)) -> None:
    """A minimal DNG: a Bayer mosaic whose right half is darker; with `preview`, IFD0 is an RGB
    preview (green left quarter, black elsewhere) and the mosaic its SubIFD, as cameras write them."""
    width, height = size
    bayer = np.zeros((height, width), np.uint16)
    bayer[0::2, 0::2], bayer[0::2, 1::2], bayer[1::2, 0::2], bayer[1::2, 1::2] = 900, 500, 500, 200
    bayer[:, width // 2 :] //= 4
    with tifffile.TiffWriter(path) as tif:
        if preview:
            picture = np.zeros((height // 2, width // 2, 3), np.uint8)
            picture[:, : width // 4] = (0, 200, 0)
            tif.write(picture, photometric="rgb", subfiletype=1, subifds=1, extratags=_DNG)
            tif.write(bayer, photometric=32803, subfiletype=0, extratags=_CFA)
        else:
            tif.write(bayer, photometric=32803, subfiletype=0, extratags=_DNG + _CFA)


def test_a_dng_with_a_preview_gives_the_preview(tmp_path: Path) -> None:
    path = tmp_path / "shot.dng"
    write_dng(path, preview=True)
    picture, full = decode_image(path)
    pixels = np.asarray(picture)
    assert picture.mode == "RGB" and picture.size == (48, 32) and full == (96, 64)
    assert tuple(pixels[:, :20].mean(axis=(0, 1)).round()) == (0, 200, 0)  # the preview's green quarter
    assert pixels[:, 30:].max() == 0


def test_a_dng_without_a_preview_is_decoded_at_half_size(tmp_path: Path) -> None:
    path = tmp_path / "SHOT.DNG"  # extensions in any case
    write_dng(path, preview=False)
    picture, full = decode_image(path)
    pixels = np.asarray(picture).astype(float)
    assert picture.size == (48, 32) and full == (96, 64)
    assert pixels[:, :20].mean() > pixels[:, 28:].mean() + 50  # the mosaic's bright left half, demosaiced


@pytest.mark.parametrize("name, content", [("broken.cr2", b"not a raw file at all" * 20),
                                           ("truncated.dng", b"II*\x00\x08\x00\x00\x00" + b"\x00" * 30),
                                           ("empty.nef", b"")])
def test_a_broken_raw_file_is_one_reason_naming_it(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageReadError) as caught:
        decode_image(path)
    assert Path(caught.value.path) == path and "\n" not in str(caught.value)
    assert caught.value.reason in {"empty file (0 bytes)",
                                   "not a camera RAW file LibRaw can read (unsupported or corrupt)"} \
        or caught.value.reason.startswith("corrupt or truncated RAW data")


def test_raw_files_are_found_by_extension(tmp_path: Path) -> None:
    write_dng(tmp_path / "a.dng", preview=True)
    (tmp_path / "b.CR2").write_bytes(b"x" * 64)
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in find_images(tmp_path)] == ["a.dng", "b.CR2"]
    assert is_raw("x.ARW") and is_raw(Path("y.rw2")) and not is_raw("z.jpg")


def test_without_rawpy_a_raw_file_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "shot.dng"
    write_dng(path, preview=True)
    monkeypatch.setitem(__import__("sys").modules, "rawpy", None)  # as if the extra were not installed
    with pytest.raises(ImageReadError) as caught:
        decode_image(path)
    assert caught.value.reason == "reading camera RAW files needs rawpy: pip install 'lookalike[raw]'"
