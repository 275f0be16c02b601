"""Commands on plain folders (using the folder's library when it has one): compare, search, and the
model list (pairs and match are in cli/pairs.py, duplicates in cli/dedupe.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ImageReadError, InvalidArgumentError
from ..output import OutputFormat, time_cell
from ..types import Query, Source
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
    StoreOption,
    WorkersOption,
    app,
    check_picture_outputs,
    emit,
    path_text,
    progress_bar,
    report_failures,
    score_value,
    service_for,
    weight_value,
)
from .drawing import grid_then_report


def check_query(path: Path | None, argument: str = "query") -> None:
    """A query image must be a regular file (a folder, FIFO, device or link loop says why)."""
    from ..images import not_regular_reason

    if path is not None and (reason := not_regular_reason(path)) is not None:
        raise ImageReadError(path, reason, argument=argument)


def check_folder(folder: Path) -> None:
    """A folder argument must be a folder (checked before any model loads)."""
    from ..service import require_folder

    require_folder(folder)


@app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="First image.")],
    b: Annotated[Path, typer.Argument(help="Second image.")],
    model: ModelOption = None,
    show: Annotated[Path | None, typer.Option(help="Write the two images side by side to this PNG.")] = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = None,
    backend: BackendOption = None,
    device: DeviceOption = None,
) -> None:
    """Cosine similarity of two images."""
    check_query(a, "a")
    check_query(b, "b")
    with service_for(None, device, precision, backend=backend) as service:
        score = service.compare(a, b, model)
    emit(["a", "b", "score"], [[path_text(a), path_text(b), round(score, 4)]], fmt)
    if show is not None:
        from ..viz import side_by_side

        side_by_side(a, b, score, show)
        typer.echo(f"wrote {show}", err=True)


@app.command()
def search(
    query: Annotated[Path | None, typer.Argument(help="Query image (omit with --text).")] = None,
    folder: Annotated[Path | None, typer.Argument(help="Folder of images to search (or use --library).")] = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, max=MAX_K,
                                   help="How many results (at most the collection's size).")] = 5,
    text: Annotated[str | None, typer.Option(help="Text query (SigLIP/CLIP), alone or with an image.")] = None,
    text_weight: Annotated[float, typer.Option(callback=weight_value, help="Weight of --text beside an image.")]
    = 0.5,
    invariant: Annotated[bool, typer.Option(help="Also match the query's mirror and 90/180/270 rotations (best "
                                            "score kept; the index keeps one vector per image).")] = False,
    threshold: Annotated[float | None, typer.Option(callback=score_value,
                                                    help="Only results with at least this score (-1 to 1).")] = None,
    library: LibraryOption = None,
    exact: Annotated[bool, typer.Option(help="Exact search even when the library has an ANN index.")] = False,
    ef_search: Annotated[int | None, typer.Option(min=1, max=1_000_000, help="HNSW search breadth (library).")]
    = None,
    nprobe: Annotated[int | None, typer.Option(min=1, max=1_000_000, help="IVF lists to visit (library).")] = None,
    model: ModelOption = None,
    store: StoreOption = None,
    grid: Annotated[Path | None, typer.Option(
        "--grid", "--show", help="PNG grid of the query and its results (long answers: out-2.png, ...).")] = None,
    report: Annotated[Path | None, typer.Option(help="Self-contained HTML report of the results.")] = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = None,
    backend: BackendOption = None,
    device: DeviceOption = None,
    batch_size: BatchOption = None,
    workers: WorkersOption = None,
    max_megapixels: MegapixelsOption = None,
    quiet: QuietOption = False,
) -> None:
    """The top-k images most similar to QUERY (an image), to --text, or to both.

    lookalike search photo.jpg ~/Pictures -k 10
    lookalike search --text "a dog on grass" ~/Pictures
    lookalike search photo.jpg --library ~/Pictures/.lookalike --exact
    lookalike search photo.jpg ~/Pictures --grid results.png --report results.html
    """
    check_picture_outputs(grid, report)

    if library is not None and folder is not None:
        raise InvalidArgumentError("give either a FOLDER or --library, not both", argument="library")
    if library is None and folder is None and query is not None and text is not None:
        query, folder = None, query  # `search --text T FOLDER`
    if library is None and folder is None:
        raise InvalidArgumentError("search needs a folder: lookalike search QUERY FOLDER (or --library DIR)",
                                   argument="folder")
    check_query(query)
    if folder is not None:
        check_folder(folder)
    asked = Query(query, text, text_weight, invariant=invariant)
    with service_for(folder, device, precision, batch_size, workers, max_megapixels, store=store,
                     backend=backend) as service:
        result = service.search(Source(folder, library, model), asked, k=k, threshold=threshold, exact=exact,
                                ef_search=ef_search, nprobe=nprobe, progress=progress_bar("embedding", quiet))
    if library is None:
        report_failures(result.failures)
    matches = result.matches
    if any(m.time is not None for m in matches):  # a hit on a video says which moment
        emit(["path", "time", "score"], [[path_text(m.path), time_cell(m.time, fmt), round(m.score, 4)]
                                         for m in matches], fmt)
    else:
        emit(["path", "score"], [[path_text(m.path), round(m.score, 4)] for m in matches], fmt)
    hits = [(m.path, m.score) for m in matches]

    def draw_grid(target: Path) -> None:
        from ..viz import search_grid

        for written in search_grid(query, hits, target, title=f"“{text}”" if text else None):
            typer.echo(f"wrote {written}", err=True)

    def write(target: Path) -> None:
        from ..viz.report import command_line, search_report

        search_report(query, hits, target, text=text, command=command_line(), relative_to=Path.cwd())
        typer.echo(f"wrote {target}", err=True)

    grid_then_report(grid, draw_grid, report, write)


@app.command()
def models(fmt: FormatOption = OutputFormat.table) -> None:
    """The models lookalike knows, their vector size, text support and offline availability."""
    with service_for(None) as service:
        known = service.models()
    rows = [
        [info.name, info.source, info.dim, "yes" if info.text else "no",
         "yes" if info.available_offline() else "no", info.description]
        for info in known
    ]
    emit(["name", "source", "dim", "text", "offline", "description"], rows, fmt)
