"""Export a torch embedder's towers to ONNX, once, and prove the export equal to torch before it is
used: every probe picture (and probe sentence) must give a vector at cosine >= PARITY_MIN to torch's,
or the export is refused with one line. Image tower: pixels -> raw vector (a trained head is folded
in: base vector, L2-normalised, through the head; padding computed from the input's shape is made
constant, see onnx_fold); text tower: token ids -> raw vector."""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import ModelLoadError
from .base import Embedder, l2_normalize
from .onnx_cache import IMAGE_FILE, TEXT_FILE, ExportMeta, file_sha256, replace_folder
from .onnx_fold import fold_shape_pads
from .onnx_runtime import open_session
from .text_tokens import TextTokens, tokenizer_settings

PARITY_MIN = 0.9999
OPSET = 17
PROBE_SENTENCES = ["a photo of a dog", "Two CATS, sleeping on a red sofa!", "x",
                   "the quick brown fox jumps over the lazy dog " * 12]


def probe_images() -> list[Image.Image]:
    """Deterministic pictures of a few sizes and kinds: smooth gradients, blocks and noise."""
    rng = np.random.default_rng(20261207)
    pictures = []
    for width, height in ((320, 240), (200, 300), (256, 256), (97, 61)):
        y, x = np.mgrid[0:height, 0:width]
        base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=2)
        base += rng.normal(0, 20, base.shape)
        for _ in range(5):
            x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
            base[y0:y0 + height // 3, x0:x0 + width // 3] = rng.integers(0, 256, 3)
        pictures.append(Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)))
    return pictures


def torch_image_forward(embedder: Embedder, pixels: torch.Tensor) -> torch.Tensor:
    """The raw image vector as torch computes it (the graph that is exported)."""
    from .autoencoder import AutoencoderEmbedder
    from .head import HeadEmbedder

    if isinstance(embedder, AutoencoderEmbedder):
        return embedder.model.encoder(pixels)
    if isinstance(embedder, HeadEmbedder):
        base = torch.nn.functional.normalize(torch_image_forward(embedder.base, pixels), dim=1)
        return embedder.head(base)
    return embedder._forward_images(pixels)  # type: ignore[attr-defined]


def _torch_modules(embedder: Embedder) -> list[torch.nn.Module]:
    found = [value for value in vars(embedder).values() if isinstance(value, torch.nn.Module)]
    base = getattr(embedder, "base", None)
    return found + (_torch_modules(base) if isinstance(base, Embedder) else [])


def _text_model(embedder: Embedder) -> Embedder | None:
    """The embedder whose transformers model and tokenizer make text vectors (a head's base)."""
    base = getattr(embedder, "base", None)
    if isinstance(base, Embedder):
        return _text_model(base)
    return embedder if getattr(embedder, "tokenizer", None) is not None else None


class _Tower(torch.nn.Module):
    """A callable made into a module whose parameters are the embedder's, for the exporter."""

    def __init__(self, forward: Callable[..., torch.Tensor], modules: list[torch.nn.Module]) -> None:
        super().__init__()
        self.parts = torch.nn.ModuleList(modules)
        self.call = forward

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.call(*inputs)


def _export(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], names: list[str], target: Path,
            dynamic: dict[str, dict[int, str]]) -> None:
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), inputs, str(target), input_names=names, output_names=["vectors"],
                          dynamic_axes={**dynamic, "vectors": {0: "batch"}}, opset_version=OPSET, dynamo=False)


def _min_cosine(reference: np.ndarray, got: np.ndarray) -> float:
    return float(np.min(np.sum(l2_normalize(reference) * l2_normalize(got), axis=1)))


def _refuse(name: str, what: str, cosine: float) -> ModelLoadError:
    return ModelLoadError(f"model '{name}': its ONNX {what} export differs from torch (cosine {cosine:.6f} < "
                          f"{PARITY_MIN}); use --backend torch", export=True)


def _export_images(embedder: Embedder, folder: Path, name: str) -> tuple[float, list[int]]:
    items = [embedder.prepare(picture) for picture in probe_images()]
    batch = torch.from_numpy(np.stack(items).astype(np.float32))
    tower = _Tower(lambda pixels: torch_image_forward(embedder, pixels), _torch_modules(embedder))
    _export(tower, (batch[:2],), ["pixel_values"], folder / IMAGE_FILE, {"pixel_values": {0: "batch"}})
    fold_shape_pads(folder / IMAGE_FILE, batch.numpy())  # before the parity check, which then covers it
    reference = embedder.embed_prepared(items)
    session = open_session(folder / IMAGE_FILE)
    got = session.run(None, {"pixel_values": batch.numpy()})[0]
    cosine = _min_cosine(reference, got)
    if not cosine >= PARITY_MIN:
        raise _refuse(name, "image", cosine)
    return cosine, list(batch.shape[1:])


def _export_text(embedder: Embedder, folder: Path, name: str) -> tuple[float, dict[str, Any]] | None:
    """The text tower and its tokenizer, or None where the tokenizer cannot be reproduced without
    transformers (text queries then load the torch model)."""
    model = _text_model(embedder)
    if model is None or not embedder.supports_text:
        return None
    settings = tokenizer_settings(model, folder, PROBE_SENTENCES)
    if settings is None:
        return None
    tokens = TextTokens(folder, settings)(PROBE_SENTENCES)
    names = list(tokens)
    inner: Any = model.model  # type: ignore[attr-defined]

    def forward(*inputs: torch.Tensor) -> torch.Tensor:
        from .hf import _features

        vectors = _features(inner.get_text_features(**dict(zip(names, inputs, strict=True))))
        if embedder is not model:
            vectors = torch_text_head(embedder, vectors)
        return vectors

    example = tuple(torch.from_numpy(tokens[key][:2]) for key in names)
    _export(_Tower(forward, _torch_modules(embedder)), example, names, folder / TEXT_FILE,
            {key: {0: "batch", 1: "tokens"} for key in names})
    reference = embedder.embed_texts(PROBE_SENTENCES)
    got = open_session(folder / TEXT_FILE).run(None, tokens)[0]
    cosine = _min_cosine(reference, got)
    if not cosine >= PARITY_MIN:
        raise _refuse(name, "text", cosine)
    return cosine, settings


def torch_text_head(embedder: Embedder, vectors: torch.Tensor) -> torch.Tensor:
    """A head's base text vectors through the head, as `HeadEmbedder.embed_texts` does."""
    return embedder.head(torch.nn.functional.normalize(vectors, dim=1))  # type: ignore[attr-defined]


def export_embedder(embedder: Embedder, folder: Path, name: str, fingerprint: str) -> ExportMeta:
    """Export `embedder` (fp32, on the CPU) into `folder`, replacing what is there, after its parity
    check; the sidecar records what it was made from. Raises ModelLoadError when it cannot be made."""
    if embedder.preprocess is None:
        raise ModelLoadError(f"model '{name}': its preprocessing is not described as data, so it cannot run "
                             "without torch; use --backend torch", export=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    staging.chmod(0o755)  # readable like the rest of the cache (mkdtemp makes it private)
    try:
        try:
            image_cosine, shape = _export_images(embedder, staging, name)
            text = _export_text(embedder, staging, name)
        except ModelLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - the exporter fails in many ways; one line says so
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise ModelLoadError(f"model '{name}': ONNX export failed ({first}); use --backend torch",
                                 export=True) from None
        parity = {"images": round(image_cosine, 7)}
        if text is not None:
            parity["texts"] = round(text[0], 7)
        files = sorted(p.name for p in staging.iterdir() if p.suffix in (".onnx", ".json", ".model"))
        meta = ExportMeta(
            model=name, precision="fp32", fingerprint=fingerprint, spec=_spec_dict(embedder),
            preprocess=_preprocess_dict(embedder), input_shape=shape,
            draft_short_side=embedder.decode_options.draft_short_side, batch_size=embedder.default_batch_size,
            files={file: file_sha256(staging / file) for file in files}, parity=parity,
            text=text[1] if text is not None else None, supports_text=embedder.supports_text, versions=_versions(),
        )
        meta.write(staging)
        replace_folder(staging, folder)
    finally:
        if staging.exists():
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
    return meta


def _spec_dict(embedder: Embedder) -> dict[str, Any]:
    import json

    return dict(json.loads(embedder.spec.to_json()))


def _preprocess_dict(embedder: Embedder) -> dict[str, Any]:
    from dataclasses import asdict

    assert embedder.preprocess is not None
    return asdict(embedder.preprocess)


def _versions() -> dict[str, str]:
    import onnxruntime

    return {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__}
