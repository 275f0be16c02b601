"""An embedder that runs a model's ONNX export with ONNX Runtime on the CPU: PIL + numpy preprocessing,
the `tokenizers` package for text, and no torch, timm or transformers import. Sessions open on first
use (one per tower, shared by every thread) with as many threads as the cores this process may use."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import ModelLoadError
from ..extras import require
from ..images import DecodeOptions
from ..system import available_cores
from .base import Embedder, EmbeddingSpec
from .onnx_cache import IMAGE_FILE, TEXT_FILE, ExportMeta
from .preprocess import Preprocess, prepare_array
from .text_tokens import TextTokens


def open_session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session for `path`, with intra-op threads = the usable cores."""
    ort = require("onnxruntime", "onnx", "the ONNX backend")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or available_cores()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ModelLoadError(f"ONNX Runtime cannot load this export ({str(exc).splitlines()[0][:160]})",
                             path=path) from None


class OnnxEmbedder(Embedder):
    """A model's export (see onnx_cache), run by ONNX Runtime. `text_fallback` builds an embedder for
    text queries when the export holds no text tower (its tokenizer could not be reproduced)."""

    backend = "onnx"

    def __init__(self, folder: Path, meta: ExportMeta, text_fallback: Callable[[], Embedder] | None = None) -> None:
        self.folder = folder
        self.meta = meta
        self.spec = EmbeddingSpec.from_dict(meta.spec)
        pre = dict(meta.preprocess)
        for key in ("size", "crop", "mean", "std"):
            if pre.get(key) is not None:
                pre[key] = tuple(pre[key])
        self.preprocess = self.pixels = Preprocess(**pre)
        self.default_batch_size = meta.batch_size
        self.supports_text = meta.text is not None or text_fallback is not None
        self._text_fallback = text_fallback
        self._fallback: Embedder | None = None
        self._sessions: dict[str, Any] = {}
        self._tokens: TextTokens | None = None
        self._lock = threading.Lock()

    @property
    def decode_options(self) -> DecodeOptions:
        return DecodeOptions(draft_short_side=self.meta.draft_short_side)

    def _session(self, file: str) -> Any:
        with self._lock:
            if file not in self._sessions:
                self._sessions[file] = open_session(self.folder / file)
            return self._sessions[file]

    def warm(self) -> None:
        """Open the sessions now (a server does this once, before its first request)."""
        self._session(IMAGE_FILE)
        if self.meta.text is not None:
            self._session(TEXT_FILE)

    def prepare(self, image: Image.Image) -> np.ndarray:
        return prepare_array(image, self.pixels)

    def _embed_prepared(self, items: Sequence[Any]) -> np.ndarray:
        session = self._session(IMAGE_FILE)
        batch = np.ascontiguousarray(np.stack(items), dtype=np.float32)
        return np.asarray(session.run(None, {session.get_inputs()[0].name: batch})[0], np.float32)

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        if self.meta.text is None:
            with self._lock:
                if self._fallback is None:
                    assert self._text_fallback is not None
                    self._fallback = self._text_fallback()
            return self._fallback.embed_texts(texts)
        session = self._session(TEXT_FILE)
        with self._lock:
            if self._tokens is None:
                self._tokens = TextTokens(self.folder, self.meta.text)
        return np.asarray(session.run(None, self._tokens(texts))[0], np.float32)
