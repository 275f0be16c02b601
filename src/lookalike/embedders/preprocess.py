"""Preprocessing as data: how a picture becomes a model's input array, in PIL + numpy only.

A `Preprocess` says what a model's own processor or transform does (resize, centre crop, rescale,
normalise); `prepare_array` applies it. It is derived from a transformers image processor
(`from_hf_processor`) or from timm's data config (`from_timm_config`) and gives the same numbers as
they do (tests/unit/test_preprocess.py), so every backend (PyTorch today, ONNX Runtime next) shares
one preprocessing path and no torch import is needed to turn a file into model input.

Two conventions are replicated exactly, as they differ in the last bit:
- "torchvision": torchvision's transforms on PIL images (timm, our autoencoder): PIL's resize, the
  crop offset rounded, `(x / 255 - mean) / std`.
- "transformers": transformers' torchvision image processors: torch's uint8 antialiased resize
  (int16 fixed-point weights, `resize_u8` below), the crop offset floored, and rescale fused into
  normalisation `(x - mean / rescale) / (std / rescale)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from PIL import Image

Interpolation = Literal["bicubic", "bilinear"]
Convention = Literal["torchvision", "transformers"]
Triple = tuple[float, float, float]

_PIL_FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
_HF_RESAMPLE: dict[int, Interpolation] = {3: "bicubic", 2: "bilinear"}  # PIL resample codes in processor configs
_HF_CLASSES = frozenset({"SiglipImageProcessor", "CLIPImageProcessor", "ViTImageProcessor", "BitImageProcessor"})


@dataclass(frozen=True)
class Preprocess:
    """One model's input preparation.

    `size` resizes to exactly (height, width); `shortest_edge` instead scales the short side to that
    many pixels, keeping the aspect ratio (long side truncated, as torchvision and transformers do).
    `crop` then takes the centre (height, width). Pixels are scaled by `rescale` (1/255) and
    normalised by `mean`/`std` per channel (None: not normalised). The array is float32, in `layout`.
    """

    size: tuple[int, int] | None = None
    shortest_edge: int | None = None
    crop: tuple[int, int] | None = None
    interpolation: Interpolation = "bicubic"
    rescale: float | None = 1 / 255
    mean: Triple | None = None
    std: Triple | None = None
    convention: Convention = "torchvision"
    layout: Literal["CHW", "HWC"] = "CHW"

    def __post_init__(self) -> None:
        if self.size is not None and self.shortest_edge is not None:
            raise ValueError("a Preprocess resizes to `size` or to `shortest_edge`, not both")
        if (self.mean is None) != (self.std is None):
            raise ValueError("a Preprocess needs both mean and std, or neither")

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """(height, width) of the array for a `width` x `height` picture."""
        if self.crop is not None:
            return self.crop
        return self.resized_size(width, height)

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """(height, width) after the resize step."""
        if self.size is not None:
            return self.size
        if self.shortest_edge is not None:
            short, long = (width, height) if width <= height else (height, width)
            new_long = int(self.shortest_edge * long / short)
            return (new_long, self.shortest_edge) if width <= height else (self.shortest_edge, new_long)
        return height, width


def prepare_array(image: Image.Image, pre: Preprocess) -> np.ndarray:
    """`image` as the model's float32 input array (CHW unless `pre.layout` says HWC)."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    height, width = pre.resized_size(image.width, image.height)
    if pre.convention == "transformers":
        pixels = resize_u8(np.asarray(image), height, width, pre.interpolation)
    else:
        if (width, height) != image.size:
            image = image.resize((width, height), _PIL_FILTERS[pre.interpolation])
        pixels = np.asarray(image)
    if pre.crop is not None:
        pixels = _centre_crop(pixels, pre.crop, floor=pre.convention == "transformers")
    array = _normalise(pixels, pre)
    return np.ascontiguousarray(array.transpose(2, 0, 1)) if pre.layout == "CHW" else array


def _centre_crop(pixels: np.ndarray, crop: tuple[int, int], floor: bool) -> np.ndarray:
    """The centre `crop` (height, width) of an HWC array, zero-padded first where it is smaller."""
    crop_h, crop_w = crop
    height, width = pixels.shape[:2]
    if crop_h > height or crop_w > width:
        top, left = max(crop_h - height, 0) // 2, max(crop_w - width, 0) // 2
        padded = np.zeros((max(height, crop_h), max(width, crop_w), pixels.shape[2]), pixels.dtype)
        padded[top : top + height, left : left + width] = pixels
        pixels, height, width = padded, padded.shape[0], padded.shape[1]
    offset: Callable[[float], int] = int if floor else round
    top, left = offset((height - crop_h) / 2.0), offset((width - crop_w) / 2.0)
    return pixels[top : top + crop_h, left : left + crop_w]


def _normalise(pixels: np.ndarray, pre: Preprocess) -> np.ndarray:
    """uint8 HWC pixels as rescaled, normalised float32, in the convention's arithmetic order."""
    x = pixels.astype(np.float32)
    if pre.convention == "transformers":
        if pre.mean is not None and pre.std is not None:
            factor = 1.0 / pre.rescale if pre.rescale else 1.0
            mean = np.asarray(pre.mean, np.float32) * np.float32(factor)
            std = np.asarray(pre.std, np.float32) * np.float32(factor)
            return (x - mean) / std
        return x * np.float32(pre.rescale) if pre.rescale else x
    if pre.rescale:
        x = x / np.float32(round(1.0 / pre.rescale))
    if pre.mean is not None and pre.std is not None:
        mean, std = np.array(pre.mean, np.float32), np.array(pre.std, np.float32)
        x = (x - mean) / std
    return x


# torch's uint8 antialiased resize (aten/src/ATen/native/cpu/UpSampleKernel.cpp, which
# transformers' torchvision backend uses for bicubic, and for bilinear on AVX2/ARM CPUs): the
# PIL-style filter weights computed in float64, rounded to int16 at the largest precision the
# biggest weight allows, an integer dot product per output pixel, width first, then height.

def _cubic(x: np.ndarray) -> np.ndarray:
    a = -0.5
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def _linear(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1.0, 1.0 - x, 0.0)


_FILTERS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "bicubic": (_cubic, 2.0), "bilinear": (_linear, 1.0),
}


def _u8_taps(n_in: int, n_out: int, interpolation: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Source indices (n_out, taps), int16-valued weights (n_out, taps) and their precision in bits."""
    kernel, radius = _FILTERS[interpolation]
    scale = n_in / n_out
    support = radius * scale if scale >= 1.0 else radius
    taps = int(math.ceil(support)) * 2 + 1
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    centre = scale * (np.arange(n_out) + 0.5)
    first = np.maximum((centre - support + 0.5).astype(np.int64), 0)
    count = np.clip(np.minimum((centre + support + 0.5).astype(np.int64), n_in) - first, 0, taps)
    j = np.arange(taps)
    used = j[None, :] < count[:, None]
    weights = np.where(used, kernel(((j[None, :] + first[:, None]) - centre[:, None] + 0.5) * invscale), 0.0)
    total = np.cumsum(weights, axis=1)[:, -1]  # summed left to right, as the C loop does
    nonzero = total != 0.0
    weights[nonzero] /= total[nonzero, None]
    top = float(weights[nonzero].max()) if nonzero.any() else 0.0
    precision = 0
    while precision < 22 and int(0.5 + top * (1 << (precision + 1))) < (1 << 15):
        precision += 1
    scaled = weights * (1 << precision)
    quantised = np.where(scaled < 0, np.trunc(scaled - 0.5), np.trunc(scaled + 0.5)).astype(np.int64)
    index = np.minimum(first[:, None] + j[None, :], n_in - 1)
    return index, quantised, precision


def _u8_rows(pixels: np.ndarray, n_out: int, interpolation: str) -> np.ndarray:
    """Axis 0 of a contiguous (rows, columns, channels) uint8 array resized to `n_out` rows."""
    index, weights, precision = _u8_taps(pixels.shape[0], n_out, interpolation)
    total = np.full((n_out, *pixels.shape[1:]), 1 << precision >> 1, np.int32)  # + half, to round
    term = np.empty_like(total)
    columns = weights.astype(np.int32)[:, :, None, None]
    for tap in range(index.shape[1]):
        np.multiply(pixels[index[:, tap]], columns[:, tap], out=term, dtype=np.int32)
        total += term
    np.right_shift(total, precision, out=total)
    return np.clip(total, 0, 255).astype(np.uint8)


def resize_u8(pixels: np.ndarray, height: int, width: int, interpolation: str = "bicubic") -> np.ndarray:
    """An HWC uint8 array resized as torch resizes uint8 images (antialiased), bit for bit."""
    if pixels.shape[1] != width:
        turned = np.ascontiguousarray(pixels.transpose(1, 0, 2))
        pixels = np.ascontiguousarray(_u8_rows(turned, width, interpolation).transpose(1, 0, 2))
    if pixels.shape[0] != height:
        pixels = _u8_rows(np.ascontiguousarray(pixels), height, interpolation)
    return pixels


def _hw(value: Any) -> dict[str, Any]:
    """A processor's size as a dict (plain dicts in transformers 4.x, `SizeDict` objects in 5.x)."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    return {k: getattr(value, k, None) for k in ("height", "width", "shortest_edge", "longest_edge")}


def from_hf_processor(processor: Any) -> Preprocess | None:
    """The `Preprocess` equal to a transformers image processor's own, or None where this module does
    not replicate it (another class or backend, padding, a size rule other than exact / shortest edge):
    such models keep their processor."""
    names = {cls.__name__ for cls in type(processor).__mro__}
    if type(processor).__name__ not in _HF_CLASSES or "TorchvisionBackend" not in names:
        return None
    resample = getattr(processor, "resample", 2)
    interpolation = _HF_RESAMPLE.get(resample) if isinstance(resample, int) else None
    if interpolation is None or getattr(processor, "do_pad", False):
        return None
    exact = shortest = None
    if getattr(processor, "do_resize", False):
        size = _hw(processor.size)
        if size.get("height") and size.get("width"):
            exact = (int(size["height"]), int(size["width"]))
        elif size.get("shortest_edge") and not size.get("longest_edge"):
            shortest = int(size["shortest_edge"])
        else:
            return None
    crop = None
    if getattr(processor, "do_center_crop", False):
        crop_size = _hw(processor.crop_size)
        crop = (int(crop_size["height"]), int(crop_size["width"]))
    normalise = bool(getattr(processor, "do_normalize", False))
    rescale = float(processor.rescale_factor) if getattr(processor, "do_rescale", False) else None
    return Preprocess(
        size=exact, shortest_edge=shortest, crop=crop, interpolation=interpolation, rescale=rescale,
        mean=_triple(processor.image_mean) if normalise else None,
        std=_triple(processor.image_std) if normalise else None, convention="transformers",
    )


def from_timm_config(config: Mapping[str, Any]) -> Preprocess | None:
    """The `Preprocess` equal to timm's eval transform for a data config (`resolve_data_config`), or None
    for what it does not replicate (crop modes other than centre and squash, non-square centre crops)."""
    _, height, width = config["input_size"]
    interpolation = config.get("interpolation", "bilinear")
    crop_pct = config.get("crop_pct") or 0.875
    mode = config.get("crop_mode") or "center"
    if interpolation not in ("bicubic", "bilinear") or config.get("crop_border_pixels"):
        return None
    scaled = (math.floor(height / crop_pct), math.floor(width / crop_pct))
    common = Preprocess(crop=(height, width), interpolation="bicubic" if interpolation == "bicubic" else "bilinear",
                        rescale=1 / 255, mean=_triple(config["mean"]), std=_triple(config["std"]))
    if mode == "squash":
        return replace(common, size=scaled)
    if mode == "center" and scaled[0] == scaled[1]:
        return replace(common, shortest_edge=scaled[0])
    return None


def _triple(values: Any) -> Triple:
    floats = [float(v) for v in (values if isinstance(values, (list, tuple)) else [values] * 3)]
    if len(floats) != 3:
        raise ValueError(f"expected 3 channel values, got {len(floats)}")
    return floats[0], floats[1], floats[2]
