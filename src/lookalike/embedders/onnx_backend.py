"""Which backend runs a model, and the ONNX side of that choice: `auto` runs ONNX Runtime on a CPU
wherever the model's export exists or can be made (torch on a GPU), `onnx` insists on it, `torch` never
uses it. An export is found and checked without importing torch; only a missing, stale or corrupt one
loads the torch model, to export it again (see onnx_cache, onnx_export)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError, ModelLoadError
from ..extras import installed
from ..system import nvidia_gpu_present
from .base import Embedder
from .onnx_cache import check_export, export_dir, export_lock, model_cache_dir, weights_fingerprint

log = logging.getLogger(__name__)
BACKENDS = ("auto", "torch", "onnx")


def _wants_gpu(device: str | None) -> bool:
    if device in (None, "auto"):
        return nvidia_gpu_present()
    return str(device).startswith("cuda")


def choose_backend(backend: str, device: str | None, precision: str) -> str:
    """"torch" or "onnx" for a request (a usage error where the two cannot be combined)."""
    if backend not in BACKENDS:
        raise InvalidArgumentError(f"backend '{backend}': use auto, torch or onnx", argument="backend")
    if precision == "int8":
        if backend == "torch":
            raise InvalidArgumentError("int8 runs on ONNX Runtime: use --backend onnx or auto with --precision int8",
                                       argument="precision")
        return "onnx"
    if backend == "onnx":
        if precision == "bf16":
            raise InvalidArgumentError("ONNX Runtime runs fp32 or int8 here: use --precision fp32/int8, or "
                                       "--backend torch for bf16", argument="precision")
        if str(device).startswith("cuda"):
            raise InvalidArgumentError("the ONNX backend runs on the CPU: use --device cpu, or --backend torch on "
                                       "a GPU", argument="backend")
        return "onnx"
    if backend == "torch" or precision == "bf16" or _wants_gpu(device) or not onnx_installed():
        return "torch"
    return "onnx"


def onnx_installed() -> bool:
    """Whether this install has what running and making exports needs (the `onnx` extra): without it,
    `auto` is torch, with no export attempted and no warning on every run."""
    return installed("onnxruntime") and installed("onnx")


def _int8_refusal(name: str, reason: str) -> ModelLoadError:
    return ModelLoadError(
        f"model '{name}': --precision int8 refused: {reason}; measure it with `lookalike quantize -m {name} "
        "LABELLED_FOLDER` (it needs recall@10 against fp32 >= 0.99 and N-S within 0.02)", int8=True)


def onnx_embedder(name: str, source: str, build_torch: Callable[..., Embedder], precision: str,
                  strict: bool, cache_dir: str | Path | None = None, base_source: str | None = None) -> Embedder:
    """The model `name` on ONNX Runtime: its export at `precision` ("int8", else fp32) when whole and
    current, else exported now from `build_torch(device="cpu", precision="fp32")`. Where no export can
    be made, `strict` (backend onnx) raises; otherwise the torch embedder is returned."""
    from .onnx_runtime import OnnxEmbedder

    wanted = "int8" if precision == "int8" else "fp32"
    cache = model_cache_dir(cache_dir)
    fingerprint = weights_fingerprint(source, base_source)
    torch_text = _text_fallback(build_torch)
    if fingerprint is not None:
        folder = export_dir(cache, name, wanted)
        meta, why = check_export(folder, name, wanted, fingerprint)
        if meta is not None and wanted == "int8":
            quantization = meta.quantization or {}
            if not quantization.get("allowed"):
                raise _int8_refusal(name, str(quantization.get("reason", "its measurement did not pass")))
        if meta is not None:
            return OnnxEmbedder(folder, meta, torch_text if meta.supports_text and meta.text is None else None)
        if wanted == "int8":
            raise _int8_refusal(name, "no int8 measurement for it" if why == "missing" else f"int8 export {why}")
        if why != "missing":
            print(f"lookalike: the ONNX export of '{name}' is {why}; exporting it again", file=sys.stderr)
    elif wanted == "int8":
        raise _int8_refusal(name, "its weights are not on this machine")
    built = build_torch(device="cpu", precision="fp32")
    if fingerprint is None:
        fingerprint = weights_fingerprint(source, base_source)
    if fingerprint is None:
        if strict:
            raise ModelLoadError(f"model '{name}': its weights cannot be identified on disk, so it has no ONNX "
                                 "export; use --backend torch", export=True)
        return built
    folder = export_dir(cache, name, "fp32")
    try:
        with export_lock(folder):
            meta, _ = check_export(folder, name, "fp32", fingerprint)  # another process may have made it
            if meta is None:
                from .onnx_export import export_embedder

                meta = export_embedder(built, folder, name, fingerprint)
    except ModelLoadError:
        if strict:
            raise
        log.warning("model %s: no ONNX export, running on torch", name)
        return built
    text = built if built.supports_text and meta.text is None else None
    return OnnxEmbedder(folder, meta, (lambda: text) if text is not None else None)


def _text_fallback(build_torch: Callable[..., Embedder]) -> Callable[[], Embedder]:
    def build() -> Embedder:
        return build_torch(device="cpu", precision="fp32")

    return build


def unwrap_options(options: dict[str, Any]) -> tuple[str, str | Path | None, dict[str, Any]]:
    """(backend, cache_dir, the options a torch embedder takes) from `create_embedder`'s options."""
    rest = dict(options)
    backend = str(rest.pop("backend", None) or "torch")
    cache_dir = rest.pop("cache_dir", None)
    return backend, cache_dir, rest
