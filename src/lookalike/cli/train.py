"""`lookalike train`: a similarity head (or the autoencoder baseline) trained on a labelled folder."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..output import OutputFormat
from .common import (
    BatchOption,
    DeviceOption,
    FormatOption,
    LibraryOption,
    MegapixelsOption,
    PrecisionOption,
    QuietOption,
    WorkersOption,
    app,
    emit,
    path_text,
    progress_bar,
    report_failures,
    service_for,
)


class LossChoice(StrEnum):
    """Training objectives."""

    triplet = "triplet"
    contrastive = "contrastive"
    supcon = "supcon"
    arcface = "arcface"
    autoencoder = "autoencoder"


class SplitChoice(StrEnum):
    """How the validation images are held out."""

    image = "image"
    clazz = "class"


@app.command()
def train(
    folder: Annotated[Path, typer.Argument(help="Labelled images: class sub-folders or a labels.csv.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Head file to write (.pt).")],
    labels: Annotated[Path | None, typer.Option(help="CSV with path,label[,text] (paths relative to FOLDER).")]
    = None,
    base: Annotated[str | None, typer.Option("--base", "-b", help="Base model whose vectors the head refines "
                                             "(default: the model of the folder's only library, else "
                                             "LOOKALIKE_MODEL, else siglip-base).")] = None,
    loss: Annotated[LossChoice, typer.Option(help="Training objective; autoencoder trains on pixels.")]
    = LossChoice.supcon,
    dim: Annotated[int, typer.Option(min=1, help="Output dimension (the autoencoder's bottleneck).")] = 256,
    hidden: Annotated[int, typer.Option(min=1, help="Hidden width of the head's MLP.")] = 64,
    holdout: Annotated[float, typer.Option(min=0.0, max=0.95, help="Share held out for validation.")] = 0.2,
    split_by: Annotated[SplitChoice, typer.Option(help="Hold out images of every class, or whole classes.")]
    = SplitChoice.image,
    seed: Annotated[int, typer.Option(help="Seed for the split, sampling and initial weights.")] = 0,
    epochs: Annotated[int, typer.Option(min=1, help="Most epochs to train.")] = 40,
    patience: Annotated[int, typer.Option(min=1, help="Stop after this many epochs without a better "
                                          "validation mAP.")] = 6,
    lr: Annotated[float, typer.Option(min=1e-7, help="Learning rate (AdamW).")] = 3e-3,
    with_text: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Mix each image with its 'text' "
                                                    "column at this weight (models with a text tower).")] = None,
    finetune_last: Annotated[int, typer.Option(min=0, help="Also train the last N backbone blocks "
                                               "(needs the images; slow without a GPU).")] = 0,
    library: LibraryOption = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = None,
    device: DeviceOption = None,
    batch_size: BatchOption = None,
    workers: WorkersOption = None,
    max_megapixels: MegapixelsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Train a projection head on BASE's vectors of a labelled folder; use it as `--model HEAD.pt`.

    lookalike train photos/ --base efficientnet-lite0 --loss supcon --out photos-head.pt
    lookalike index photos/ --model photos-head.pt
    lookalike train photos/ --loss autoencoder --out photos-ae.pt --dim 128
    """
    from tqdm import tqdm

    from ..service import EpochReport, TrainConfig

    config = TrainConfig(loss=loss.value, dim=dim, hidden=hidden, epochs=epochs, patience=patience, lr=lr,
                         holdout=holdout, split_by="class" if split_by is SplitChoice.clazz else "image", seed=seed)
    bar: Any = tqdm(total=epochs, desc=f"training ({loss.value})", unit="epoch", leave=False,
                    disable=quiet or not sys.stderr.isatty())

    def progress(report: EpochReport) -> None:
        shown = {"loss": f"{report.loss:.4f}"}
        if report.val_map is not None:
            shown["val_mAP"] = f"{report.val_map:.4f}"
        bar.set_postfix(shown, refresh=False)
        bar.update(1)

    with service_for(folder, device, precision, batch_size, workers, max_megapixels) as service, bar:
        outcome, base = service.train(folder, out, config, base, labels, library, with_text, finetune_last,
                                      progress_bar("indexing", quiet), progress)
    report_failures(outcome.skipped)
    result = outcome.result
    typer.echo(f"wrote {path_text(outcome.path)} (hash {outcome.hash[:16]}): best epoch {result.best_epoch} of "
               f"{len(result.curve) - 1}, {result.train_size} training / {result.val_size} validation images, "
               f"{result.seconds:.1f} s", err=True)
    columns = ["vectors", "val_images", "map", "precision@1", "allmatch@5"]
    rows = []
    if result.base_scores:
        rows.append([f"base ({base})", result.val_size, *(result.base_scores[c] for c in columns[2:])])
    if result.best_scores and "map" in result.best_scores:
        rows.append([f"head ({loss.value})", result.val_size, *(result.best_scores[c] for c in columns[2:])])
    if rows:
        emit(columns, rows, fmt)


__all__ = ["train"]
