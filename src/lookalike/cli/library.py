"""Commands on a persistent library: index (create or update), status, export, import, remove."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..errors import LibraryError
from ..output import OutputFormat
from ..types import Source
from .common import (
    BackendOption,
    BatchOption,
    DeviceOption,
    FormatOption,
    LibraryOption,
    MegapixelsOption,
    ModelOption,
    PrecisionOption,
    QuietOption,
    StoreOption,
    WorkersOption,
    app,
    emit,
    one_line,
    path_text,
    progress_bar,
    report_failures,
    report_unreadable,
    score_value,
    service_for,
)


class IndexChoice(str, Enum):
    """FAISS index types."""

    auto = "auto"
    flat = "flat"
    hnsw = "hnsw"
    ivf = "ivf"


class EngineChoice(str, Enum):
    """Who embeds during index."""

    local = "local"
    ray = "ray"


class ExportFormat(str, Enum):
    """Export file formats."""

    parquet = "parquet"
    npy = "npy"


@app.command()
def index(
    folder: Annotated[Path, typer.Argument(help="Folder of images to index (recursively).")],
    library: LibraryOption = None,
    model: ModelOption = None,
    store: StoreOption = None,
    index_type: Annotated[IndexChoice | None, typer.Option(
        "--index", help="auto: exact flat below 50,000 images, HNSW above; ivf is memory-mapped.")] = None,
    ef_search: Annotated[int | None, typer.Option(min=1, max=1_000_000, help="HNSW default search breadth.")]
    = None,
    nprobe: Annotated[int | None, typer.Option(min=1, max=1_000_000, help="IVF default lists to visit.")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Try files that failed before, even if unchanged.")] = False,
    rebuild_index: Annotated[bool, typer.Option(help="Rebuild the FAISS index and manifest from the catalog.")]
    = False,
    rehash: Annotated[bool, typer.Option(help="Hash every file, even those whose size and times are unchanged.")]
    = False,
    report_duplicates: Annotated[bool, typer.Option(
        help="Print the new files that duplicate files already indexed (instead of the summary).")] = False,
    duplicate_threshold: Annotated[float | None, typer.Option(
        callback=score_value, help="Similarity at which a new file counts as a duplicate (default: the model's "
        "calibrated decision, borderline pairs checked by keypoints, as in duplicates).")] = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = None,
    backend: BackendOption = None,
    device: DeviceOption = None,
    batch_size: BatchOption = None,
    workers: WorkersOption = None,
    max_megapixels: MegapixelsOption = None,
    engine: Annotated[EngineChoice | None, typer.Option(
        help="local: embed in this process; ray: on Ray Data actors (pip install 'lookalike[scale]'; default: "
        "local; LOOKALIKE_ENGINE).")] = None,
    address: Annotated[str | None, typer.Option(
        help="Ray cluster for --engine ray: auto or ray://HOST:PORT (default: a local Ray on 127.0.0.1; "
        "LOOKALIKE_RAY_ADDRESS).")] = None,
    actors: Annotated[int, typer.Option(min=1, max=10_000, help="Ray actors holding the model.")] = 2,
    cpus_per_actor: Annotated[float, typer.Option(min=0.01, help="CPUs each Ray actor reserves (fractions allowed).")]
    = 0.5,
    gpus_per_actor: Annotated[float, typer.Option(min=0, help="GPUs each Ray actor reserves.")] = 0.0,
    shards: Annotated[Path | None, typer.Option(
        help="Keep Ray's Parquet shards in this new folder (for build-index; default: removed after ingest).")]
    = None,
    quiet: QuietOption = False,
) -> None:
    """Create or update the library of FOLDER: embed only new or changed files, drop deleted ones.

    New files that duplicate files already indexed (same content, or an edited copy by the calibrated
    decision of duplicates, or similarity >= --duplicate-threshold) are counted on stderr, and listed
    with --report-duplicates.
    """
    if not folder.is_dir():
        raise LibraryError("not a folder", path=folder, argument="folder")
    with service_for(folder, device, precision, batch_size, workers, max_megapixels, store=store,
                     backend=backend) as service:
        from ..service import RayOptions

        params = service.index_params(index_type.value if index_type else None, ef_search, nprobe)
        ray = RayOptions(address=address or service.settings.ray_address, actors=actors,
                         cpus_per_actor=cpus_per_actor, gpus_per_actor=gpus_per_actor,
                         batch_size=batch_size or 64, shards=shards)
        chosen = engine.value if engine else ("ray" if address else None)
        outcome = service.index(folder, library, model, progress_bar("indexing", quiet), retry_failed, params,
                                rebuild_index, rehash, duplicate_threshold, chosen, ray)
    report, found = outcome.report, outcome.duplicates
    if outcome.ray is not None and outcome.ray.files:
        typer.echo(f"ray: embedded {outcome.ray.embedded} of {outcome.ray.files} files with {outcome.ray.actors} "
                   f"actors in {outcome.ray.seconds:.1f} s ({outcome.ray.failed} failed)", err=True)
    report_failures(report.failures)
    report_unreadable(report.unreadable)
    typer.echo(f"library: {path_text(outcome.location)}", err=True)
    if outcome.checked:
        exact = sum(d.kind == "exact" for d in found)
        typer.echo(f"new files that duplicate indexed ones: {len(found)} of {report.added} ({exact} exact, "
                   f"{len(found) - exact} near)", err=True)
    columns = ["added", "updated", "moved", "deleted", "unchanged", "failed", "index_rebuilt", "seconds"]
    summary = [report.added, report.updated, report.moved, report.deleted, report.unchanged,
               len(report.failures), "yes" if report.index_rebuilt else "no", round(report.seconds, 2)]
    if report_duplicates:
        typer.echo(" ".join(f"{c}={v}" for c, v in zip(columns, summary, strict=True)), err=True)
        emit(["path", "duplicate_of", "kind", "score"],
             [[path_text(d.path), path_text(d.existing), d.kind, round(d.score, 4)] for d in found], fmt)
    else:
        emit(columns, [summary], fmt)


@app.command("build-index")
def build_index(
    shards: Annotated[Path, typer.Argument(help="Folder of Parquet shards (from index --engine ray --shards).")],
    library: Annotated[Path, typer.Option("--library", "-L", help="Directory of the new library.")],
    memory: Annotated[str, typer.Option(help="Memory for vectors, e.g. 4GB: beyond it the IVF lists stay on disk.")]
    = "4GB",
    root: Annotated[Path | None, typer.Option(help="The folder the shards index (default: as recorded).")] = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Build a library (catalog + FAISS index) from Parquet shards without holding every vector in memory."""
    import time

    started = time.perf_counter()
    with service_for(None) as service:
        report, location = service.build_index(shards, library, memory, root)
    typer.echo(f"library: {path_text(location)}", err=True)
    emit(["indexed", "failed", "index", "seconds"],
         [[report.indexed, report.failed, report.index, round(time.perf_counter() - started, 2)]], fmt)


@app.command()
def status(
    folder: Annotated[Path | None, typer.Argument(help="Indexed folder (or use --library).")] = None,
    library: LibraryOption = None,
    model: ModelOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Counts (indexed, failed, pending) and the files that failed, with their reasons."""
    with service_for(folder, store=store) as service:
        stats = service.status(Source(folder, library, model))
    emit(["root", "model", "dim", "index", "indexed", "failed", "pending", "missing"],
         [[path_text(stats.root), stats.model, stats.dim, stats.index, stats.indexed, stats.failed,
           stats.pending if stats.pending is not None else "?", stats.missing if stats.missing is not None else "?"]],
         fmt)
    for path, reason in stats.failures:
        typer.echo(one_line(f"failed: {path_text(path)}: {reason}"), err=True)


@app.command("export")
def export_command(
    out: Annotated[Path, typer.Argument(help="Output file (.parquet, or a stem for .npy + .json).")],
    folder: Annotated[Path | None, typer.Argument(help="Indexed folder (or use --library).")] = None,
    library: LibraryOption = None,
    model: ModelOption = None,
    store: StoreOption = None,
    export_format: Annotated[ExportFormat, typer.Option("--format", "-f", help="File format.")]
    = ExportFormat.parquet,
) -> None:
    """Write ids, paths, hashes and vectors of a library (Parquet, or .npy with a JSON sidecar)."""
    with service_for(folder, store=store) as service:
        for written in service.export(Source(folder, library, model), out, export_format.value):
            typer.echo(f"wrote {written}", err=True)


@app.command("import")
def import_command(
    source: Annotated[Path, typer.Argument(help="A .parquet export, or the .npy of an npy export.")],
    library: LibraryOption = None,
    root: Annotated[Path | None, typer.Option(help="Folder the paths are relative to (default: as exported).")]
    = None,
) -> None:
    """Build a library from an export (no model needed)."""
    with service_for(None) as service:
        count, location = service.import_vectors(source, library, root)
    typer.echo(f"imported {count} vectors into {location}", err=True)


@app.command()
def remove(
    files: Annotated[list[Path], typer.Argument(help="Files to drop from the library.")],
    library: LibraryOption = None,
    folder: Annotated[Path | None, typer.Option(help="Indexed folder (or use --library).")] = None,
    model: ModelOption = None,
) -> None:
    """Drop files from a library (files still on disk return at the next `index`)."""
    with service_for(folder) as service:
        removed = service.remove(Source(folder, library, model), list(files))
    typer.echo(f"removed {removed} file(s)", err=True)
