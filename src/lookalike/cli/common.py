"""Options and helpers shared by every `lookalike` command."""

from __future__ import annotations

import math
import re
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


MAX_K = 1_000_000_000  # far above any collection; k is capped at the collection's size anyway
_DEVICE = re.compile(r"(auto|cpu|mps|cuda(:\d+)?)")


def check_device(device: str) -> str:
    """`device` when it names a device this machine has; a usage error for a malformed name, one
    line for a GPU that is not there. Checked before any model loads."""
    if not _DEVICE.fullmatch(device):
        raise typer.BadParameter(f"'{device}' is not a device: use auto, cpu, cuda or cuda:N", param_hint="'--device'")
    if device.startswith("cuda"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        wanted = int(device.partition(":")[2] or 0)
        if wanted >= count:
            have = f"only {count} CUDA device(s)" if count else "no CUDA GPU"
            raise LookalikeError(f"--device {device}: this machine has {have}; use --device cpu or auto")
    return device


def score_value(value: float | None) -> float | None:
    """Typer callback: a cosine-similarity threshold must be a number in [-1, 1] (not nan)."""
    if value is not None and (math.isnan(value) or not -1.0 <= value <= 1.0):
        raise typer.BadParameter(f"{value} is not a similarity score: give a number between -1 and 1")
    return value


def weight_value(value: float) -> float:
    """Typer callback: a weight in [0, 1] (not nan)."""
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise typer.BadParameter(f"{value} is not a weight: give a number between 0 and 1")
    return value


def embed_options(device: str, precision: PrecisionChoice) -> dict[str, Any]:
    """Keyword arguments for `create_embedder` (the device checked first)."""
    check_device(device)
    chosen: Precision = precision.value
    return {"device": device, "precision": chosen}


def make_embedder(model: str | None, device: str, precision: PrecisionChoice) -> Embedder:
    return create_embedder(model or DEFAULT_MODEL, **embed_options(device, precision))


def pipeline_options(batch_size: int, workers: int, megapixels: float, quiet: bool,
                     label: str = "embedding") -> PipelineOptions:
    return PipelineOptions(batch_size=batch_size, workers=workers or None, max_pixels=int(megapixels * 1e6))


def report_failures(failures: list[ImageReadError]) -> None:
    """One stderr line per skipped file, then a count."""
    for failure in failures:
        typer.echo(f"skipped: {one_line(str(failure))}", err=True)
    if failures:
        typer.echo(f"{len(failures)} file(s) skipped", err=True)


def report_unreadable(problems: list[ImageReadError]) -> None:
    """Folders and files that could not be read this time; their catalog rows were kept."""
    for problem in problems:
        typer.echo(f"unreadable (kept as it was): {one_line(str(problem))}", err=True)


def one_line(text: str) -> str:
    """Text with newlines and carriage returns shown as \\n and \\r (file names may hold them)."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def emit(columns: list[str], rows: list[list[Any]], fmt: OutputFormat) -> None:
    """Results to stdout."""
    typer.echo(render(columns, rows, fmt))


def path_text(path: Path | str) -> str:
    """A path for output: relative to the working directory when it lies below it."""
    candidate = Path(path)
    if candidate.is_absolute() and candidate.is_relative_to(Path.cwd()):
        candidate = candidate.relative_to(Path.cwd())
    return display_path(candidate)
