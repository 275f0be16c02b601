"""The unsupervised baseline: a small convolutional autoencoder on 64x64 pixels whose bottleneck is
the embedding. Trained by `lookalike train --loss autoencoder`; used as `--model AE.pt`."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import ModelLoadError, display_path
from ..images import DecodeOptions
from .base import Embedder, EmbeddingSpec
from .headfile import load_head
from .preprocess import Preprocess, prepare_array

SIDE = 64
CHANNELS = (32, 64, 128, 128)


def pixel_preprocess(side: int = SIDE) -> Preprocess:
    """The autoencoder's input: squashed to a side x side square (bilinear), scaled to [0, 1]."""
    return Preprocess(size=(side, side), interpolation="bilinear", rescale=1 / 255)


def pixels(image: Image.Image, side: int = SIDE) -> torch.Tensor:
    """A picture as a (3, side, side) float tensor in [0, 1] (for training)."""
    return torch.from_numpy(prepare_array(image, pixel_preprocess(side)))


class ConvAutoencoder(torch.nn.Module):
    """Four stride-2 conv blocks (64 -> 4 px) and a linear bottleneck of `dim`; the decoder mirrors it."""

    def __init__(self, dim: int, side: int = SIDE) -> None:
        super().__init__()
        layers: list[torch.nn.Module] = []
        previous = 3
        for channels in CHANNELS:
            layers += [torch.nn.Conv2d(previous, channels, 3, stride=2, padding=1), torch.nn.BatchNorm2d(channels),
                       torch.nn.ReLU()]
            previous = channels
        self.cells = side // 2 ** len(CHANNELS)
        flat = previous * self.cells * self.cells
        self.encoder = torch.nn.Sequential(*layers, torch.nn.Flatten(), torch.nn.Linear(flat, dim))
        back: list[torch.nn.Module] = [torch.nn.Linear(dim, flat), torch.nn.ReLU(),
                                       torch.nn.Unflatten(1, (previous, self.cells, self.cells))]
        widths = list(reversed(CHANNELS))[1:] + [16]
        for channels in widths:
            back += [torch.nn.ConvTranspose2d(previous, channels, 4, stride=2, padding=1),
                     torch.nn.BatchNorm2d(channels), torch.nn.ReLU()]
            previous = channels
        back += [torch.nn.Conv2d(previous, 3, 3, padding=1), torch.nn.Sigmoid()]
        self.decoder = torch.nn.Sequential(*back)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        code = self.encoder(x)
        return code, self.decoder(code)


class AutoencoderEmbedder(Embedder):
    """The encoder half of a trained autoencoder head file."""

    def __init__(self, path: str | os.PathLike[str], name: str | None = None, **_options: Any) -> None:
        content = load_head(path)
        if content.get("kind") != "autoencoder":
            raise ModelLoadError(f"{display_path(path)}: a head file of kind {content.get('kind')!r}, "
                                 "not an autoencoder")
        self.side = int(content.get("side", SIDE))
        self.model = ConvAutoencoder(int(content["dim"]), self.side)
        self.model.load_state_dict(content["state"], strict=True)
        self.model.eval()
        self.preprocess = pixel_preprocess(self.side)
        digest = str(content["hash"])
        self.spec = EmbeddingSpec(
            model=name or os.fspath(path), source=f"autoencoder:{digest[:16]}", dim=int(content["dim"]),
            preprocessing=json.dumps({"resize": [self.side, self.side], "scale": "1/255"}), revision=digest[:16],
            extra={"family": "autoencoder", "head": digest, "path": str(Path(path).resolve())},
        )

    @property
    def decode_options(self) -> DecodeOptions:
        return DecodeOptions(draft_short_side=self.side)

    def prepare(self, image: Image.Image) -> np.ndarray:
        return prepare_array(image, pixel_preprocess(self.side))

    def _embed_prepared(self, items: Sequence[Any]) -> np.ndarray:
        with torch.inference_mode():
            return self.model.encoder(torch.from_numpy(np.stack(items))).numpy()

