"""Settings: one dataclass, filled from (lowest to highest precedence) its defaults, the user's
`lookalike.toml` (in $XDG_CONFIG_HOME/lookalike/, default ~/.config/lookalike/), the folder's
`lookalike.toml`, `LOOKALIKE_*` environment variables, and explicit values (command-line flags).

```toml
# lookalike.toml
model = "efficientnet-lite0"
device = "cpu"
precision = "fp32"
backend = "auto"  # auto: ONNX Runtime on a CPU (exported once into model_cache), torch on a GPU
batch_size = 64
workers = 2
max_megapixels = 50
recall = 0.99
home = "~/.cache/lookalike/libraries"
store = "postgresql://user@host/db"  # optional: libraries in PostgreSQL + pgvector
job_idle_seconds = 30  # serve: a heavy job nobody polled for this long is cancelled
engine = "ray"               # optional: `index` embeds on Ray Data (default: local)
ray_address = "ray://head:10001"  # optional: the Ray cluster (default: a local Ray)
model_cache = "~/.cache/lookalike/models"  # ONNX exports (default: $XDG_CACHE_HOME/lookalike/models)
```
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

CONFIG_NAME = "lookalike.toml"
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "int8")
BACKENDS = ("auto", "torch", "onnx")
ENVIRONMENT = {
    "model": "LOOKALIKE_MODEL",
    "device": "LOOKALIKE_DEVICE",
    "precision": "LOOKALIKE_PRECISION",
    "backend": "LOOKALIKE_BACKEND",
    "model_cache": "LOOKALIKE_MODEL_CACHE",
    "batch_size": "LOOKALIKE_BATCH_SIZE",
    "workers": "LOOKALIKE_WORKERS",
    "max_megapixels": "LOOKALIKE_MAX_MEGAPIXELS",
    "home": "LOOKALIKE_HOME",
    "recall": "LOOKALIKE_RECALL",
    "store": "LOOKALIKE_STORE",
    "job_idle_seconds": "LOOKALIKE_JOB_IDLE_SECONDS",
    "engine": "LOOKALIKE_ENGINE",
    "ray_address": "LOOKALIKE_RAY_ADDRESS",
}
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class Settings:
    """What every command and the service read; `None` means "not configured" (the model's own batch
    size, the default model or the library's, libraries inside their folders)."""

    model: str | None = None
    device: str = "auto"
    precision: str = "auto"
    backend: str = "auto"  # auto: ONNX Runtime on a CPU where the model exports, torch on a GPU
    batch_size: int | None = None
    workers: int = 0
    max_megapixels: float = 100.0
    home: Path | None = None
    recall: float = 0.99  # the similarity join's recall target (lookalike.join.JoinOptions.recall)
    store: str | None = None  # a postgresql:// URL: libraries live there instead of on disk
    job_idle_seconds: float = 30.0  # the web server cancels a heavy job nobody polled for this long
    engine: str = "local"  # who embeds during `index`: this process, or Ray Data (lookalike.scale)
    ray_address: str | None = None  # the Ray cluster (auto, ray://HOST:PORT); None: a local Ray
    model_cache: Path | None = None  # where ONNX exports are kept (None: $XDG_CACHE_HOME/lookalike/models)

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1e6)

    def embed_options(self) -> dict[str, Any]:
        """Keyword arguments for `create_embedder`."""
        options: dict[str, Any] = {"device": self.device, "precision": self.precision, "backend": self.backend}
        if self.model_cache is not None:
            options["cache_dir"] = self.model_cache
        return options

    def merged(self, values: Mapping[str, Any], source: str) -> Settings:
        """A copy with `values` (from `source`, named in errors) checked and applied; None values are skipped."""
        known = {f.name for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"unknown setting '{key}' (known: {', '.join(sorted(known))})", path=source)
            if value is not None:
                changes[key] = _checked(key, value, source)
        return dataclasses.replace(self, **changes)


def _checked(key: str, value: Any, source: str) -> Any:
    """`value` converted to the field's type, or a ConfigError naming the source and the key."""
    try:
        if key in ("batch_size", "workers"):
            number = int(value)
            if number < (1 if key == "batch_size" else 0) or isinstance(value, float) and value != number:
                raise ValueError(value)
            return number
        if key in ("max_megapixels", "job_idle_seconds"):
            positive = float(value)
            if not math.isfinite(positive) or positive <= 0:
                raise ValueError(value)
            return positive
        if key == "recall":
            recall = float(value)
            if not 0 <= recall <= 1:  # also refuses nan
                raise ValueError(value)
            return recall
        if key in ("home", "model_cache"):
            return Path(os.path.expanduser(str(value)))
        text = str(value).strip()
        if key == "store" and not text.startswith(("postgresql://", "postgres://")):
            raise ValueError(value)
        if key == "device" and not (text in DEVICES or text.startswith("cuda:")):
            raise ValueError(value)
        if key == "precision" and text not in PRECISIONS:
            raise ValueError(value)
        if (key == "engine" and text not in ENGINES) or (key == "backend" and text not in BACKENDS):
            raise ValueError(value)
        if not text:
            raise ValueError(value)
        return text
    except (TypeError, ValueError):
        expected = {"batch_size": "an integer >= 1", "workers": "an integer >= 0",
                    "max_megapixels": "a number > 0",
                    "job_idle_seconds": "a number > 0", "recall": "a number from 0 to 1",
                    "device": "auto, cpu, cuda or cuda:N",
                    "precision": "auto, fp32, bf16 or int8", "backend": "auto, torch or onnx",
                    "store": "a postgresql:// URL", "engine": "local or ray"}.get(key, "a non-empty text")
        raise ConfigError(f"{key} = {value!r} is not {expected}", path=source, setting=key) from None


def user_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The user's settings file ($XDG_CONFIG_HOME/lookalike/lookalike.toml)."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "lookalike" / CONFIG_NAME


def read_config(path: Path) -> dict[str, Any]:
    """A settings file's table (empty when the file does not exist)."""
    if not path.is_file():
        return {}
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"not a readable settings file ({exc})", path=path) from None
    return data.get("lookalike", data) if isinstance(data.get("lookalike"), dict) else data


def load_settings(folder: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None,
                  **explicit: Any) -> Settings:
    """Settings from defaults < user file < the folder's file < environment < `explicit` (None skipped)."""
    environ = os.environ if environ is None else environ
    settings = Settings().merged(read_config(user_config_path(environ)), str(user_config_path(environ)))
    if folder is not None and Path(folder).is_dir():
        local = Path(folder) / CONFIG_NAME
        settings = settings.merged(read_config(local), str(local))
    for key, variable in ENVIRONMENT.items():
        if environ.get(variable, "").strip():
            settings = settings.merged({key: environ[variable]}, variable)
    return settings.merged(explicit, "command line")
