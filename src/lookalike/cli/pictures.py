"""`lookalike map`: a picture of a library's embedding space (interactive HTML or PNG), from the stored
vectors only (no model is loaded)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InvalidArgumentError
from ..types import Source
from .common import LibraryOption, ModelOption, QuietOption, app, progress_bar, service_for


class MapMethod(StrEnum):
    """Projection methods."""

    pca = "pca"
    umap = "umap"


@app.command("map")
def map_command(
    folder: Annotated[Path | None, typer.Argument(help="An indexed folder (or use --library).")] = None,
    library: LibraryOption = None,
    model: ModelOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="map.html (interactive, 2-D or 3-D) or map.png (2-D).")]
    = Path("map.html"),
    method: Annotated[MapMethod, typer.Option(help="pca (fast, exact) or umap (needs umap-learn).")]
    = MapMethod.pca,
    dims: Annotated[int, typer.Option(min=2, max=3, help="2 or 3 dimensions (3 needs .html).")] = 2,
    labels: Annotated[Path | None, typer.Option(help="CSV with path,label (paths relative to the folder): "
                                                "colour by label.")] = None,
    clusters: Annotated[int, typer.Option(min=1, help="Without --labels, colour by this many k-means clusters "
                                          "(at most one per image).")] = 8,
    thumbnails: Annotated[int | None, typer.Option(min=0, help="Points shown with a thumbnail, a seeded sample "
                                                   "(default: 2000 in HTML, 120 in PNG).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for k-means, UMAP and the thumbnail sample.")] = 0,
    quiet: QuietOption = False,
) -> None:
    """A map of the images of a folder or a library: similar images land close together.

    lookalike index ~/Pictures && lookalike map ~/Pictures --out map.html
    lookalike map --library lib/ --method umap --dims 3 --out map3d.html
    lookalike map photos/ --labels labels.csv --out map.png
    """
    from ..viz.maps import check_map_output
    from ..viz.projection import require_umap

    if folder is None and library is None:
        raise InvalidArgumentError("map needs a FOLDER or --library DIR", argument="folder")
    if folder is not None and library is not None:
        raise InvalidArgumentError("give either a FOLDER or --library, not both", argument="library")
    check_map_output(out, dims)
    if labels is not None and not labels.is_file():
        raise InvalidArgumentError(f"--labels {labels}: no such labels file", argument="labels")
    if method is MapMethod.umap:
        require_umap()
    with service_for(folder) as service:
        drawn = service.map(Source(folder, library, model), out, method.value, dims, labels, clusters, thumbnails,
                            seed, progress_bar("embedding", quiet))
    typer.echo(f"wrote {drawn.written} ({drawn.images:,} images)", err=True)


__all__ = ["map_command"]
