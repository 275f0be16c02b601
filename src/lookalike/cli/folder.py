"""Commands on plain folders (using the folder's library when it has one): compare, search, and the
model list (pairs and match are in cli/pairs.py, duplicates in cli/dedupe.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import operations
from ..embedders import list_models
from ..errors import LookalikeError
from ..output import OutputFormat
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
    make_embedder,
    path_text,
    pipeline_options,
    report_failures,
)


@app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="First image.")],
    b: Annotated[Path, typer.Argument(help="Second image.")],
    model: ModelOption = None,
    show: Annotated[Path | None, typer.Option(help="Write the two images side by side to this PNG.")] = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = PrecisionChoice.auto,
    device: DeviceOption = "auto",
) -> None:
    """Cosine similarity of two images."""
    score = operations.compare(a, b, make_embedder(model, device, precision))
    emit(["a", "b", "score"], [[path_text(a), path_text(b), round(score, 4)]], fmt)
    if show is not None:
        from ..viz import side_by_side

        side_by_side(a, b, score, show)
        typer.echo(f"wrote {show}", err=True)


@app.command()
def search(
    query: Annotated[Path | None, typer.Argument(help="Query image (omit with --text).")] = None,
    folder: Annotated[Path | None, typer.Argument(help="Folder of images to search (or use --library).")] = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="How many results.")] = 5,
    text: Annotated[str | None, typer.Option(help="Text query (SigLIP/CLIP), alone or with an image.")] = None,
    text_weight: Annotated[float, typer.Option(min=0, max=1, help="Weight of --text beside an image.")] = 0.5,
    threshold: Annotated[float | None, typer.Option(help="Only results with at least this score.")] = None,
    library: LibraryOption = None,
    exact: Annotated[bool, typer.Option(help="Exact search even when the library has an ANN index.")] = False,
    ef_search: Annotated[int | None, typer.Option(min=1, help="HNSW search breadth (library).")] = None,
    nprobe: Annotated[int | None, typer.Option(min=1, help="IVF lists to visit (library).")] = None,
    model: ModelOption = None,
    show: Annotated[Path | None, typer.Option(help="Write a PNG grid of the query and its results.")] = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = PrecisionChoice.auto,
    device: DeviceOption = "auto",
    batch_size: BatchOption = 32,
    workers: WorkersOption = 0,
    max_megapixels: MegapixelsOption = 100.0,
    quiet: QuietOption = False,
) -> None:
    """The top-k images most similar to QUERY (an image), to --text, or to both.

    \b
    lookalike search photo.jpg ~/Pictures -k 10
    lookalike search --text "a dog on grass" ~/Pictures
    lookalike search photo.jpg --library ~/Pictures/.lookalike --exact
    """
    if library is not None:
        from ..store import Library

        if folder is not None:
            raise LookalikeError("give either a FOLDER or --library, not both")
        with Library.open(library=library, model=model, readonly=True,
                          **embed_options(device, precision)) as opened:
            matches = opened.search(query, text=text, k=k, text_weight=text_weight, threshold=threshold,
                                    exact=exact, ef_search=ef_search, nprobe=nprobe)
    else:
        if folder is None and query is not None and text is not None:
            query, folder = None, query
        if folder is None:
            raise LookalikeError("search needs a folder: lookalike search QUERY FOLDER (or --library DIR)")
        result = operations.search(
            folder, query=query, text=text, k=k, model=make_embedder(model, device, precision),
            text_weight=text_weight, options=pipeline_options(batch_size, workers, max_megapixels, quiet),
        )
        report_failures(result.failures)
        matches = [m for m in result.matches if threshold is None or m.score >= threshold]
    emit(["path", "score"], [[path_text(m.path), round(m.score, 4)] for m in matches], fmt)
    if show is not None:
        from ..viz import result_grid

        result_grid(query, [(m.path, m.score) for m in matches], show, title=text)
        typer.echo(f"wrote {show}", err=True)


@app.command()
def models(fmt: FormatOption = OutputFormat.table) -> None:
    """The models lookalike knows, their vector size, text support and offline availability."""
    rows = [
        [info.name, info.source, info.dim, "yes" if info.text else "no",
         "yes" if info.available_offline() else "no", info.description]
        for info in list_models()
    ]
    emit(["name", "source", "dim", "text", "offline", "description"], rows, fmt)
