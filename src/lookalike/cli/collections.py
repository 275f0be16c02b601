"""Commands over a whole collection: embed (vectors for any files, no library), clusters, outliers, and
the list of image formats this install reads. Results go to stdout; progress and skipped files to stderr."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..output import OutputFormat
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
    WorkersOption,
    app,
    check_picture_outputs,
    emit,
    join_choice,
    path_text,
    progress_bar,
    report_failures,
    service_for,
    source,
)
from .drawing import GridOption, ReportOption
from .folder import check_folder
from .pairs import ExactOption, FolderArgument, ProgressOption, join_bar, said

GRID_MEMBERS = 24  # images drawn per cluster (the representative first)


@app.command()
def embed(
    files: Annotated[list[Path] | None, typer.Argument(help="Image or video files and/or folders (searched "
                                                                     "recursively).")]
    = None,
    out: Annotated[str, typer.Option("--out", "-o", help="vectors.parquet, vectors.npy (+ .json sidecar) or - "
                                     "for JSON lines on stdout.")] = "-",
    text: Annotated[list[str] | None, typer.Option("--text", help="Embed this text with the model's text tower "
                                                   "(repeatable; SigLIP/CLIP models).")] = None,
    model: ModelOption = None,
    precision: PrecisionOption = None,
    backend: BackendOption = None,
    device: DeviceOption = None,
    batch_size: BatchOption = None,
    workers: WorkersOption = None,
    max_megapixels: MegapixelsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Vectors for any files, without a library, in the export's schema (`lookalike import` reads it).

    A video gives one row per sampled frame, with its `time` (null for a photo).

    lookalike embed ~/Pictures -m efficientnet-lite0 --out vectors.parquet
    lookalike embed a.jpg b.jpg --out - | head -c 200
    lookalike embed --text "a red bicycle" -m siglip-base --out -
    """
    target = None if out == "-" else Path(out)
    with service_for(None, device, precision, batch_size, workers, max_megapixels, backend=backend) as service:
        outcome = service.embed_files(list(files or []), target, model, list(text or []),
                                      progress_bar("embedding", quiet), lambda line: typer.echo(line))
    report_failures(outcome.failures)
    for written in outcome.written:
        typer.echo(f"wrote {path_text(written)}", err=True)
    typer.echo(f"{outcome.count} vector(s) of {outcome.spec.dim} dimensions ({outcome.spec.model})", err=True)


@app.command()
def clusters(
    folder: FolderArgument = None,
    min_size: Annotated[int, typer.Option("--min-size", min=2, help="The fewest images a cluster has.")] = 5,
    k: Annotated[int | None, typer.Option("-k", min=1, max=MAX_K,
                                          help="Neighbours per image in the graph (default: 10).")] = None,
    library: LibraryOption = None,
    exact: ExactOption = False,
    progress: ProgressOption = False,
    grid: GridOption = None,
    report: ReportOption = None,
    model: ModelOption = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = None,
    backend: BackendOption = None,
    device: DeviceOption = None,
    batch_size: BatchOption = None,
    workers: WorkersOption = None,
    max_megapixels: MegapixelsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Groups of images by content (HDBSCAN on the k-nearest-neighbour graph), each with a representative.

    One row per image: its cluster (numbered largest first; -1: in none) and whether it is the cluster's
    representative (its medoid).

    lookalike clusters ~/Pictures --min-size 3 --grid clusters.png
    """
    check_picture_outputs(grid, report)
    target = source(folder, library, model)
    if folder is not None:
        check_folder(folder)
    with service_for(folder, device, precision, batch_size, workers, max_megapixels, backend=backend) as service:
        answer = service.clusters(target, min_size, k, join_choice(exact), progress_bar("embedding", quiet),
                                  join_bar(progress, "clusters"))
    report_failures(answer.failures)
    said("clusters", answer.join)
    typer.echo(f"{len(answer.clusters)} cluster(s); {sum(m.cluster < 0 for m in answer.members)} image(s) in none",
               err=True)
    emit(["cluster", "path", "representative"],
         [[m.cluster, path_text(m.path), "true" if m.representative else "false"] for m in answer.members], fmt)
    _draw_clusters(answer.clusters, grid, report)


@app.command()
def outliers(
    folder: FolderArgument = None,
    k: Annotated[int, typer.Option("-k", min=1, max=MAX_K, help="Neighbours each image is compared with.")] = 10,
    top: Annotated[int | None, typer.Option("--top", min=1, max=MAX_K,
                                            help="Only the N most unusual (default: every image).")] = None,
    library: LibraryOption = None,
    exact: ExactOption = False,
    progress: ProgressOption = False,
    grid: GridOption = None,
    report: ReportOption = None,
    model: ModelOption = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = None,
    backend: BackendOption = None,
    device: DeviceOption = None,
    batch_size: BatchOption = None,
    workers: WorkersOption = None,
    max_megapixels: MegapixelsOption = None,
    quiet: QuietOption = False,
) -> None:
    """The images least like their neighbours, most unusual first.

    score: the mean similarity to the image's k nearest others (lower: more unusual).

    lookalike outliers ~/Pictures --top 20 --grid odd.png
    """
    check_picture_outputs(grid, report)
    target = source(folder, library, model)
    if folder is not None:
        check_folder(folder)
    with service_for(folder, device, precision, batch_size, workers, max_megapixels, backend=backend) as service:
        answer = service.outliers(target, k, top, join_choice(exact), progress_bar("embedding", quiet),
                                  join_bar(progress, "outliers"))
    report_failures(answer.failures)
    said("outliers", answer.join)
    rows = [(o.path, o.score) for o in answer.outliers]
    emit(["path", "score"], [[path_text(path), round(score, 4)] for path, score in rows], fmt)
    if grid is not None:
        from ..viz import search_grid

        _wrote(search_grid(None, rows, grid, title="Outliers, most unusual first"))
    if report is not None:
        from ..viz.report import command_line, write_report

        table = [[rank, path, score] for rank, (path, score) in enumerate(rows, start=1)]
        _wrote([write_report(report, "Outliers", ["rank", "image", "score"], table, image_columns=["image"],
                             command=command_line(), relative_to=Path.cwd())])


@app.command()
def formats(fmt: FormatOption = OutputFormat.table) -> None:
    """The image formats this install reads, and what to install for the others."""
    with service_for() as service:
        listed = service.formats()
    emit(["format", "extensions", "reads", "install", "note"],
         [[f.name, f.extensions, "yes" if f.readable else "no", f.install, f.note] for f in listed], fmt)


def _wrote(files: list[Path]) -> None:
    for written in files:
        typer.echo(f"wrote {written}", err=True)


def _draw_clusters(found: list[Any], grid: Path | None, report: Path | None) -> None:
    """One row per cluster (the representative first, marked), and/or a report listing every member."""
    if grid is not None:
        from ..viz import Member, duplicates_grid

        rows = [[Member(c.representative, ("representative",)),
                 *[Member(p) for p in c.members if p != c.representative][: GRID_MEMBERS - 1]] for c in found]
        _wrote(duplicates_grid(rows, grid, title="Clusters, largest first"))
    if report is not None:
        from ..viz.report import command_line, duplicates_report

        paths = [[c.representative, *[p for p in c.members if p != c.representative]] for c in found]
        labels = [["representative", *[""] * (len(group) - 1)] for group in paths]
        _wrote([duplicates_report(paths, report, labels=labels, command=command_line(), title="Clusters",
                                  relative_to=Path.cwd())])

