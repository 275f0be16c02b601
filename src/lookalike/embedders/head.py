"""A trained projection head stacked on a base model: `create_embedder("path/to/head.pt")`.

The head maps the base model's unit vectors to `dim` dimensions: a linear projection (initialised
from the training vectors' principal components, so training starts from a sensible place) plus a
small MLP whose output layer starts at zero. Vectors stay L2-normalised. A head trained with
`--finetune-last N` also carries the last N blocks of the base backbone, loaded over the base weights.
The spec names the base model and the head's content hash, so a library built with one head refuses
another head or the bare base.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import ModelLoadError, display_path
from ..images import DecodeOptions
from .base import Embedder, EmbeddingSpec, l2_normalize
from .headfile import load_head


class ProjectionHead(torch.nn.Module):
    """`linear(x) + mlp(x)`: an affine projection with a learned non-linear correction."""

    def __init__(self, in_dim: int, dim: int, hidden: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(in_dim, dim)
        last = torch.nn.Linear(hidden, dim)
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(in_dim, hidden), torch.nn.GELU(), last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.mlp(x)

    def init_projection(self, vectors: np.ndarray, seed: int = 0) -> None:
        """Make the linear part the centred PCA of `vectors`: their mean subtracted, then projected on
        their top principal directions (random ones fill in when there are fewer samples than
        output dimensions). Centring alone lifts retrieval of post-ReLU features."""
        dim, in_dim = self.linear.weight.shape
        mean = vectors.mean(axis=0, keepdims=True)
        centred = vectors - mean
        _, _, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
        rows = vt[:dim]
        if len(rows) < dim:
            extra = np.random.default_rng(seed).standard_normal((dim - len(rows), in_dim)) / np.sqrt(in_dim)
            rows = np.vstack([rows, extra])
        with torch.no_grad():
            self.linear.weight.copy_(torch.as_tensor(rows, dtype=torch.float32))
            self.linear.bias.copy_(torch.as_tensor(-(rows @ mean[0]), dtype=torch.float32))


def build_head(content: dict[str, Any]) -> ProjectionHead:
    """The head module of a loaded head file, weights in place, in eval mode."""
    head = ProjectionHead(int(content["in_dim"]), int(content["dim"]), int(content["hidden"]))
    head.load_state_dict(content["state"], strict=True)
    return head.eval()


def load_backbone_blocks(module: torch.nn.Module, blocks: dict[str, torch.Tensor], shown: str) -> None:
    """Load fine-tuned backbone parameters over `module`'s own (every name must exist there)."""
    own = module.state_dict()
    unknown = [name for name in blocks if name not in own]
    if unknown:
        raise ModelLoadError(f"{shown}: its fine-tuned blocks do not fit the base model ({unknown[0]})")
    module.load_state_dict(blocks, strict=False)


class HeadEmbedder(Embedder):
    """The base embedder's vectors through a trained head. `create_base(name, **options)` makes the
    base model the head file names (the registry passes its `create_embedder`; this module does not
    import the registry, which imports it)."""

    def __init__(self, path: str | os.PathLike[str], create_base: Callable[..., Embedder],
                 name: str | None = None, **options: Any) -> None:
        shown = display_path(path)
        content = load_head(path)
        if content.get("kind") != "projection":
            raise ModelLoadError(f"{shown}: a head file of kind {content.get('kind')!r}, not a projection head")
        self.content = content
        base_name = str(content["base_model"])
        if content.get("backbone"):
            options = {**options, "precision": "fp32"}  # fine-tuned weights are fp32
        self.base = create_base(base_name, **options)
        expected = EmbeddingSpec.from_dict(content["base_spec"])
        if self.base.spec.identity() != expected.identity():
            raise ModelLoadError(
                f"{shown}: trained on model '{expected.model}' ({expected.source}), but '{base_name}' now "
                f"loads as {self.base.spec.source}; the head must be trained again on it"
            )
        if content.get("backbone"):
            load_backbone_blocks(self.base.model, content["backbone"], shown)  # type: ignore[attr-defined]
        self.head = build_head(content)
        self.supports_text = self.base.supports_text
        self.preprocess = self.base.preprocess
        self.default_batch_size = self.base.default_batch_size
        digest = str(content["hash"])
        self.spec = EmbeddingSpec(
            model=name or os.fspath(path),
            source=f"{self.base.spec.source}+head:{digest[:16]}",
            dim=int(content["dim"]),
            preprocessing=self.base.spec.preprocessing,
            revision=digest[:16],
            extra={"family": "head", "base": self.base.spec.model, "head": digest, "loss": content.get("loss"),
                   "path": str(Path(path).resolve())},
        )

    @property
    def decode_options(self) -> DecodeOptions:
        return self.base.decode_options

    def prepare(self, image: Image.Image) -> Any:
        return self.base.prepare(image)

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """Base-model unit vectors through the head (unnormalised)."""
        with torch.inference_mode():
            return self.head(torch.as_tensor(np.asarray(vectors, np.float32))).numpy()

    def _embed_prepared(self, items: Sequence[Any]) -> np.ndarray:
        return self.project(self.base.embed_prepared(items))

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        return self.project(self.base.embed_texts(texts))

    def embed_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Unit vectors for base-model vectors that are already computed (a library's, say)."""
        return l2_normalize(self.project(vectors))
