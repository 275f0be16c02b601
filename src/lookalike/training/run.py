"""`lookalike train` as a function: labelled folder in, head file out.

Base vectors come from the folder's library for the base model (created and synced as needed), so
training never re-embeds what is already indexed. `with_text` mixes each image's vector with its
caption's (a `text` column of the labels CSV), for models with a text tower.
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..embedders import create_embedder, l2_normalize
from ..embedders.headfile import save_head
from ..errors import ImageReadError, InvalidArgumentError, LookalikeError, display_path
from ..evaluation.labelled import LabelledSet, load_labelled
from ..images import find_images, load_image
from ..pipeline import PipelineOptions
from .trainer import Progress, StoredVectors, TrainConfig, TrainResult, train_head

TEXT_COLUMN = "text"


@dataclass
class TrainOutcome:
    """What `train_folder` wrote and how training went."""

    path: Path
    hash: str
    result: TrainResult
    skipped: list[ImageReadError] = field(default_factory=list)


def base_model_name(base: str) -> str:
    """The name a head file records for its base: local model directories as absolute paths."""
    candidate = Path(base)
    return str(candidate.resolve()) if candidate.is_dir() else base


def read_texts(labels_csv: Path, root: Path) -> dict[Path, str]:
    """The `text` column of a labels CSV, by resolved image path."""
    with open(labels_csv, newline="") as handle:
        reader = csv.DictReader(handle)
        if TEXT_COLUMN not in (reader.fieldnames or []):
            raise LookalikeError(f"{display_path(labels_csv)}: training with text needs a '{TEXT_COLUMN}' column")
        return {(root / row["path"]).resolve(): row[TEXT_COLUMN] or "" for row in reader}


def with_text_vectors(embedder: Any, image_vectors: np.ndarray, texts: list[str], weight: float,
                      chunk: int = 64) -> np.ndarray:
    """Weighted sum of image and text vectors (`weight` on text), renormalised."""
    if not 0.0 <= weight <= 1.0:
        raise InvalidArgumentError(f"with_text must be between 0 and 1, not {weight}", argument="with_text")
    text_vectors = np.concatenate([embedder.embed_texts(texts[s : s + chunk]) for s in range(0, len(texts), chunk)])
    return l2_normalize((1.0 - weight) * image_vectors + weight * text_vectors)


def library_vectors(
    labelled: LabelledSet, base: str, library: Path | None, options: PipelineOptions | None,
    home: Path | None = None, **embed_options: Any,
) -> tuple[LabelledSet, np.ndarray, dict[str, Any], list[ImageReadError]]:
    """The labelled images' vectors from the folder's library for `base` (synced first), the labelled
    set cut to the images that have one, the library's spec and the unreadable files."""
    from ..store.library import Library

    with Library.open(labelled.root, model=base, library=library, create=True, home=home,
                      **embed_options) as opened:
        opened.sync(options=options)
        paths, vectors = opened.vectors()
        failures = opened.failures()
        spec = asdict(opened.spec)
    by_path = {path.resolve(): row for row, path in enumerate(paths)}
    keep = [i for i, path in enumerate(labelled.paths) if path.resolve() in by_path]
    kept = labelled.subset(keep)
    rows = [by_path[path.resolve()] for path in kept.paths]
    return kept, vectors[rows], spec, failures


def _content(kind: str, config: TrainConfig, result: TrainResult, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "loss": config.loss, "dim": config.dim, "config": asdict(config),
            "training": result.summary(), "state": result.head.state_dict(), **extra}


def train_folder(
    folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    base: str = "efficientnet-lite0",
    labels_csv: Path | None = None,
    config: TrainConfig | None = None,
    library: Path | None = None,
    home: Path | None = None,
    with_text: float | None = None,
    finetune_last: int = 0,
    options: PipelineOptions | None = None,
    progress: Progress | None = None,
    **embed_options: Any,
) -> TrainOutcome:
    """Train a head (or, with `config.loss == "autoencoder"`, the autoencoder) and save it to `out`."""
    config = config or TrainConfig()
    root = Path(folder)
    target = Path(out)
    if target.suffix != ".pt":
        raise InvalidArgumentError("the head file name must end in .pt", path=target, argument="out")
    if not root.is_dir():
        raise InvalidArgumentError("no such folder", path=root, argument="folder")
    if config.loss == "autoencoder":
        if with_text is not None or finetune_last:
            raise InvalidArgumentError("the autoencoder trains on pixels alone: no text, no backbone to fine-tune",
                                       argument="loss")
        return _train_autoencoder(root, target, labels_csv, config, progress)
    config.check()
    if with_text is not None and finetune_last:
        raise InvalidArgumentError("training with text and fine-tuning backbone blocks cannot be combined",
                                   argument="with_text")
    if finetune_last < 0:
        raise InvalidArgumentError(f"finetune_last must be at least 0, not {finetune_last}", argument="finetune_last")
    labelled = load_labelled(root, labels_csv)
    extra: dict[str, Any] = {"base_model": base_model_name(base), "with_text": with_text,
                             "finetune_last": finetune_last}
    if finetune_last:
        features, spec, labelled, skipped = _backbone(labelled, base, finetune_last, embed_options)
        result = train_head(features, labelled.labels, config, progress)
    else:
        labelled, vectors, spec, skipped = library_vectors(labelled, base, library, options, home=home,
                                                           **embed_options)
        if with_text is not None:
            texts_by_path = read_texts(labels_csv or root / "labels.csv", root)
            texts = [texts_by_path.get(path.resolve(), "") for path in labelled.paths]
            vectors = with_text_vectors(create_embedder(base, **embed_options), vectors, texts, with_text)
        result = train_head(StoredVectors(vectors), labelled.labels, config, progress)
    extra.update(base_spec=spec, in_dim=int(result.head.linear.in_features), hidden=config.hidden,
                 backbone=result.backbone)
    digest = save_head(_content("projection", config, result, **extra), target)
    return TrainOutcome(target, digest, result, skipped)


def _backbone(labelled: LabelledSet, base: str, count: int,
              embed_options: dict[str, Any]) -> tuple[Any, dict[str, Any], LabelledSet, list[ImageReadError]]:
    from .finetune import BackboneFeatures

    embedder = create_embedder(base, **{**embed_options, "precision": "fp32"})
    items, keep, skipped = [], [], []
    for position, path in enumerate(labelled.paths):
        try:
            items.append(embedder.prepare(load_image(path, embedder.decode_options)))
            keep.append(position)
        except ImageReadError as exc:
            skipped.append(exc)
    return BackboneFeatures(embedder, items, count), asdict(embedder.spec), labelled.subset(keep), skipped


def _train_autoencoder(root: Path, target: Path, labels_csv: Path | None, config: TrainConfig,
                       progress: Progress | None) -> TrainOutcome:
    from ..embedders.autoencoder import SIDE
    from .autoencoder import load_pixels, train_autoencoder

    try:
        labelled: LabelledSet | None = load_labelled(root, labels_csv)
    except LookalikeError:
        if labels_csv is not None:
            raise
        labelled = None  # unsupervised: every image, validation by reconstruction error
    paths = labelled.paths if labelled is not None else find_images(root)
    images, kept, skipped = load_pixels(paths, SIDE)
    labels = [labelled.labels[i] for i in kept] if labelled is not None else None
    result = train_autoencoder(images, labels, config, progress)
    digest = save_head(_content("autoencoder", config, result, side=SIDE), target)
    return TrainOutcome(target, digest, result, skipped)
