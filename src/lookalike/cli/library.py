"""Commands on a persistent library: index (create or update), status, export, import, remove."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..errors import LookalikeError
from ..matching import DUPLICATE_THRESHOLD, added_duplicates, next_file_id
from ..output import OutputFormat
from ..store import Library
from ..store.vectors import IndexParams
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
    embed_options,
    emit,
    path_text,
    pipeline_options,
    report_failures,
)


class IndexChoice(str, Enum):
    """FAISS index types."""

    auto = "auto"
    flat = "flat"
    hnsw = "hnsw"
    ivf = "ivf"


class ExportFormat(str, Enum):
    """Export file formats."""

    parquet = "parquet"
    npy = "npy"


@app.command()
def index(
    folder: Annotated[Path, typer.Argument(help="Folder of images to index (recursively).")],
    library: LibraryOption = None,
    model: ModelOption = None,
    index_type: Annotated[IndexChoice | None, typer.Option(
        "--index", help="auto: exact flat below 50,000 images, HNSW above; ivf is memory-mapped.")] = None,
    ef_search: Annotated[int | None, typer.Option(min=1, help="HNSW default search breadth.")] = None,
    nprobe: Annotated[int | None, typer.Option(min=1, help="IVF default lists to visit.")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Try files that failed before, even if unchanged.")] = False,
    rebuild_index: Annotated[bool, typer.Option(help="Rebuild the FAISS index and manifest from the catalog.")]
    = False,
    report_duplicates: Annotated[bool, typer.Option(
        help="Print the new files that duplicate files already indexed (instead of the summary).")] = False,
    duplicate_threshold: Annotated[float, typer.Option(
        min=-1, max=1, help="Similarity at which a new file counts as a duplicate.")] = DUPLICATE_THRESHOLD,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = PrecisionChoice.auto,
    device: DeviceOption = "auto",
    batch_size: BatchOption = 32,
    workers: WorkersOption = 0,
    max_megapixels: MegapixelsOption = 100.0,
    quiet: QuietOption = False,
) -> None:
    """Create or update the library of FOLDER: embed only new or changed files, drop deleted ones.
    New files that duplicate files already indexed (same content, or similarity >= --duplicate-threshold)
    are counted on stderr, and listed with --report-duplicates."""
    params = None
    if index_type is not None or ef_search is not None or nprobe is not None:
        params = IndexParams(kind=(index_type or IndexChoice.auto).value, ef_search=ef_search, nprobe=nprobe)
    with Library.open(folder, model=model, library=library, create=True,
                      **embed_options(device, precision)) as opened:
        first_new = next_file_id(opened)
        report = opened.sync(
            retry_failed=retry_failed, index_params=params, rebuild_index=rebuild_index,
            options=pipeline_options(batch_size, workers, max_megapixels, quiet, label="indexing"),
        )
        report_failures(report.failures)
        typer.echo(f"library: {opened.paths.directory}", err=True)
        checked = report.added > 0 and first_new > 1  # new files beside files indexed before
        found = added_duplicates(opened, first_new, duplicate_threshold) if checked else []
        if checked:
            exact = sum(d.kind == "exact" for d in found)
            typer.echo(f"{len(found)} of {report.added} new file(s) duplicate files already indexed "
                       f"({exact} exact, {len(found) - exact} near)", err=True)
        columns = ["added", "updated", "moved", "deleted", "unchanged", "failed", "index_rebuilt", "seconds"]
        summary = [report.added, report.updated, report.moved, report.deleted, report.unchanged,
                   len(report.failures), "yes" if report.index_rebuilt else "no", round(report.seconds, 2)]
        if report_duplicates:
            typer.echo(" ".join(f"{c}={v}" for c, v in zip(columns, summary, strict=True)), err=True)
            emit(["path", "duplicate_of", "kind", "score"],
                 [[path_text(d.path), path_text(d.existing), d.kind, round(d.score, 4)] for d in found], fmt)
        else:
            emit(columns, [summary], fmt)


@app.command()
def status(
    folder: Annotated[Path | None, typer.Argument(help="Indexed folder (or use --library).")] = None,
    library: LibraryOption = None,
    model: ModelOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Counts (indexed, failed, pending) and the files that failed, with their reasons."""
    with Library.open(folder, model=model, library=library, readonly=True) as opened:
        stats = opened.stats()
    emit(["root", "model", "dim", "index", "indexed", "failed", "pending", "missing"],
         [[stats.root, stats.model, stats.dim, stats.index, stats.indexed, stats.failed,
           stats.pending if stats.pending is not None else "?", stats.missing if stats.missing is not None else "?"]],
         fmt)
    for path, reason in stats.failures:
        typer.echo(f"failed: {path_text(path)}: {reason}", err=True)


@app.command("export")
def export_command(
    out: Annotated[Path, typer.Argument(help="Output file (.parquet, or a stem for .npy + .json).")],
    folder: Annotated[Path | None, typer.Argument(help="Indexed folder (or use --library).")] = None,
    library: LibraryOption = None,
    model: ModelOption = None,
    export_format: Annotated[ExportFormat, typer.Option("--format", "-f", help="File format.")]
    = ExportFormat.parquet,
) -> None:
    """Write ids, paths, hashes and vectors of a library (Parquet, or .npy with a JSON sidecar)."""
    from ..store.exchange import export_library

    with Library.open(folder, model=model, library=library, readonly=True) as opened:
        for written in export_library(opened, out, export_format.value):
            typer.echo(f"wrote {written}", err=True)


@app.command("import")
def import_command(
    source: Annotated[Path, typer.Argument(help="A .parquet export, or the .npy of an npy export.")],
    library: LibraryOption = None,
    root: Annotated[Path | None, typer.Option(help="Folder the paths are relative to (default: as exported).")]
    = None,
) -> None:
    """Build a library from an export (no model needed)."""
    from ..store.exchange import import_library

    if not source.exists():
        raise LookalikeError(f"{source}: no such file")
    with import_library(source, library, root) as created:
        typer.echo(f"imported {created.stats(scan=False).indexed} vectors into {created.paths.directory}", err=True)


@app.command()
def remove(
    files: Annotated[list[Path], typer.Argument(help="Files to drop from the library.")],
    library: LibraryOption = None,
    folder: Annotated[Path | None, typer.Option(help="Indexed folder (or use --library).")] = None,
    model: ModelOption = None,
) -> None:
    """Drop files from a library (files still on disk return at the next `index`)."""
    with Library.open(folder, model=model, library=library) as opened:
        typer.echo(f"removed {opened.remove(list(files))} file(s)", err=True)
