"""`--finetune-last N`: train the last N blocks of a torch backbone together with the head.

This needs the images (prepared once, kept in memory) and a backbone pass per batch, so it is slow
on a CPU and meant for a GPU. The blocks are found by name: the transformer layers of a
transformers vision tower, or timm's `blocks` / `stages` / `layers` (ResNet's `layer1..4`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..embedders.base import Embedder
from ..errors import InvalidArgumentError, LookalikeError

_BLOCK_PATHS = (
    "vision_model.encoder.layers",  # SigLIP / CLIP (transformers)
    "encoder.layers", "encoder.layer",  # ViT, DINOv2 (transformers)
    "blocks", "stages", "layers",  # timm ViT / EfficientNet / ConvNeXt / Swin
)


def _resolve(module: torch.nn.Module, path: str) -> torch.nn.Module | None:
    for part in path.split("."):
        module = getattr(module, part, None)  # type: ignore[assignment]
        if module is None:
            return None
    return module


def find_blocks(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """The backbone's blocks, in order, with their state-dict prefixes."""
    for path in _BLOCK_PATHS:
        found = _resolve(model, path)
        if isinstance(found, torch.nn.ModuleList | torch.nn.Sequential) and len(found) > 1:
            return [(f"{path}.{i}", block) for i, block in enumerate(found)]
    resnet = [(name, getattr(model, name)) for name in ("layer1", "layer2", "layer3", "layer4")
              if isinstance(getattr(model, name, None), torch.nn.Module)]
    if len(resnet) > 1:
        return resnet
    raise LookalikeError(f"cannot find the blocks of {type(model).__name__} to fine-tune; "
                         "only transformers and timm backbones can be fine-tuned")


class BackboneFeatures:
    """Features from the embedder's model with its last `count` blocks trainable."""

    def __init__(self, embedder: Embedder, items: Sequence[Any], count: int, chunk: int = 32) -> None:
        model = getattr(embedder, "model", None)
        forward = getattr(embedder, "_forward_images", None)
        if not isinstance(model, torch.nn.Module) or forward is None:
            raise LookalikeError(f"model '{embedder.spec.model}' is not a torch backbone; only transformers "
                                 "and timm models can be fine-tuned")
        if next(model.parameters()).dtype != torch.float32:
            raise LookalikeError("fine-tuning needs the base model in fp32 precision")
        blocks = find_blocks(model)
        if not 1 <= count <= len(blocks):
            raise InvalidArgumentError(f"finetune_last must be between 1 and {len(blocks)} (the blocks of "
                                       f"'{embedder.spec.model}'), not {count}", argument="finetune_last")
        self.embedder, self.model, self.items, self.chunk = embedder, model, list(items), chunk
        self.trained = blocks[-count:]
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        self._parameters = [p for _, block in self.trained for p in block.parameters()]
        for parameter in self._parameters:
            parameter.requires_grad_(True)

    def _forward(self, positions: np.ndarray) -> torch.Tensor:
        from ..embedders.torch_base import collate

        embedder: Any = self.embedder
        batch = embedder._to_device(collate([self.items[int(i)] for i in positions]))
        return F.normalize(embedder._forward_images(batch).float(), dim=1).cpu()

    def parameters(self) -> list[torch.nn.Parameter]:
        return self._parameters

    def batch(self, positions: np.ndarray) -> torch.Tensor:
        return self._forward(positions)

    def embed(self, positions: np.ndarray) -> np.ndarray:
        rows = []
        with torch.no_grad():
            for start in range(0, len(positions), self.chunk):
                rows.append(self._forward(positions[start : start + self.chunk]).numpy())
        return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)

    def state(self) -> dict[str, torch.Tensor]:
        """The trained blocks' weights, keyed as in the model's state dict."""
        return {f"{prefix}.{key}": value.detach().clone()
                for prefix, block in self.trained for key, value in block.state_dict().items()}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        if state:
            self.model.load_state_dict(state, strict=False)
