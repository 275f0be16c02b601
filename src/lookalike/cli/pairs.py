"""Commands built on the similarity join: pairs and match (duplicates: cli/dedupe.py), on a folder or a library
(`--library`: stored vectors only, no model). Results go to stdout; which join answered, progress and
skipped files go to stderr."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..output import OutputFormat, time_cell
from ..types import Progress
from .common import (
    MAX_K,
    BackendOption,
    BatchOption,
    DeviceOption,
    FormatOption,
    LibraryOption,
    MegapixelsOption,
    ModelOption,
    PrecisionOption,
    QuietOption,
    RecallOption,
    StoreOption,
    TqdmBar,
    WorkersOption,
    app,
    check_picture_outputs,
    emit,
    join_choice,
    path_text,
    progress_bar,
    report_failures,
    score_value,
    service_for,
    source,
)
from .drawing import GridOption, ReportOption, draw_matches, draw_pairs
from .folder import check_folder

ExactOption = Annotated[bool, typer.Option(help="Exact join (blocked, bounded memory) at any size.")]
ProgressOption = Annotated[bool, typer.Option("--progress", help="A progress bar over the join's cells.")]
FolderArgument = Annotated[Path | None, typer.Argument(help="Folder of images (or use --library).")]


def join_bar(show: bool, label: str) -> Progress | None:
    """The join's bar over its cells, when --progress asks for it."""
    return TqdmBar(label, unit="cell") if show else None


def said(what: str, report: Any) -> None:
    """Which join answered (stderr)."""
    if report is not None:
        typer.echo(f"{what}: {report.path()}", err=True)


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
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = None,
    backend: BackendOption = None,
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
    check_picture_outputs(grid, report)
    if every and top is not None:
        raise typer.BadParameter("--all prints every pair; it cannot be combined with --top", param_hint="'--all'")
    target = source(folder, library, model)
    if folder is not None:
        check_folder(folder)  # the same check (and message) as the other folder commands
    with service_for(folder, device, precision, batch_size, workers, max_megapixels, store=store,
                     backend=backend) as service:
        answer = service.pairs(target, top=top or 1, every=every, join=join_choice(exact, recall),
                               progress=progress_bar("embedding", quiet), join_progress=join_bar(progress, "pairs"))
    report_failures(answer.failures)
    said("pairs", answer.join)
    if any(p.a_time is not None or p.b_time is not None for p in answer.pairs):  # video frames: which moments
        emit(["a", "a_time", "b", "b_time", "score"],
             [[path_text(p.a), time_cell(p.a_time, fmt), path_text(p.b), time_cell(p.b_time, fmt),
               round(p.score, 4)] for p in answer.pairs], fmt)
    else:
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
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = None,
    backend: BackendOption = None,
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
    side_a = source(a, library_a, model, "--library-a")
    side_b = source(b, library_b, model, "--library-b")
    for folder in (a, b):
        if folder is not None:
            check_folder(folder)
    with service_for(a or b, device, precision, batch_size, workers, max_megapixels, store=store,
                     backend=backend) as service:
        answer = service.match(side_a, side_b, k, threshold, join_choice(exact, recall),
                               progress_bar("embedding", quiet), join_bar(progress, "match"))
    report_failures(answer.failures)
    said("match", answer.join)
    emit(["a", "b", "score", "rank"],
         [[path_text(r.a), path_text(r.b), round(r.score, 4), r.rank] for r in answer.rows], fmt)
    draw_matches(answer.rows, grid, report)
