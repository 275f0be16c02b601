"""What every `lookalike` command shares: the options (declared once here, each defaulting to None so
that settings files and LOOKALIKE_* variables apply), the service built from them, progress bars,
and result printing."""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from ..errors import ImageReadError, InvalidArgumentError, display_path
from ..output import OutputFormat, render
from ..types import JoinChoice, Source

if TYPE_CHECKING:
    from ..service import Lookalike


def _no_flag_metavar(params: list[Any]) -> list[Any]:
    """Flags (--quiet, --help, --exact/--no-exact) take no value: show no `<bool>` type beside them."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class FlagCommand(TyperCommand):
    """A command whose help shows no value type beside its flags."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _no_flag_metavar(super().get_params(ctx))


class FlagGroup(TyperGroup):
    """A command group whose help shows no value type beside its flags."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _no_flag_metavar(super().get_params(ctx))


class CliTyper(typer.Typer):
    """typer.Typer whose commands and groups show flags without a `<bool>` type."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cls=FlagGroup, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", FlagCommand)
        return super().command(*args, **kwargs)


app = CliTyper(
    help="Image similarity, visual search and top-k retrieval.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(shown: bool) -> None:
    if shown:
        import lookalike  # the package itself: __version__ (its public API loads lazily)

        typer.echo(f"lookalike {lookalike.__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False) -> None:
    """Image similarity, visual search and top-k retrieval."""


class PrecisionChoice(str, Enum):
    """Compute precision choices for the CLI."""

    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    int8 = "int8"


class BackendChoice(str, Enum):
    """Inference backend choices for the CLI."""

    auto = "auto"
    torch = "torch"
    onnx = "onnx"


ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Registry name, timm:<name>, Hugging Face id or local directory "
                 "(default: the model of the folder's only library, else LOOKALIKE_MODEL, else siglip-base)."),
]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", case_sensitive=False, help="Output format.")]
PrecisionOption = Annotated[
    PrecisionChoice | None,
    typer.Option(help="auto: bf16 where the CPU/GPU has it natively (fp32 on ONNX Runtime), else fp32; int8: ONNX "
                 "Runtime, once `lookalike quantize` measured it safe (default: auto; LOOKALIKE_PRECISION)."),
]
BackendOption = Annotated[
    BackendChoice | None,
    typer.Option(help="auto: ONNX Runtime on a CPU (the model exported once into the model cache), torch on a GPU "
                 "(default: auto; LOOKALIKE_BACKEND)."),
]
DeviceOption = Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N (default: auto; LOOKALIKE_DEVICE).")]
BatchOption = Annotated[
    int | None, typer.Option(min=1, help="Images per model batch (default: the model's own; LOOKALIKE_BATCH_SIZE).")
]
WorkersOption = Annotated[
    int | None, typer.Option(min=0, help="Decode threads, 0: one per core (default: 0; LOOKALIKE_WORKERS).")
]
MegapixelsOption = Annotated[
    float | None,
    typer.Option(min=0.01, help="Skip images above this many megapixels (default: 100; LOOKALIKE_MAX_MEGAPIXELS)."),
]
QuietOption = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No progress (a bar on a terminal, else a line every 5 s).")]
RecallOption = Annotated[float | None, typer.Option(
    min=0.0, max=1.0, help="Recall target of the approximate join, estimated on sampled rows; 1: exact, 0: fixed "
    "search (default: 0.99; LOOKALIKE_RECALL).")]
StoreOption = Annotated[
    str | None, typer.Option("--store", help="Keep libraries in PostgreSQL + pgvector: a postgresql:// URL "
                             "(default: on disk; LOOKALIKE_STORE).")
]
LibraryOption = Annotated[
    Path | None, typer.Option("--library", "-L", help="Library directory (default: FOLDER/.lookalike).")
]


MAX_K = 1_000_000_000  # far above any collection; k is capped at the collection's size anyway
_DEVICE = re.compile(r"(auto|cpu|cuda(:\d+)?)")


def check_device(device: str | None) -> str | None:
    """`device` when it names a device this machine has: a usage error for a malformed name or a GPU
    that is not there. Checked before any model loads."""
    if device is None:
        return None
    if not _DEVICE.fullmatch(device):
        raise typer.BadParameter(f"'{device}' is not a device: use auto, cpu, cuda or cuda:N", param_hint="'--device'")
    if device.startswith("cuda"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        wanted = int(device.partition(":")[2] or 0)
        if wanted >= count:
            have = f"only {count} CUDA device(s)" if count else "no CUDA GPU"
            raise InvalidArgumentError(f"device {device}: this machine has {have}; use cpu or auto",
                                       argument="device")
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


def service_for(folder: Path | None = None, device: str | None = None, precision: PrecisionChoice | None = None,
                batch_size: int | None = None, workers: int | None = None,
                max_megapixels: float | None = None, store: str | None = None,
                backend: BackendChoice | None = None) -> Lookalike:
    """The service, with settings from defaults < lookalike.toml files < LOOKALIKE_* < these flags."""
    from ..service import Lookalike
    from ..settings import load_settings

    check_device(device)
    settings = load_settings(
        folder, device=device, precision=precision.value if precision is not None else None,
        backend=backend.value if backend is not None else None,
        batch_size=batch_size, workers=workers, max_megapixels=max_megapixels, store=store,
    )
    return Lookalike(settings)


def source(folder: Path | None, library: Path | None, model: str | None, flag: str = "--library") -> Source:
    """What a folder-or-library command runs on: a folder or `flag` DIR, not both."""
    if folder is not None and library is not None:
        raise InvalidArgumentError(f"give either a folder or {flag}, not both", argument=flag.lstrip("-"))
    if folder is None and library is None:
        raise InvalidArgumentError(f"name a folder of images or pass {flag} DIR", argument=flag.lstrip("-"))
    return Source(folder, library, model)


def join_choice(exact: bool, recall: float | None = None) -> JoinChoice:
    """How the join runs for --exact and --recall (None: the `recall` setting)."""
    return JoinChoice(exact=exact, recall=recall)


class TqdmBar:
    """A core `progress(done, total)` callback drawing a tqdm bar on stderr (opened at the first call)."""

    def __init__(self, label: str, unit: str = "img") -> None:
        self.label, self.unit = label, unit
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.label, unit=self.unit, leave=False, file=sys.stderr)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.bar.close()


class PlainProgress:
    """A `progress(done, total)` callback for a stderr that is no terminal (a log file, a pipe): a
    plain line such as `indexing: 500/2000 images` at most every `every` seconds, and a last one at
    the end when any was printed (short runs print nothing)."""

    def __init__(self, label: str, every: float = 5.0, clock: Callable[[], float] = time.monotonic,
                 unit: str = "images") -> None:
        self.label, self.every, self.clock, self.unit = label, every, clock, unit
        self.last: float | None = None
        self.printed = False

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.last is None:
            self.last = now
        if (now - self.last >= self.every and done < total) or (done >= total and self.printed):
            typer.echo(f"{self.label}: {done}/{total} {self.unit}", err=True)
            self.last, self.printed = now, done < total


def progress_bar(label: str, quiet: bool, unit: str = "images") -> Callable[[int, int], None] | None:
    """An embedding bar on a terminal, plain lines every few seconds elsewhere; none with --quiet."""
    if quiet:
        return None
    return TqdmBar(label, unit=unit[:-1] if unit.endswith("s") else unit) if sys.stderr.isatty() \
        else PlainProgress(label, unit=unit)


def report_failures(failures: list[ImageReadError]) -> None:
    """One stderr line per skipped file (with the flag that helps, if any), then a count."""
    from .errors import hint

    for failure in failures:
        extra = hint(failure)
        where = path_text(failure.path) if failure.path is not None else "?"
        typer.echo(one_line(f"skipped: {where}: {failure.reason}" + (f"; {extra}" if extra else "")), err=True)
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
    """A path for output: relative to the working directory when it lies below it (a store's URL,
    which is a Path of its own kind, is printed as it is)."""
    candidate = path if isinstance(path, Path) else Path(path)
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
            raise InvalidArgumentError(f"{option} {display_path(target)}: give a file name ending in {kinds[0]}",
                                       argument=option.lstrip("-"))
        if not target.parent.is_dir():
            raise InvalidArgumentError(f"{option} {display_path(target)}: the folder {display_path(target.parent)} "
                                       "does not exist", argument=option.lstrip("-"))
