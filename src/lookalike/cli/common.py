"""Options and helpers shared by every `lookalike` command."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..embedders import DEFAULT_MODEL, Embedder, create_embedder
from ..embedders.base import Precision
from ..errors import ImageReadError, LookalikeError, display_path
from ..output import OutputFormat, render
from ..pipeline import PipelineOptions

app = typer.Typer(
    help="Image similarity, visual search and top-k retrieval.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class PrecisionChoice(str, Enum):
    """Compute precision choices for the CLI."""

    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help=f"Registry name, timm:<name>, Hugging Face id or local directory "
                 f"[default: {DEFAULT_MODEL}, or the library's model]."),
]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
PrecisionOption = Annotated[
    PrecisionChoice, typer.Option(help="auto: bf16 where the CPU/GPU has it natively, else fp32.")
]
DeviceOption = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
BatchOption = Annotated[int, typer.Option(min=1, help="Images per model batch.")]
WorkersOption = Annotated[int, typer.Option(min=0, help="Decode threads (0: one per core).")]
MegapixelsOption = Annotated[float, typer.Option(min=0.01, help="Skip images above this many megapixels.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
LibraryOption = Annotated[
    Path | None, typer.Option("--library", "-L", help="Library directory (default: FOLDER/.lookalike).")
]


def embed_options(device: str, precision: PrecisionChoice) -> dict[str, Any]:
    """Keyword arguments for `create_embedder`."""
    chosen: Precision = precision.value
    return {"device": device, "precision": chosen}


def make_embedder(model: str | None, device: str, precision: PrecisionChoice) -> Embedder:
    return create_embedder(model or DEFAULT_MODEL, **embed_options(device, precision))


def pipeline_options(batch_size: int, workers: int, megapixels: float, quiet: bool,
                     label: str = "embedding") -> PipelineOptions:
    return PipelineOptions(
        batch_size=batch_size, workers=workers or None, max_pixels=int(megapixels * 1e6),
        progress=not quiet and sys.stderr.isatty(), progress_label=label,
    )


def report_failures(failures: list[ImageReadError]) -> None:
    """One stderr line per skipped file, then a count."""
    for failure in failures:
        typer.echo(f"skipped: {failure}", err=True)
    if failures:
        typer.echo(f"{len(failures)} file(s) skipped", err=True)


def emit(columns: list[str], rows: list[list[Any]], fmt: OutputFormat) -> None:
    """Results to stdout."""
    typer.echo(render(columns, rows, fmt))


def path_text(path: Path | str) -> str:
    """A path for output: relative to the working directory when it lies below it."""
    candidate = Path(path)
    if candidate.is_absolute() and candidate.is_relative_to(Path.cwd()):
        candidate = candidate.relative_to(Path.cwd())
    return display_path(candidate)


def check_picture_outputs(grid: Path | None = None, report: Path | None = None, plot: Path | None = None) -> None:
    """Fail before any work when a picture option names the wrong kind of file or a missing folder."""
    for option, target, kinds in (("--grid", grid, (".png",)), ("--report", report, (".html", ".htm")),
                                  ("--plot", plot, (".png",))):
        if target is None:
            continue
        if target.suffix.lower() not in kinds:
            raise LookalikeError(f"{option} {display_path(target)}: give a file name ending in {kinds[0]}")
        if not target.parent.is_dir():
            raise LookalikeError(f"{option} {display_path(target)}: the folder {display_path(target.parent)} "
                                 "does not exist")
