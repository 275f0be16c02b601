"""Text tokenisation without transformers, for the ONNX backend: a fast tokenizer's own
`tokenizers.Tokenizer` (CLIP and most models), or SigLIP's sentencepiece model with SigLIP's text
canonicalisation (lower case, punctuation removed, whitespace collapsed, `</s>` appended). Made at
export time from the model's tokenizer and used only when it gives the same token ids as that
tokenizer on probe sentences; otherwise text stays with the torch model."""

from __future__ import annotations

import re
import shutil
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..extras import require

TOKENIZER_FILE = "tokenizer.json"
SENTENCEPIECE_FILE = "spiece.model"
_UNDERLINE = "\u2581"
_PUNCTUATION = str.maketrans("", "", string.punctuation)


class TextTokens:
    """Token arrays (`inputs`, int64, padded and truncated as the model expects) for a batch of texts."""

    def __init__(self, folder: Path, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.inputs: list[str] = list(settings["inputs"])
        self.length = int(settings["max_length"])
        self.fixed = settings["padding"] == "max_length"
        self.pad_id = int(settings["pad_id"])
        if settings["kind"] == "sentencepiece-siglip":
            spm = require("sentencepiece", "onnx", "SigLIP text queries with the ONNX backend")
            self.pieces: Any = spm.SentencePieceProcessor(model_file=str(folder / SENTENCEPIECE_FILE))
            self.tokenizer: Any = None
        else:
            tokenizers = require("tokenizers", "onnx", "text queries with the ONNX backend")
            self.tokenizer = tokenizers.Tokenizer.from_file(str(folder / TOKENIZER_FILE))
            self.tokenizer.enable_truncation(max_length=self.length)
            self.tokenizer.no_padding()

    def _siglip_ids(self, text: str) -> list[int]:
        """SiglipTokenizer's ids: canonical text, encoded behind the unknown token (then dropped) so no
        dummy prefix is added, truncated, then `</s>`."""
        text = _UNDERLINE + text.replace(_UNDERLINE, " ")
        if self.settings["lower"]:
            text = text.lower()
        text = re.sub(r"\s+", " ", text.translate(_PUNCTUATION)).strip()
        unk = str(self.settings["unk_token"])
        pieces = self.pieces.encode(unk + text, out_type=str)
        skip = len(self.pieces.encode(unk, out_type=str))
        pieces = pieces[skip:] if len(pieces) >= skip else pieces
        ids = [self.pieces.piece_to_id(piece) for piece in pieces]
        return [*ids[: self.length - 1], int(self.settings["eos_id"])]

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        if self.tokenizer is None:
            return [self._siglip_ids(text) for text in texts]
        return [list(encoding.ids) for encoding in self.tokenizer.encode_batch(list(texts))]

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        rows = self.ids(texts)
        width = self.length if self.fixed else max(len(row) for row in rows)
        ids = np.full((len(rows), width), self.pad_id, np.int64)
        mask = np.zeros((len(rows), width), np.int64)
        for index, row in enumerate(rows):
            ids[index, : len(row)] = row
            mask[index, : len(row)] = 1
        arrays = {"input_ids": ids, "attention_mask": mask}
        return {name: arrays[name] for name in self.inputs}


def tokenizer_settings(model: Any, folder: Path, probes: Sequence[str]) -> dict[str, Any] | None:
    """Write `model.tokenizer` (an HFEmbedder's) into `folder` in a form `TextTokens` reads and return
    its settings, or None (files removed) where `TextTokens` does not give the tokenizer's own ids."""
    tokenizer = model.tokenizer
    siglip = str(model.model_type).startswith("siglip")
    length = int(getattr(model.model.config.text_config, "max_position_embeddings", 64))
    common: dict[str, Any] = {"max_length": length, "padding": "max_length" if siglip else "longest",
              "pad_id": int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)}
    written: list[Path] = []
    if getattr(tokenizer, "is_fast", False) and getattr(tokenizer, "backend_tokenizer", None) is not None:
        tokenizers = require("tokenizers", "onnx", "text queries with the ONNX backend")
        backend = tokenizers.Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
        backend.no_padding()
        backend.no_truncation()
        backend.save(str(folder / TOKENIZER_FILE))
        written.append(folder / TOKENIZER_FILE)
        settings: dict[str, Any] = {"kind": "tokenizers", **common}
    elif siglip and getattr(tokenizer, "vocab_file", None) and Path(tokenizer.vocab_file).is_file():
        shutil.copyfile(tokenizer.vocab_file, folder / SENTENCEPIECE_FILE)
        written.append(folder / SENTENCEPIECE_FILE)
        settings = {"kind": "sentencepiece-siglip", "lower": bool(getattr(tokenizer, "do_lower_case", True)),
                    "unk_token": str(tokenizer.unk_token), "eos_id": int(tokenizer.eos_token_id), **common}
    else:
        return None
    padding: Any = "max_length" if siglip else True
    expected = tokenizer(list(probes), padding=padding, truncation=True, max_length=length, return_tensors="np")
    settings["inputs"] = [name for name in ("input_ids", "attention_mask") if name in expected]
    got = TextTokens(folder, settings)(probes)
    same = set(settings["inputs"]) == set(expected.keys()) and all(
        np.array_equal(got[name], np.asarray(expected[name])) for name in settings["inputs"])
    if not same:
        for path in written:
            path.unlink(missing_ok=True)
        return None
    return settings
