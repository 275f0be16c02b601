"""Embedders: turn images (and text, for SigLIP/CLIP) into L2-normalised float32 vectors."""

from .base import Embedder, EmbeddingSpec, l2_normalize
from .registry import DEFAULT_MODEL, ModelInfo, create_embedder, list_models, register_model

__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "EmbeddingSpec",
    "ModelInfo",
    "create_embedder",
    "l2_normalize",
    "list_models",
    "register_model",
]
