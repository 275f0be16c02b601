"""Hugging Face transformers models: SigLIP, SigLIP 2, CLIP (image + text), ViT, DINOv2 and any
`save_pretrained` directory. Loading is the model's own (`AutoModel`, `AutoImageProcessor`,
`AutoTokenizer`); the image processor is turned into a `Preprocess` applied in PIL + numpy, equal to
the processor's output (processors it does not describe are run as they are). Weights load from
safetensors only: a directory holding only pickled checkpoints is refused, as unpickling can run code."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from ..errors import ModelLoadError
from ..images import DecodeOptions
from .base import EmbeddingSpec, Precision
from .hub import cache_first
from .preprocess import from_hf_processor, prepare_array
from .torch_base import TorchEmbedder

Pooling = Literal["auto", "pooler", "cls", "mean"]
_DUAL_TOWER_TYPES = frozenset({"siglip", "siglip2", "clip"})
_PICKLED = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
_SAFETENSORS_HINT = "save it with safetensors (save_pretrained(..., safe_serialization=True))"


def _refuse_pickles(folder: Path, label: str) -> None:
    """A model folder whose weights exist only as pickles is refused before anything unpickles them."""
    if any(folder.glob("*.safetensors")):
        return
    pickled = sorted({found.name for pattern in _PICKLED for found in folder.glob(pattern)})
    if pickled:
        raise ModelLoadError(f"model {label}: pickled checkpoint {pickled[0]} refused (it could run code); "
                             f"{_SAFETENSORS_HINT}")


def _features(output: Any) -> torch.Tensor:
    """`get_*_features` returns a tensor in transformers 4.x and a model output in 5.x."""
    if isinstance(output, torch.Tensor):
        return output
    return output.pooler_output


def _as_dict(value: Any) -> dict[str, Any]:
    """Image-processor sizes are dicts in transformers 4.x and `SizeDict` objects in 5.x."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    return {k: getattr(value, k, None) for k in ("height", "width", "shortest_edge")}


def _short_side(processor: Any) -> int | None:
    sizes = (_as_dict(getattr(processor, "size", None)), _as_dict(getattr(processor, "crop_size", None)))
    sides = [v for d in sizes for k, v in d.items() if k in {"height", "width", "shortest_edge"} and v]
    return int(max(sides)) if sides else None


def _describe(processor: Any) -> str:
    keys = ("do_center_crop", "resample", "image_mean", "image_std", "rescale_factor")
    described = {k: getattr(processor, k, None) for k in keys}
    described.update(size=_as_dict(getattr(processor, "size", None)),
                     crop_size=_as_dict(getattr(processor, "crop_size", None)))
    return json.dumps(described, sort_keys=True, default=str)


def _local_revision(path: Path) -> str | None:
    """A fingerprint of a local model directory's config, so retrained weights make a new spec."""
    config = path / "config.json"
    if not config.is_file():
        return None
    weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
    digest = hashlib.sha256(config.read_bytes())
    for weight in weights:
        stat = weight.stat()
        digest.update(f"{weight.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


class HFEmbedder(TorchEmbedder):
    """A transformers vision model, with its text tower when it has one (SigLIP, CLIP)."""

    def __init__(
        self,
        source: str | os.PathLike[str],
        name: str | None = None,
        pooling: Pooling = "auto",
        revision: str | None = None,
        device: str | None = None,
        precision: Precision = "auto",
    ) -> None:
        super().__init__(device=device, precision=precision)
        from transformers import AutoConfig, AutoImageProcessor, AutoModel

        self.source = os.fspath(source)
        local = Path(self.source).is_dir()
        label = name or self.source
        where = "directory" if local else "Hugging Face model"
        if local:
            _refuse_pickles(Path(self.source), label)

        def load(local_only: bool) -> tuple[Any, Any, Any]:
            return (
                AutoConfig.from_pretrained(self.source, revision=revision, local_files_only=local_only),
                AutoImageProcessor.from_pretrained(self.source, revision=revision, local_files_only=local_only),
                AutoModel.from_pretrained(self.source, revision=revision, local_files_only=local_only),
            )

        def unavailable() -> ModelLoadError:
            return ModelLoadError(
                f"cannot load model '{label}' ({where} {self.source}): its weights are not in the local "
                "cache and the hub cannot be reached", offline=True,
            )

        try:
            config, self.processor, model = cache_first(load, unavailable)
        except pickle.UnpicklingError:
            raise ModelLoadError(f"model {label} ({where} {self.source}): pickled checkpoint refused (it could "
                                 f"run code); {_SAFETENSORS_HINT}") from None
        except (OSError, ValueError, KeyError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(
                f"cannot load model '{label}' ({where} {self.source}): {first_line[:200]}", offline=True,
            ) from None
        self.model_type = str(config.model_type)
        self.preprocess = from_hf_processor(self.processor)
        self.model = self._place(model)
        self.dual_tower = self.model_type in _DUAL_TOWER_TYPES
        self.pooling = pooling
        self.tokenizer = self._load_tokenizer(revision) if self.dual_tower else None
        self.supports_text = self.tokenizer is not None
        dim = self._probe_dim()
        self.spec = EmbeddingSpec(
            model=label,
            source=str(Path(self.source).resolve()) if local else self.source,
            dim=dim,
            preprocessing=_describe(self.processor),
            revision=_local_revision(Path(self.source)) if local else revision,
            extra={"family": self.model_type, "pooling": pooling},
        )

    def _load_tokenizer(self, revision: str | None) -> Any:
        from transformers import AutoTokenizer

        def load(local_only: bool) -> Any:
            return AutoTokenizer.from_pretrained(self.source, revision=revision, local_files_only=local_only)

        try:  # the same cache-first path as the weights: a model fetched from the hub keeps its text tower
            return cache_first(load, lambda: OSError("no tokenizer"))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _probe_dim(self) -> int:
        probe = Image.new("RGB", (32, 32), (127, 127, 127))
        return int(self._embed_prepared([self.prepare(probe)]).shape[1])

    @property
    def decode_options(self) -> DecodeOptions:
        return DecodeOptions(draft_short_side=_short_side(self.processor))

    def prepare(self, image: Image.Image) -> np.ndarray | dict[str, np.ndarray]:
        """The pixel values (CHW float32); a processor `Preprocess` does not describe gives its own dict."""
        if self.preprocess is not None:
            return prepare_array(image, self.preprocess)
        inputs = self.processor(images=[image], return_tensors="np")
        return {key: np.asarray(value[0]) for key, value in inputs.items()}

    def _forward_images(self, batch: Any) -> torch.Tensor:
        if isinstance(batch, torch.Tensor):
            batch = {"pixel_values": batch}
        if self.dual_tower:
            return _features(self.model.get_image_features(**batch))
        output = self.model(**batch)
        pooled = getattr(output, "pooler_output", None)
        if self.pooling == "mean":
            return output.last_hidden_state.mean(dim=1)
        if self.pooling == "cls" or (self.pooling == "auto" and pooled is None):
            return output.last_hidden_state[:, 0]
        return torch.as_tensor(pooled)

    def _embed_texts(self, texts: list[str]) -> Any:
        assert self.tokenizer is not None
        padding: bool | str = "max_length" if self.model_type.startswith("siglip") else True
        max_length = getattr(self.model.config.text_config, "max_position_embeddings", 64)
        tokens = self.tokenizer(
            texts, padding=padding, truncation=True, max_length=max_length, return_tensors="pt"
        )
        return self._run(lambda batch: _features(self.model.get_text_features(**batch)), dict(tokens))
