"""Safe decoding: every kind of bad or unusual file gets a clear reason or the right pixels."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import ImageReadError, LookalikeError
from lookalike.images import DecodeOptions, decode_image, find_images, load_image, sniff_image_type


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height, with a tiny (invalid) body: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def _reason(path: Path, **options: int) -> str:
    with pytest.raises(ImageReadError) as caught:
        load_image(path, DecodeOptions(**options) if options else None)
    assert caught.value.path == os.fspath(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))
    return caught.value.reason


def test_zero_byte_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert "empty file" in _reason(empty)


def test_truncated_jpeg(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)).save(buffer, "JPEG")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert "truncated" in _reason(broken)


def test_text_file_named_jpg(tmp_path: Path) -> None:
    fake = tmp_path / "notes.jpg"
    fake.write_text("this is not a picture\n")
    assert "not an image" in _reason(fake)


def test_one_pixel_image_is_too_small(tmp_path: Path) -> None:
    tiny = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), "red").save(tiny)
    assert "1x1" in _reason(tiny)


def test_decompression_bomb_header(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 20000, 20000)
    reason = _reason(bomb)
    assert "pixels" in reason or "MP" in reason


def test_pixel_limit_is_configurable(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.new("RGB", (400, 300)).save(big)
    from lookalike.cli.errors import with_hint

    assert "above the limit of 0 MP" in _reason(big, max_pixels=100_000)
    with pytest.raises(ImageReadError) as caught:
        load_image(big, DecodeOptions(max_pixels=100_000))
    assert caught.value.details == {"limit": "max_pixels"}
    assert with_hint(caught.value).endswith("raise the limit with --max-megapixels")
    assert load_image(big, DecodeOptions(max_pixels=200_000)).size == (400, 300)


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(path, "JPEG")  # pure red in CMYK
    picture = load_image(path)
    assert picture.mode == "RGB"
    red, green, blue = picture.getpixel((20, 15))
    assert red > 200 and green < 60 and blue < 60


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (16, 1))
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    picture = np.asarray(load_image(path))
    assert picture[0, 0, 0] == 0 and picture[0, -1, 0] == 255
    assert 100 < picture[0, 32, 0] < 155  # mid-grey, where Pillow's plain convert would give 255


def test_palette_png_with_transparency_is_composited_on_white(tmp_path: Path) -> None:
    path = tmp_path / "palette.png"
    image = Image.new("P", (20, 20), 0)
    image.putpalette([0, 0, 0] + [255, 0, 0] * 255)
    image.paste(1, (0, 0, 10, 20))
    image.info["transparency"] = 0
    image.save(path, transparency=0)
    picture = load_image(path)
    assert picture.getpixel((15, 10)) == (255, 255, 255)  # transparent black -> white
    assert picture.getpixel((5, 10)) == (255, 0, 0)


def test_rgba_alpha_is_composited_on_white(tmp_path: Path) -> None:
    path = tmp_path / "alpha.png"
    Image.new("RGBA", (16, 16), (0, 0, 255, 0)).save(path)
    assert load_image(path).getpixel((8, 8)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    stored = Image.new("RGB", (80, 40), (0, 0, 0))
    stored.paste((255, 255, 255), (0, 0, 40, 40))  # left half white as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    stored.save(path, exif=exif.tobytes(), quality=95)
    upright = load_image(path)
    assert upright.size == (40, 80)
    assert sum(upright.getpixel((20, 10))) > 600  # white now on top
    assert sum(upright.getpixel((20, 70))) < 150


def test_greyscale_and_gif_first_frame(tmp_path: Path) -> None:
    grey = tmp_path / "grey.png"
    Image.new("L", (20, 20), 128).save(grey)
    assert load_image(grey).getpixel((1, 1)) == (128, 128, 128)
    gif = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (20, 20), c) for c in ("red", "blue")]
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    red, _, blue = load_image(gif).getpixel((5, 5))
    assert red > 200 and blue < 50


def test_draft_mode_decodes_large_jpeg_near_target(tmp_path: Path) -> None:
    path = tmp_path / "large.jpg"
    Image.new("RGB", (2400, 1600), "green").save(path)
    picture = load_image(path, DecodeOptions(draft_short_side=224))
    assert 224 <= min(picture.size) < 448
    assert load_image(path).size == (2400, 1600)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_a_large_png_is_reduced_before_its_colour_conversion(tmp_path: Path, mode: str) -> None:
    """What draft mode does for JPEG, for formats decoded in full: a whole-factor reduction that keeps
    the short side at least 4x the model's, turned by EXIF, close to the full decode scaled down."""
    rng = np.random.default_rng(5)
    blocks = rng.integers(0, 256, (18, 24, 3), dtype=np.uint8)
    stored = Image.fromarray(blocks).resize((2400, 1800), Image.Resampling.BILINEAR).convert(mode)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter: portrait
    path = tmp_path / "large.png"
    stored.save(path, exif=exif.tobytes())
    picture, full_size = decode_image(path, DecodeOptions(draft_short_side=224))
    assert full_size == (1800, 2400) and picture.mode == "RGB"
    assert picture.size == (900, 1200)  # reduced twice (1800 // (4 x 224)), portrait
    reference = load_image(path).resize(picture.size, Image.Resampling.BOX)  # the full decode, scaled down
    assert reference.size == picture.size
    difference = np.abs(np.asarray(picture, np.int16) - np.asarray(reference, np.int16))
    assert difference.mean() < 1.0
    assert load_image(path, DecodeOptions(draft_short_side=500)).size == (1800, 2400)  # no whole factor fits


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "locked.jpg"
    Image.new("RGB", (20, 20)).save(path)
    path.chmod(0)
    try:
        assert "permission denied" in _reason(path)
    finally:
        path.chmod(0o644)


def test_non_utf8_file_name_is_found_decoded_and_printable(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9.png"
    with open(raw, "wb") as handle:
        Image.new("RGB", (20, 20), "blue").save(handle, "PNG")
    found = find_images(tmp_path)
    assert len(found) == 1
    assert load_image(found[0]).getpixel((0, 0)) == (0, 0, 255)
    broken = os.fsencode(tmp_path) + b"/bad\xff.jpg"
    with open(broken, "wb") as handle:
        handle.write(b"nope")
    error = next(e for e in _errors(find_images(tmp_path)))
    assert "bad\ufffd.jpg" in str(error)
    str(error).encode("utf-8")  # printable


def _errors(paths: list[Path]) -> list[ImageReadError]:
    errors = []
    for path in paths:
        try:
            load_image(path)
        except ImageReadError as exc:
            errors.append(exc)
    return errors


def test_find_images_sniffs_content_and_skips_library_state(tmp_path: Path) -> None:
    Image.new("RGB", (20, 20)).save(tmp_path / "no_extension", "PNG")
    (tmp_path / "readme.txt").write_text("hello")
    (tmp_path / "broken.jpg").write_text("not really")
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (20, 20)).save(tmp_path / "sub" / "pic.webp")
    (tmp_path / ".lookalike").mkdir()
    Image.new("RGB", (20, 20)).save(tmp_path / ".lookalike" / "thumb.png")
    names = [p.relative_to(tmp_path).as_posix() for p in find_images(tmp_path)]
    assert names == ["broken.jpg", "no_extension", "sub/pic.webp"]
    assert sniff_image_type(tmp_path / "no_extension") == "png"
    assert sniff_image_type(tmp_path / "readme.txt") is None


def test_find_images_on_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(LookalikeError, match="no such file or folder"):
        find_images(tmp_path / "nope")


def test_permission_error_is_reported_when_running_as_root(tmp_path: Path, monkeypatch) -> None:
    """Root reads chmod 000 files, so simulate the kernel's answer for the same code path."""
    path = tmp_path / "locked.jpg"
    Image.new("RGB", (20, 20)).save(path)

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Image, "open", denied)
    assert _reason(path) == "permission denied"


def test_heic_is_found_and_decoded_when_pillow_heif_is_installed(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(tmp_path / "phone_photo", format="HEIF", quality=95)
    assert sniff_image_type(tmp_path / "phone_photo") == "heic"
    assert find_images(tmp_path) == [tmp_path / "phone_photo"]
    red, green, blue = load_image(tmp_path / "phone_photo").getpixel((5, 5))
    assert green > 180 and red < 40 and blue < 50


def test_bytes_and_file_objects_decode_like_the_file(tmp_path: Path) -> None:
    """Uploads take the same safe path as files: same pixels, same errors, named as given."""
    import io

    from lookalike.images import decode_image

    target = tmp_path / "photo.jpg"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(target, quality=90)
    from_file, size = decode_image(target)
    from_bytes, bytes_size = decode_image(target.read_bytes())
    with open(target, "rb") as handle:
        from_handle, _ = decode_image(handle)
    assert size == bytes_size == (40, 30)
    assert np.array_equal(np.asarray(from_file), np.asarray(from_bytes))
    assert np.array_equal(np.asarray(from_file), np.asarray(from_handle))
    with pytest.raises(ImageReadError) as caught:
        decode_image(b"not an image at all", name="upload.jpg")
    assert str(caught.value) == "upload.jpg: not an image (unrecognised format)"
    with pytest.raises(ImageReadError, match="<upload>: truncated or corrupt"):
        decode_image(target.read_bytes()[:200])
    with pytest.raises(ImageReadError, match="empty file"):
        decode_image(io.BytesIO(b"").getvalue())


def test_pipeline_reports_progress_through_a_callback(image_folder: Path) -> None:
    from lookalike.embedders import create_embedder
    from lookalike.images import find_images
    from lookalike.pipeline import PipelineOptions, embed_paths

    calls: list[tuple[int, int]] = []
    paths = find_images(image_folder)
    options = PipelineOptions(batch_size=4, progress=lambda done, total: calls.append((done, total)))
    embed_paths(create_embedder("histogram"), paths, options)
    assert calls == [(4, 6), (6, 6)]
