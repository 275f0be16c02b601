"""The `lookalike` command: a thin layer over the Python API. Results go to stdout; progress bars,
warnings about skipped files and errors go to stderr."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from . import operations
from .embedders import DEFAULT_MODEL, Embedder, create_embedder, list_models
from .embedders.base import Precision
from .errors import ImageReadError, LookalikeError, display_path
from .output import OutputFormat, render
from .pipeline import PipelineOptions

app = typer.Typer(
    help="Image similarity, visual search and top-k retrieval.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ModelOption = Annotated[
    str, typer.Option("--model", "-m", help="Registry name, timm:<name>, Hugging Face id or local directory.")
]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
class PrecisionChoice(str, Enum):
    """Compute precision choices for the CLI."""

    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


PrecisionOption = Annotated[
    PrecisionChoice, typer.Option(help="auto: bf16 where the CPU/GPU has it natively, else fp32.")
]
DeviceOption = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
BatchOption = Annotated[int, typer.Option(min=1, help="Images per model batch.")]
WorkersOption = Annotated[int, typer.Option(min=0, help="Decode threads (0: one per core).")]
MegapixelsOption = Annotated[float, typer.Option(min=0.01, help="Skip images above this many megapixels.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def _embedder(model: str, device: str, precision: PrecisionChoice) -> Embedder:
    chosen: Precision = precision.value
    return create_embedder(model, device=device, precision=chosen)


def _pipeline(batch_size: int, workers: int, megapixels: float, quiet: bool) -> PipelineOptions:
    return PipelineOptions(
        batch_size=batch_size, workers=workers or None, max_pixels=int(megapixels * 1e6),
        progress=not quiet and sys.stderr.isatty(),
    )


def _report_failures(failures: list[ImageReadError]) -> None:
    for failure in failures:
        typer.echo(f"skipped: {failure}", err=True)
    if failures:
        typer.echo(f"{len(failures)} file(s) skipped", err=True)


def _emit(columns: list[str], rows: list[list[Any]], fmt: OutputFormat) -> None:
    typer.echo(render(columns, rows, fmt))


def _path_text(path: Path) -> str:
    return display_path(path)


@app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="First image.")],
    b: Annotated[Path, typer.Argument(help="Second image.")],
    model: ModelOption = DEFAULT_MODEL,
    show: Annotated[Path | None, typer.Option(help="Write the two images side by side to this PNG.")] = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = PrecisionChoice.auto,
    device: DeviceOption = "auto",
) -> None:
    """Cosine similarity of two images."""
    score = operations.compare(a, b, _embedder(model, device, precision))
    _emit(["a", "b", "score"], [[_path_text(a), _path_text(b), round(score, 4)]], fmt)
    if show is not None:
        from .viz import side_by_side

        side_by_side(a, b, score, show)
        typer.echo(f"wrote {show}", err=True)


@app.command()
def pairs(
    folder: Annotated[Path, typer.Argument(help="Folder of images (searched recursively).")],
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="How many of the most similar pairs.")] = 1,
    every: Annotated[bool, typer.Option("--all", help="Every pairwise score (small folders only).")] = False,
    model: ModelOption = DEFAULT_MODEL,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = PrecisionChoice.auto,
    device: DeviceOption = "auto",
    batch_size: BatchOption = 32,
    workers: WorkersOption = 0,
    max_megapixels: MegapixelsOption = 100.0,
    quiet: QuietOption = False,
) -> None:
    """The most similar pairs of images in a folder."""
    result = operations.find_pairs(
        folder, _embedder(model, device, precision), top=top, every=every,
        options=_pipeline(batch_size, workers, max_megapixels, quiet),
    )
    _report_failures(result.failures)
    rows = [[_path_text(p.a), _path_text(p.b), round(p.score, 4)] for p in result.pairs]
    _emit(["a", "b", "score"], rows, fmt)


@app.command()
def search(
    query: Annotated[Path | None, typer.Argument(help="Query image (omit with --text).")] = None,
    folder: Annotated[Path | None, typer.Argument(help="Folder of images to search.")] = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="How many results.")] = 5,
    text: Annotated[str | None, typer.Option(help="Text query (SigLIP/CLIP), alone or with an image.")] = None,
    text_weight: Annotated[float, typer.Option(min=0, max=1, help="Weight of --text beside an image.")] = 0.5,
    model: ModelOption = DEFAULT_MODEL,
    show: Annotated[Path | None, typer.Option(help="Write a PNG grid of the query and its results.")] = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = PrecisionChoice.auto,
    device: DeviceOption = "auto",
    batch_size: BatchOption = 32,
    workers: WorkersOption = 0,
    max_megapixels: MegapixelsOption = 100.0,
    quiet: QuietOption = False,
) -> None:
    """The top-k images in FOLDER most similar to QUERY (an image), to --text, or to both.

    \b
    lookalike search photo.jpg ~/Pictures -k 10
    lookalike search --text "a dog on grass" ~/Pictures
    """
    if folder is None and query is not None and text is not None:
        query, folder = None, query
    if folder is None:
        raise LookalikeError("search needs a folder: lookalike search QUERY FOLDER (or --text TEXT FOLDER)")
    result = operations.search(
        folder, query=query, text=text, k=k, model=_embedder(model, device, precision),
        text_weight=text_weight, options=_pipeline(batch_size, workers, max_megapixels, quiet),
    )
    _report_failures(result.failures)
    _emit(["path", "score"], [[_path_text(m.path), round(m.score, 4)] for m in result.matches], fmt)
    if show is not None:
        from .viz import result_grid

        result_grid(query, [(m.path, m.score) for m in result.matches], show, title=text)
        typer.echo(f"wrote {show}", err=True)


@app.command()
def duplicates(
    folder: Annotated[Path, typer.Argument(help="Folder of images.")],
    threshold: Annotated[float, typer.Option(min=-1, max=1, help="Cosine similarity that links two images.")]
    = 0.95,
    model: ModelOption = DEFAULT_MODEL,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = PrecisionChoice.auto,
    device: DeviceOption = "auto",
    batch_size: BatchOption = 32,
    workers: WorkersOption = 0,
    max_megapixels: MegapixelsOption = 100.0,
    quiet: QuietOption = False,
) -> None:
    """Groups of near-duplicate images (linked by similarity >= --threshold)."""
    result = operations.find_duplicates(
        folder, _embedder(model, device, precision), threshold=threshold,
        options=_pipeline(batch_size, workers, max_megapixels, quiet),
    )
    _report_failures(result.failures)
    rows = [[number, _path_text(path)] for number, group in enumerate(result.groups, 1) for path in group]
    _emit(["group", "path"], rows, fmt)


@app.command()
def models(fmt: FormatOption = OutputFormat.table) -> None:
    """The models lookalike knows, their vector size, text support and offline availability."""
    rows = [
        [info.name, info.source, info.dim, "yes" if info.text else "no",
         "yes" if info.available_offline() else "no", info.description]
        for info in list_models()
    ]
    _emit(["name", "source", "dim", "text", "offline", "description"], rows, fmt)


def _configure_process() -> None:
    # Idle OpenMP threads sleep instead of spinning, so decode threads get the cores while the model
    # waits; measured +30% end-to-end on 2 cores (benchmarks/embed_throughput.py). Before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr)
    logging.getLogger("lookalike.pipeline").setLevel(logging.ERROR)  # the CLI reports skips itself
    from PIL import Image

    warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own pixel limit applies


def main() -> None:
    """Console entry point: one-line errors instead of tracebacks."""
    _configure_process()
    try:
        app()
    except LookalikeError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
