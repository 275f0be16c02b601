"""Commands built on the similarity join: pairs and match (duplicates: cli/dedupe.py), on a folder or a library
(`--library`: stored vectors only, no model). Results go to stdout; which join answered, progress and
skipped files go to stderr."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InvalidArgumentError
from ..output import OutputFormat
from .common import (
    MAX_K,
    BatchOption,
    DeviceOption,
    FormatOption,
    LibraryOption,
    MegapixelsOption,
    ModelOption,
    PrecisionOption,
    QuietOption,
    RecallOption,
    TqdmBar,
    WorkersOption,
    app,
    check_picture_outputs,
    emit,
    path_text,
    progress_bar,
    report_failures,
    score_value,
    service_for,
)
from .drawing import GridOption, ReportOption, draw_matches, draw_pairs
from .folder import check_folder

if TYPE_CHECKING:
    from ..join import JoinReport, Progress
    from ..matching import VectorSet

DUPLICATE_THRESHOLD = 0.95  # lookalike.matching.DUPLICATE_THRESHOLD (not imported here: lean CLI start)

ExactOption = Annotated[bool, typer.Option(help="Exact join (blocked, bounded memory) at any size.")]
ProgressOption = Annotated[bool, typer.Option("--progress", help="A progress bar over the join's cells.")]
FolderArgument = Annotated[Path | None, typer.Argument(help="Folder of images (or use --library).")]


def _bar(show: bool, label: str) -> Progress | None:
    """The join's bar over its cells, when --progress asks for it."""
    return TqdmBar(label, unit="cell") if show else None


def _join_options(exact: bool, recall: float | None, service: Any) -> Any:
    """The join's options: --exact, and --recall (else the `recall` setting)."""
    from ..join import JoinOptions

    return JoinOptions(exact=exact or None, recall=service.settings.recall if recall is None else recall)


def _said(what: str, report: JoinReport | None) -> None:
    if report is not None:
        typer.echo(f"{what}: {report.path()}", err=True)


def _load(folder: Path | None, library: Path | None, model: str | None, service: Any, quiet: bool,
          unique_content: bool = False, flag: str = "--library") -> VectorSet:
    """A folder's vectors (embedded or from its library) or a library's stored ones (no model)."""
    from .. import matching

    if folder is not None and library is not None:
        raise InvalidArgumentError(f"give either a folder or {flag}, not both", argument=flag)
    if library is not None:
        return matching.stored_set(library, model)
    if folder is None:
        raise InvalidArgumentError(f"name a folder of images or pass {flag} DIR", argument=flag)
    check_folder(folder)  # the same check (and message) as the other folder commands
    return matching.folder_set(folder, service.lazy_model(folder, model),
                               service.pipeline_options(progress_bar("embedding", quiet)), unique_content)


@app.command()
def pairs(
    folder: FolderArgument = None,
    top: Annotated[int | None, typer.Option("--top", "-k", min=1, max=MAX_K,
                                            help="How many of the most similar pairs (default: 1).")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every pairwise score (small folders only).")] = False,
    library: LibraryOption = None,
    exact: ExactOption = False,
    recall: RecallOption = None,
    progress: ProgressOption = False,
    grid: GridOption = None,
    report: ReportOption = None,
    model: ModelOption = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = None,
    device: DeviceOption = None,
    batch_size: BatchOption = None,
    workers: WorkersOption = None,
    max_megapixels: MegapixelsOption = None,
    quiet: QuietOption = False,
) -> None:
    """The most similar pairs of images in a folder or a library.

    lookalike pairs ~/Pictures --top 20
    lookalike pairs --library ~/Pictures/.lookalike --top 1000 --progress
    """
    from .. import matching
    from ..neighbors import check_all_pairs

    check_picture_outputs(grid, report)
    if every and top is not None:
        raise typer.BadParameter("--all prints every pair; it cannot be combined with --top", param_hint="'--all'")
    if every and folder is not None and library is None and folder.is_dir():
        check_all_pairs(matching.count_images(folder))  # before any embedding
    with service_for(folder, device, precision, batch_size, workers, max_megapixels) as service:
        found = _load(folder, library, model, service, quiet)
    answer = matching.find_pairs(found, top=top or 1, every=every, options=_join_options(exact, recall, service),
                                 progress=_bar(progress, "pairs"))
    report_failures(answer.failures)
    _said("pairs", answer.report)
    emit(["a", "b", "score"], [[path_text(p.a), path_text(p.b), round(p.score, 4)] for p in answer.pairs], fmt)
    draw_pairs([(p.a, p.b, p.score) for p in answer.pairs], grid, report)


@app.command()
def match(
    a: Annotated[Path | None, typer.Argument(help="Folder A: the images to look up (or --library-a).")] = None,
    b: Annotated[Path | None, typer.Argument(help="Folder B: where to look (or --library-b).")] = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, max=MAX_K, help="Matches per image of A.")] = 1,
    threshold: Annotated[float | None, typer.Option(callback=score_value,
                                                    help="Only matches with at least this score (-1 to 1).")] = None,
    library_a: Annotated[Path | None, typer.Option(help="Library for A (stored vectors, no model).")] = None,
    library_b: Annotated[Path | None, typer.Option(help="Library for B (stored vectors, no model).")] = None,
    exact: ExactOption = False,
    recall: RecallOption = None,
    progress: ProgressOption = False,
    grid: GridOption = None,
    report: ReportOption = None,
    model: ModelOption = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = None,
    device: DeviceOption = None,
    batch_size: BatchOption = None,
    workers: WorkersOption = None,
    max_megapixels: MegapixelsOption = None,
    quiet: QuietOption = False,
) -> None:
    """For each image in A, its best matches in B ("which of my new photos are already in the archive").

    lookalike match ~/new-photos ~/Pictures --threshold 0.9
    lookalike match ~/new-photos --library-b ~/Pictures/.lookalike -k 3
    """
    check_picture_outputs(grid, report)
    if a is not None and b is None and library_a is not None:
        a, b = None, a  # `match --library-a L B`: the one folder given is B
    from .. import matching

    with service_for(a or b, device, precision, batch_size, workers, max_megapixels) as service:
        side_b = _load(b, library_b, model, service, quiet, flag="--library-b") if library_b else None
        side_a = _load(a, library_a, model or (side_b.spec.model if side_b and side_b.spec else None), service,
                       quiet, flag="--library-a")
        if side_b is None:
            side_b = _load(b, None, model or (side_a.spec.model if side_a.spec else None), service, quiet,
                           flag="--library-b")
    answer = matching.match(side_a, side_b, k, threshold, _join_options(exact, recall, service),
                            _bar(progress, "match"))
    report_failures(answer.failures)
    _said("match", answer.report)
    emit(["a", "b", "score", "rank"],
         [[path_text(r.a), path_text(r.b), round(r.score, 4), r.rank] for r in answer.rows], fmt)
    draw_matches(answer.rows, grid, report)
