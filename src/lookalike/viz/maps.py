"""Maps of the embedding space. HTML: an interactive 2-D/3-D plotly scatter, self-contained (plotly.js
inlined), every point drawn, hovering a point shows its path and, for a seeded sample, its thumbnail.
PNG: a 2-D matplotlib scatter with thumbnails of a sample drawn as markers."""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, display_path
from ..extras import require
from .projection import Projection, kmeans, project, sample_indices
from .tiles import data_uri, thumbnail

HTML_THUMBNAILS = 2000
PNG_THUMBNAILS = 120
_TIP_ID = "lookalike-tip"
_HOW_TO = {2: "Drag to zoom, double-click to reset, click a legend entry to hide it.",
           3: "Drag to rotate, scroll to zoom, click a legend entry to hide it."}
_THUMBS_ID = "lookalike-thumbnails"

_HOVER_JS = """
var gd = document.getElementById('{plot_id}');
var thumbs = JSON.parse(document.getElementById('__THUMBS__').textContent);
var tip = document.createElement('div');
tip.id = '__TIP__';
tip.style.cssText = 'position:fixed;display:none;pointer-events:none;z-index:1000;background:#fff;' +
  'border:1px solid #999;border-radius:4px;padding:4px;box-shadow:0 2px 8px rgba(0,0,0,.25);' +
  'font:12px sans-serif;max-width:260px;word-break:break-all';
document.body.appendChild(tip);
var mouse = {x: 0, y: 0};
document.addEventListener('mousemove', function (e) { mouse.x = e.clientX; mouse.y = e.clientY; });
gd.on('plotly_hover', function (data) {
  var point = data.points[0], index = point.customdata, src = thumbs[index];
  tip.textContent = '';
  if (src) { var img = document.createElement('img'); img.src = src; img.style.display = 'block';
             img.style.maxWidth = '240px'; img.style.maxHeight = '240px'; tip.appendChild(img); }
  var caption = document.createElement('div'); caption.textContent = point.text; tip.appendChild(caption);
  var x = mouse.x + 16, y = mouse.y + 16;
  if (x + 270 > window.innerWidth) { x = Math.max(0, mouse.x - 276); }
  if (y + 280 > window.innerHeight) { y = Math.max(0, mouse.y - 290); }
  tip.style.left = x + 'px'; tip.style.top = y + 'px'; tip.style.display = 'block';
});
gd.on('plotly_unhover', function () { tip.style.display = 'none'; });
""".replace("__THUMBS__", _THUMBS_ID).replace("__TIP__", _TIP_ID)


@dataclass(frozen=True)
class MapData:
    """What a map shows: point coordinates, a group name per point, and the path texts."""

    projection: Projection
    groups: list[str]
    texts: list[str]


def prepare_map(paths: Sequence[Path], vectors: np.ndarray, method: str = "pca", dims: int = 2,
                labels: Sequence[str] | None = None, clusters: int = 8, seed: int = 0,
                root: Path | None = None) -> MapData:
    """Project `vectors` and name each point's group: its label when `labels` are given, else its
    k-means cluster (at most `clusters`, capped at the number of points)."""
    if len(paths) != len(vectors):
        raise InvalidArgumentError(f"{len(paths)} paths but {len(vectors)} vectors")
    if labels is not None and len(labels) != len(paths):
        raise InvalidArgumentError(f"{len(labels)} labels for {len(paths)} images")
    projection = project(vectors, method, dims, seed)
    if labels is not None:
        groups = [str(label) for label in labels]
    else:
        assigned = kmeans(vectors, clusters, seed)
        groups = [f"cluster {c + 1}" for c in assigned.tolist()]
    texts = [display_path(p.relative_to(root) if root is not None and p.is_relative_to(root) else p) for p in paths]
    return MapData(projection, groups, texts)


def check_map_output(out: str | os.PathLike[str], dims: int) -> Path:
    """`out` as a Path, after checking its kind (.html or .png) suits `dims` and its folder exists."""
    target = Path(out)
    kind = target.suffix.lower()
    if kind not in (".html", ".htm", ".png"):
        raise InvalidArgumentError("a map is written as .html (interactive) or .png", path=target)
    if kind == ".png" and dims != 2:
        raise InvalidArgumentError("PNG maps are 2-D; write a .html file for a 3-D map", path=target)
    if not target.parent.is_dir():
        raise InvalidArgumentError(f"the folder {display_path(target.parent)} does not exist", path=target)
    return target


def write_map(paths: Sequence[Path], vectors: np.ndarray, out: str | os.PathLike[str], *, method: str = "pca",
              dims: int = 2, labels: Sequence[str] | None = None, clusters: int = 8, seed: int = 0,
              title: str = "lookalike map", root: Path | None = None, thumbnails: int | None = None) -> Path:
    """Write the map of `vectors` (one row per path) to `out` (.html or .png); returns the file."""
    target = check_map_output(out, dims)
    data = prepare_map(paths, vectors, method, dims, labels, clusters, seed, root)
    if target.suffix.lower() == ".png":
        return map_png(data, paths, target, title, seed, PNG_THUMBNAILS if thumbnails is None else thumbnails)
    return map_html(data, paths, target, title, seed, HTML_THUMBNAILS if thumbnails is None else thumbnails)


def _group_order(groups: Sequence[str]) -> list[str]:
    """Groups by size, largest first (ties by name)."""
    counts: dict[str, int] = {}
    for group in groups:
        counts[group] = counts.get(group, 0) + 1
    return sorted(counts, key=lambda g: (-counts[g], g))


def build_figure(data: MapData, title: str) -> Any:
    """The plotly figure: one trace per group (largest first), every point, its index as customdata."""
    go = require("plotly.graph_objects", "viz", "an HTML map")

    coords = data.projection.coords
    dims = coords.shape[1]
    groups = np.asarray(data.groups)
    texts = np.asarray(data.texts, dtype=object)
    marker_size = 3 if len(coords) > 20000 else 5 if len(coords) > 2000 else 8
    figure = go.Figure()
    for group in _group_order(data.groups):
        members = np.flatnonzero(groups == group)
        common = {"name": f"{group} ({len(members)})", "text": texts[members], "customdata": members,
                  "mode": "markers", "hovertemplate": "%{text}<extra>%{fullData.name}</extra>"}
        if dims == 3:
            figure.add_trace(go.Scatter3d(x=coords[members, 0], y=coords[members, 1], z=coords[members, 2],
                                          marker={"size": max(2, marker_size - 2)}, **common))
        else:
            figure.add_trace(go.Scattergl(x=coords[members, 0], y=coords[members, 1],
                                          marker={"size": marker_size, "opacity": 0.8}, **common))
    axes = data.projection.axis_titles()
    if dims == 3:
        figure.update_layout(scene={"xaxis_title": axes[0], "yaxis_title": axes[1], "zaxis_title": axes[2]})
    else:
        figure.update_layout(xaxis_title=axes[0], yaxis_title=axes[1])
    figure.update_layout(title=heading(data, title), template="plotly_white", legend_title_text="colour",
                         hoverlabel={"namelength": -1}, margin={"l": 60, "r": 20, "t": 60, "b": 50})
    return figure


def heading(data: MapData, title: str) -> str:
    return f"{title}: {len(data.projection.coords):,} images, {data.projection.summary()}"


def map_html(data: MapData, paths: Sequence[Path], out: Path, title: str, seed: int = 0,
             thumbnails: int = HTML_THUMBNAILS) -> Path:
    """The interactive map, self-contained: plotly.js inlined, thumbnails of a seeded sample inlined
    as data: URIs (shown when a point is hovered)."""
    figure = build_figure(data, title)
    count = len(data.projection.coords)
    chosen = sample_indices(count, thumbnails, seed)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # decoding releases the GIL
        uris = list(pool.map(lambda i: data_uri(paths[int(i)], 128), chosen))
    thumbs = {int(i): uri for i, uri in zip(chosen, uris, strict=True)}
    page = figure.to_html(include_plotlyjs=True, full_html=True, default_width="100%", default_height="92vh",
                          config={"displaylogo": False, "showSendToCloud": False, "responsive": True},
                          post_script=_HOVER_JS)
    payload = json.dumps(thumbs).replace("</", "<\\/")
    note = (f'<p style="font:13px sans-serif;color:#555;margin:4px 8px">Hover a point for its path; '
            f"{len(thumbs):,} of {count:,} points carry a thumbnail. {_HOW_TO[data.projection.coords.shape[1]]}</p>")
    extra = f'{note}<script type="application/json" id="{_THUMBS_ID}">{payload}</script>'
    page = page.replace("<body>", "<body>" + extra, 1)
    page = page.replace("<head>", f"<head><title>{html.escape(title)}</title>", 1)
    out.write_text(page, encoding="utf-8")
    return out


def map_png(data: MapData, paths: Sequence[Path], out: Path, title: str, seed: int = 0,
            thumbnails: int = PNG_THUMBNAILS) -> Path:
    """The static map: every point as a dot coloured by group, thumbnails of a sample as markers."""
    matplotlib = require("matplotlib", "viz", "a PNG map")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    coords = data.projection.coords
    groups = np.asarray(data.groups)
    order = _group_order(data.groups)
    figure, axis = plt.subplots(figsize=(12, 10))
    palette = plt.get_cmap("tab10" if len(order) <= 10 else "tab20")
    for number, group in enumerate(order):
        members = groups == group
        axis.scatter(coords[members, 0], coords[members, 1], s=6 if len(coords) > 5000 else 14,
                     color=palette(number % palette.N), alpha=0.7, linewidths=0,
                     label=f"{group} ({int(members.sum())})" if number < 20 else None)
    for index in sample_indices(len(coords), thumbnails, seed).tolist():
        picture = np.asarray(thumbnail(paths[index], 48))
        colour = palette(order.index(data.groups[index]) % palette.N)
        box = AnnotationBbox(OffsetImage(picture, zoom=1.0), (coords[index, 0], coords[index, 1]), frameon=True,
                             pad=0.15, bboxprops={"edgecolor": colour, "linewidth": 1.5})
        axis.add_artist(box)
    axes = data.projection.axis_titles()
    axis.set_xlabel(axes[0])
    axis.set_ylabel(axes[1])
    axis.set_title(heading(data, title))
    if len(order) > 1:
        axis.legend(fontsize=8, markerscale=2, loc="best", title="colour" if len(order) <= 20 else "first 20")
    axis.grid(True, alpha=0.2)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out
