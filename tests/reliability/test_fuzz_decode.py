"""Fuzzing the decoder: mutated JPEG, PNG, WebP, GIF and TIFF bytes (bit flips, truncation, inserted,
deleted and overwritten runs, patched header fields) must decode to an RGB picture or raise our own
`ImageReadError`; any other exception, or a hang, fails.

FUZZ_SECONDS (default 15, the quick form `make test` runs) bounds the run; `make stress` fuzzes for
120 s and `make fuzz` for 600 s (`make fuzz FUZZ_SECONDS=3600` longer still).
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lookalike.errors import ImageReadError
from lookalike.images import DecodeOptions, decode_image
from reliability.hostile_files import picture

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::RuntimeWarning")]
FUZZ_SECONDS = float(os.environ.get("FUZZ_SECONDS", "15"))
OPTIONS = DecodeOptions(draft_short_side=32, max_pixels=2_000_000)  # a mutated header cannot cost much


def _seed_files() -> dict[str, bytes]:
    base = picture(7, (40, 32))
    seeds = {}
    for fmt, params in [("JPEG", {"quality": 80}), ("PNG", {}), ("WEBP", {"quality": 70}), ("GIF", {}),
                        ("TIFF", {"compression": "tiff_deflate"})]:
        buffer = io.BytesIO()
        base.save(buffer, format=fmt, **params)
        seeds[fmt] = buffer.getvalue()
    frames = io.BytesIO()
    base.save(frames, format="GIF", save_all=True, append_images=[picture(8, (40, 32))], duration=20)
    seeds["GIF-animated"] = frames.getvalue()
    progressive = io.BytesIO()
    base.save(progressive, format="JPEG", progressive=True)
    seeds["JPEG-progressive"] = progressive.getvalue()
    return seeds


SEEDS = _seed_files()

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 20), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 20), st.integers(1, 64)),
    st.tuples(st.just("overwrite"), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("header"), st.integers(0, 63), st.sampled_from([0, 1, 0x7F, 0x80, 0xFF])),
)


def mutate(data: bytes, steps: list[tuple[str, int, object]]) -> bytes:
    out = bytearray(data)
    for kind, where, arg in steps:
        if not out:
            break
        at = where % len(out)
        if kind == "flip":
            out[at] ^= 1 << int(arg)  # type: ignore[call-overload]
        elif kind == "truncate":
            del out[at:]
        elif kind == "insert":
            out[at:at] = arg  # type: ignore[assignment]
        elif kind == "delete":
            del out[at : at + int(arg)]  # type: ignore[call-overload]
        elif kind == "overwrite":
            out[at : at + len(arg)] = arg  # type: ignore[arg-type]
        else:  # header: set one of the first 64 bytes (sizes, bit depths, chunk lengths live there)
            out[where % min(len(out), 64)] = int(arg)  # type: ignore[call-overload]
    return bytes(out)


def test_mutated_images_decode_or_raise_our_error(tmp_path: Path, stress) -> None:
    target = tmp_path / "fuzzed.img"
    outcomes = {"decoded": 0, "refused": 0}

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(sorted(SEEDS)), st.lists(mutation, min_size=1, max_size=6))
    def one_input(fmt: str, steps: list[tuple[str, int, object]]) -> None:
        target.write_bytes(mutate(SEEDS[fmt], steps))
        try:
            image, size = decode_image(target, OPTIONS)
        except ImageReadError as exc:
            assert exc.reason and "\n" not in str(exc)
            outcomes["refused"] += 1
            return
        assert image.mode == "RGB" and min(image.size) >= 1 and min(size) >= OPTIONS.min_side
        outcomes["decoded"] += 1

    started = time.monotonic()
    while time.monotonic() - started < FUZZ_SECONDS:
        one_input()
    stress.inputs += outcomes["decoded"] + outcomes["refused"]
    assert outcomes["refused"] > 0  # the mutations do reach the error paths
    if FUZZ_SECONDS >= 10:
        assert outcomes["decoded"] > 0  # and some mutated files still decode


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_every_seed_decodes(fmt: str, tmp_path: Path) -> None:
    (tmp_path / "seed").write_bytes(SEEDS[fmt])
    image, _ = decode_image(tmp_path / "seed", OPTIONS)
    assert image.mode == "RGB" and Image.open(tmp_path / "seed").format in fmt
