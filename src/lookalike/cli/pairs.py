"""Commands built on the similarity join: pairs and match (duplicates: cli/dedupe.py), on a folder or a library
(`--library`: stored vectors only, no model). Results go to stdout; which join answered, progress and
skipped files go to stderr."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .. import matching
from ..errors import LookalikeError
from ..join import JoinOptions, JoinReport, Progress
from ..neighbors import check_all_pairs
from ..output import OutputFormat
from ..pipeline import PipelineOptions
from .common import (
    BatchOption,
    DeviceOption,
    FormatOption,
    LibraryOption,
    MegapixelsOption,
    ModelOption,
    PrecisionChoice,
    PrecisionOption,
    QuietOption,
    WorkersOption,
    app,
    emit,
    make_embedder,
    path_text,
    pipeline_options,
    report_failures,
)

ExactOption = Annotated[bool, typer.Option(help="Exact join (blocked, bounded memory) at any size.")]
ProgressOption = Annotated[bool, typer.Option("--progress", help="A progress bar over the join's cells.")]
FolderArgument = Annotated[Path | None, typer.Argument(help="Folder of images (or use --library).")]


class _Bar:
    """A `progress(done, total)` callback drawing a tqdm bar on stderr."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.label, unit="cell", leave=False)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.bar.close()


def _bar(show: bool, label: str) -> Progress | None:
    return _Bar(label) if show else None


def _said(what: str, report: JoinReport | None) -> None:
    if report is not None:
        typer.echo(f"{what}: {report.describe()}", err=True)


def _load(folder: Path | None, library: Path | None, model: str | None, device: str, precision: PrecisionChoice,
          options: PipelineOptions, unique_content: bool = False, flag: str = "--library") -> matching.VectorSet:
    """A folder's vectors (embedded or from its library) or a library's stored ones (no model)."""
    if folder is not None and library is not None:
        raise LookalikeError(f"give either a folder or {flag}, not both")
    if library is not None:
        return matching.stored_set(library, model)
    if folder is None:
        raise LookalikeError(f"name a folder of images or pass {flag} DIR")
    return matching.folder_set(folder, make_embedder(model, device, precision), options, unique_content)


@app.command()
def pairs(
    folder: FolderArgument = None,
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="How many of the most similar pairs.")] = 1,
    every: Annotated[bool, typer.Option("--all", help="Every pairwise score (small folders only).")] = False,
    library: LibraryOption = None,
    exact: ExactOption = False,
    progress: ProgressOption = False,
    model: ModelOption = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = PrecisionChoice.auto,
    device: DeviceOption = "auto",
    batch_size: BatchOption = 32,
    workers: WorkersOption = 0,
    max_megapixels: MegapixelsOption = 100.0,
    quiet: QuietOption = False,
) -> None:
    """The most similar pairs of images in a folder or a library.

    \b
    lookalike pairs ~/Pictures --top 20
    lookalike pairs --library ~/Pictures/.lookalike --top 1000 --progress
    """
    if every and folder is not None and library is None:
        check_all_pairs(matching.count_images(folder))  # before any embedding
    found = _load(folder, library, model, device, precision,
                  pipeline_options(batch_size, workers, max_megapixels, quiet))
    answer = matching.find_pairs(found, top=top, every=every, options=JoinOptions(exact=exact or None),
                                 progress=_bar(progress, "pairs"))
    report_failures(answer.failures)
    _said("pairs", answer.report)
    emit(["a", "b", "score"], [[path_text(p.a), path_text(p.b), round(p.score, 4)] for p in answer.pairs], fmt)


@app.command()
def match(
    a: Annotated[Path | None, typer.Argument(help="Folder A: the images to look up (or --library-a).")] = None,
    b: Annotated[Path | None, typer.Argument(help="Folder B: where to look (or --library-b).")] = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Matches per image of A.")] = 1,
    threshold: Annotated[float | None, typer.Option(min=-1, max=1, help="Only matches with at least this score.")]
    = None,
    library_a: Annotated[Path | None, typer.Option(help="Library for A (stored vectors, no model).")] = None,
    library_b: Annotated[Path | None, typer.Option(help="Library for B (stored vectors, no model).")] = None,
    exact: ExactOption = False,
    progress: ProgressOption = False,
    model: ModelOption = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = PrecisionChoice.auto,
    device: DeviceOption = "auto",
    batch_size: BatchOption = 32,
    workers: WorkersOption = 0,
    max_megapixels: MegapixelsOption = 100.0,
    quiet: QuietOption = False,
) -> None:
    """For each image in A, its best matches in B ("which of my new photos are already in the archive").

    \b
    lookalike match ~/new-photos ~/Pictures --threshold 0.9
    lookalike match ~/new-photos --library-b ~/Pictures/.lookalike -k 3
    """
    if a is not None and b is None and library_a is not None:
        a, b = None, a  # `match --library-a L B`: the one folder given is B
    options = pipeline_options(batch_size, workers, max_megapixels, quiet)
    side_b = _load(b, library_b, model, device, precision, options, flag="--library-b") if library_b else None
    side_a = _load(a, library_a, model or (side_b.spec.model if side_b and side_b.spec else None), device,
                   precision, options, flag="--library-a")
    if side_b is None:
        side_b = _load(b, None, model or (side_a.spec.model if side_a.spec else None), device, precision, options,
                       flag="--library-b")
    answer = matching.match(side_a, side_b, k, threshold, JoinOptions(exact=exact or None), _bar(progress, "match"))
    report_failures(answer.failures)
    _said("match", answer.report)
    emit(["a", "b", "score", "rank"],
         [[path_text(r.a), path_text(r.b), round(r.score, 4), r.rank] for r in answer.rows], fmt)
