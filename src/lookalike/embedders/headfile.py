"""The head file: a trained projection head or autoencoder saved by `lookalike train`.

It is `torch.save` of a plain dict (strings, numbers, lists, dicts and tensors only), so it loads
with `torch.load(weights_only=True)` and never unpickles a class. The dict carries what produced it
(base model spec, loss, dims, training set size, validation figures) and a content hash over all of
that plus the weights; the hash is checked on load, so a damaged file is refused, and it names the
head in the `EmbeddingSpec` of every vector made with it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError

FORMAT = "lookalike-head"
VERSION = 1
TENSOR_KEYS = ("state", "backbone")  # dicts of name -> tensor; everything else is JSON-like metadata


def content_hash(content: dict[str, Any]) -> str:
    """SHA-256 over the metadata (as canonical JSON) and every tensor's dtype, shape and bytes."""
    import torch

    digest = hashlib.sha256()
    meta = {k: v for k, v in content.items() if k not in (*TENSOR_KEYS, "hash")}
    digest.update(json.dumps(meta, sort_keys=True, default=str).encode())
    for group in TENSOR_KEYS:
        for name in sorted(content.get(group) or {}):
            tensor = content[group][name].detach().cpu().contiguous()
            digest.update(f"{group}/{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def save_head(content: dict[str, Any], path: str | os.PathLike[str]) -> str:
    """Write `content` (with format, version and hash filled in) to `path` atomically; returns the hash."""
    import torch

    target = Path(path)
    if target.suffix != ".pt":
        raise ModelLoadError("a head file name must end in .pt", path=target)
    content = {**content, "format": FORMAT, "version": VERSION}
    content.pop("hash", None)
    content["hash"] = content_hash(content)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.tmp")
    torch.save(content, temp)
    os.replace(temp, target)
    return str(content["hash"])


def load_head(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked content of a head file; a missing, foreign or damaged file is a one-line error."""
    import pickle
    import zipfile

    import torch

    source = Path(path)
    if not source.is_file():
        raise ModelLoadError("no such head file (train one with `lookalike train`)", path=source)
    try:
        content = torch.load(source, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile,
            AttributeError, KeyError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0][:120]
        raise ModelLoadError(f"not a readable head file ({first})", path=source) from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ModelLoadError(f"not a lookalike head file (no '{FORMAT}' marker)", path=source)
    if content.get("version") != VERSION:
        raise ModelLoadError(f"head file version {content.get('version')!r} is not supported "
                             f"(this lookalike reads version {VERSION})", path=source)
    try:
        actual = content_hash(content)
    except (AttributeError, TypeError, RuntimeError) as exc:
        raise ModelLoadError(f"damaged head file ({type(exc).__name__})", path=source) from None
    if actual != content.get("hash"):
        raise ModelLoadError("damaged head file (content hash does not match)", path=source)
    return content


def is_head_name(name: str) -> bool:
    """Whether a model name refers to a head file (a path ending in .pt)."""
    return name.endswith(".pt")
