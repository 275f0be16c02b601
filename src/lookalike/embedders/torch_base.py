"""Shared machinery for PyTorch embedders: device, precision, threads, channels-last, batching."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import InvalidArgumentError
from ..system import available_cores
from .base import Embedder, Precision


def limit_torch_threads(threads: int | None = None) -> None:
    """Cap torch's intra-op threads at `threads` (default: the cores this process may use; torch
    counts the machine's). Process-wide, so the CLI or the service calls it once, never an embedder."""
    wanted = threads or available_cores()
    if torch.get_num_threads() > wanted:
        torch.set_num_threads(wanted)


def resolve_device(device: str | None) -> torch.device:
    """`None`/"auto" picks CUDA when present, else the CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidArgumentError(f"'{device}' is not a device: use auto, cpu, cuda or cuda:N",
                                   argument="device") from None
    if chosen.type == "cuda" and (chosen.index or 0) >= (torch.cuda.device_count() if torch.cuda.is_available() else 0):
        raise InvalidArgumentError(f"device '{device}': this machine has no such CUDA GPU; use cpu or auto",
                                   argument="device")
    return chosen


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bf16 arithmetic is native here (AVX512-BF16/AMX on CPU, Ampere+ on CUDA)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def resolve_precision(precision: Precision, device: torch.device, allowed: bool = True) -> torch.dtype:
    """The compute dtype: bf16 for "auto" where it is native and the model allows it, else fp32."""
    if precision == "fp32" or not allowed:
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if bf16_is_fast(device) else torch.float32


def _stack(values: Sequence[Any]) -> torch.Tensor:
    if isinstance(values[0], torch.Tensor):
        return torch.stack(list(values))
    return torch.from_numpy(np.stack(values))


def collate(items: Sequence[Any]) -> Any:
    """Stack prepared items (numpy arrays, as `prepare_array` makes them, or tensors) into one batch
    tensor; dicts of them key by key."""
    first = items[0]
    if isinstance(first, dict):
        return {key: _stack([item[key] for item in items]) for key in first}
    return _stack(items)


class TorchEmbedder(Embedder):
    """An embedder whose model is a `torch.nn.Module` run in inference mode."""

    channels_last: bool = False
    model: Any  # the placed torch.nn.Module (typed loosely: transformers/timm outputs vary)

    def __init__(self, device: str | None = None, precision: Precision = "auto", allow_bf16: bool = True):
        self.device = resolve_device(device)
        self.dtype = resolve_precision(precision, self.device, allow_bf16)

    def _place(self, module: torch.nn.Module) -> torch.nn.Module:
        """Move the model to the device and compute dtype, in eval mode."""
        module = module.eval().to(self.device)
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        if self.dtype != torch.float32:
            module = module.to(self.dtype)
        return module

    def _to_device(self, batch: Any) -> Any:
        if isinstance(batch, dict):
            return {key: self._to_device(value) for key, value in batch.items()}
        if batch.is_floating_point():
            batch = batch.to(self.device, dtype=self.dtype)
            if self.channels_last and batch.dim() == 4:
                batch = batch.contiguous(memory_format=torch.channels_last)
            return batch
        return batch.to(self.device)

    def _run(self, forward: Callable[[Any], torch.Tensor], batch: Any) -> np.ndarray:
        with torch.inference_mode():
            output = forward(self._to_device(batch))
        return output.float().cpu().numpy()

    def _embed_prepared(self, items: Sequence[Any]) -> np.ndarray:
        return self._run(self._forward_images, collate(items))

    def _forward_images(self, batch: Any) -> torch.Tensor:
        raise NotImplementedError
