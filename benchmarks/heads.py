"""Learned heads and the autoencoder baseline on CIFAR-10, seed-style: top-k all-match accuracy, P@1,
mAP and images/s, (1) on held-out images of the classes trained on and (2) on classes never trained on.
Prints markdown (the tables, then each run's validation curve); `benchmarks/results.py` includes it.

    python benchmarks/heads.py --data ../shared/data --per-class 100
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does; before torch loads

import numpy as np  # noqa: E402

from lookalike.embedders import Embedder, create_embedder, l2_normalize  # noqa: E402
from lookalike.embedders.autoencoder import SIDE  # noqa: E402
from lookalike.embedders.headfile import save_head  # noqa: E402
from lookalike.evaluation.evaluator import score_rankings  # noqa: E402
from lookalike.evaluation.labelled import LabelledSet, load_labelled, split_classes  # noqa: E402
from lookalike.output import OutputFormat, render  # noqa: E402
from lookalike.pipeline import embed_paths  # noqa: E402
from lookalike.training.autoencoder import load_pixels, train_autoencoder  # noqa: E402
from lookalike.training.losses import LOSSES  # noqa: E402
from lookalike.training.sampling import split_indices  # noqa: E402
from lookalike.training.trainer import StoredVectors, TrainConfig, TrainResult, train_head  # noqa: E402

BASE = "efficientnet-lite0"
COLUMNS = ["method", "allmatch@1", "allmatch@5", "allmatch@10", "precision@1", "map", "images_per_s",
           "train_s", "best_epoch"]
RATE_SAMPLE = 64


def first_per_class(labelled: LabelledSet, per_class: int) -> LabelledSet:
    """The first `per_class` images of every class (in the labels file's order)."""
    taken: dict[str, int] = {}
    keep = []
    for position, label in enumerate(labelled.labels):
        if taken.get(label, 0) < per_class:
            keep.append(position)
            taken[label] = taken.get(label, 0) + 1
    return labelled.subset(keep)


def _rate(embedder: Embedder, paths: list[Path]) -> float:
    started = time.perf_counter()
    done = embed_paths(embedder, paths[:RATE_SAMPLE])
    return len(done.paths) / max(time.perf_counter() - started, 1e-9)


def _row(method: str, vectors: np.ndarray, labels: list[str], rate: float, result: TrainResult | None) -> list:
    scores = score_rankings(vectors, labels)
    return [method, *(f"{scores[c]:.4f}" for c in COLUMNS[1:6]), f"{rate:.1f}",
            f"{result.seconds:.1f}" if result else "", str(result.best_epoch) if result else ""]


def _saved_rate(content: dict, paths: list[Path], workdir: Path) -> float:
    """images/s of the head as a model (base + head), loaded from a saved head file."""
    path = workdir / f"{content['loss']}.pt"
    save_head(content, path)
    return _rate(create_embedder(str(path)), paths)


def run_protocol(name: str, train: LabelledSet, test: LabelledSet, vectors: dict[Path, np.ndarray],
                 pixels: dict[Path, np.ndarray], base_spec: dict, base_rate: float, config: TrainConfig,
                 workdir: Path) -> tuple[list[list], list[str]]:
    """Rows for the base, each loss and the autoencoder, plus one validation-curve line per run."""
    train_vectors = np.stack([vectors[p] for p in train.paths])
    test_vectors = np.stack([vectors[p] for p in test.paths])
    rows = [_row(f"{BASE} (base)", test_vectors, test.labels, base_rate, None)]
    curves = []
    for loss in LOSSES:
        print(f"# {name}: {loss}", file=sys.stderr)
        result = train_head(StoredVectors(train_vectors), train.labels, replace(config, loss=loss))
        import torch

        with torch.no_grad():
            projected = l2_normalize(result.head(torch.as_tensor(test_vectors)).numpy())
        content = {"kind": "projection", "loss": loss, "dim": config.dim, "hidden": config.hidden,
                   "in_dim": train_vectors.shape[1], "base_model": BASE, "base_spec": base_spec,
                   "state": result.head.state_dict()}
        rows.append(_row(f"{BASE} + {loss} head", projected, test.labels,
                         _saved_rate(content, test.paths, workdir), result))
        curves.append(f"- {loss}: " + ", ".join(f"{p['map']:.3f}" for p in result.curve if "map" in p))
    print(f"# {name}: autoencoder", file=sys.stderr)
    ae_config = replace(config, loss="autoencoder", dim=128, epochs=config.epochs, patience=config.patience)
    result = train_autoencoder(np.stack([pixels[p] for p in train.paths]), train.labels, ae_config)
    import torch

    with torch.no_grad():
        codes = result.head.encoder(torch.as_tensor(np.stack([pixels[p] for p in test.paths])).float() / 255.0)
    content = {"kind": "autoencoder", "loss": "autoencoder", "dim": 128, "side": SIDE,
               "state": result.head.state_dict()}
    rows.append(_row("conv autoencoder (64 px, 128-d)", l2_normalize(codes.numpy()), test.labels,
                     _saved_rate(content, test.paths, workdir), result))
    curves.append("- autoencoder: " + ", ".join(f"{p['map']:.3f}" for p in result.curve if "map" in p))
    return rows, curves


def heads_markdown(data: Path, per_class: int = 100, holdout: float = 0.3, seed: int = 0,
                   epochs: int = 40) -> str:
    """The markdown section: both protocols on the first `per_class` CIFAR-10 test images per class."""
    pool = first_per_class(load_labelled(data / "cifar10-test"), per_class)
    base = create_embedder(BASE)
    print(f"# heads: embedding {len(pool.paths)} images with {BASE}", file=sys.stderr)
    embedded = embed_paths(base, pool.paths)
    vectors = dict(zip(embedded.paths, embedded.vectors, strict=True))
    images, kept, _ = load_pixels(pool.paths, SIDE)
    pixels = {pool.paths[i]: images[row] for row, i in enumerate(kept)}
    base_rate = _rate(base, pool.paths)
    base_spec = asdict(base.spec)
    config = TrainConfig(epochs=epochs, seed=seed)
    halves = split_indices(pool.labels, 0.5, "image", seed)
    classes = split_classes(pool.classes(), holdout, seed)
    seen = [i for i, label in enumerate(pool.labels) if label in classes.train]
    unseen = [i for i, label in enumerate(pool.labels) if label in classes.test]
    with tempfile.TemporaryDirectory() as work:
        held_rows, held_curves = run_protocol(
            "held-out images", pool.subset(halves.train), pool.subset(halves.val), vectors, pixels, base_spec,
            base_rate, replace(config, split_by="image", holdout=0.2), Path(work))
        unseen_rows, unseen_curves = run_protocol(
            "unseen classes", pool.subset(seen), pool.subset(unseen), vectors, pixels, base_spec, base_rate,
            replace(config, split_by="class", holdout=0.25), Path(work))
    return f"""## Learned heads and the autoencoder on CIFAR-10 (`lookalike train`)

The first {per_class} CIFAR-10 test images of every class, embedded with {BASE}. Heads: 256-d,
trained on the stored {BASE} vectors with each loss (defaults of `lookalike train`, at most {epochs}
epochs, early stopping on validation mAP, seed {seed}); the autoencoder trains on 64x64 pixels
(128-d bottleneck). `images_per_s` is the whole model (base + head, or the autoencoder) loaded from
its head file and timed on {RATE_SAMPLE} images; `train_s` is training time on this machine.

### Held-out images of the trained classes

Each class split in half (seeded); trained on one half (a fifth of it held out for early stopping),
every image of the other half queries the rest of that half.

{render(COLUMNS, held_rows, OutputFormat.markdown)}

Validation mAP per epoch (epoch 0 is the untrained head, a centred PCA projection):

{chr(10).join(held_curves)}

### Classes never trained on

Trained on {', '.join(classes.train)} (two of them held out by class for early stopping);
evaluated on {', '.join(classes.test)} (`--holdout {holdout} --seed {seed}`, the split of the
unseen-classes table above, here on {per_class} images per class).

{render(COLUMNS, unseen_rows, OutputFormat.markdown)}

Validation mAP per epoch (validation classes are unseen by the head too):

{chr(10).join(unseen_curves)}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--holdout", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args(argv)
    if not (args.data / "cifar10-test").is_dir():
        print(f"heads: {args.data / 'cifar10-test'} not found", file=sys.stderr)
        return 1
    print(heads_markdown(args.data, args.per_class, args.holdout, args.seed, args.epochs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
