"""Self-contained HTML reports: one file with the thumbnails inlined as data: URIs, tables that sort
when a column heading is clicked (a few lines of inline JavaScript), the command that produced the
report and the date. Nothing is loaded from the network, so the file opens offline and can be mailed."""

from __future__ import annotations

import datetime as dt
import html
import os
import shlex
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError, display_path
from .tiles import data_uri, png_data_uri

PathLike = str | os.PathLike[str]

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:24px;color:#1a1a1a}
h1{font-size:22px;margin:0 0 4px} .meta{color:#666;margin-bottom:16px} code{background:#f3f3f3;padding:1px 4px}
table{border-collapse:collapse;margin-top:12px} th,td{border-bottom:1px solid #e3e3e3;padding:6px 10px;
text-align:left;vertical-align:middle} th{cursor:pointer;background:#fafafa;user-select:none;position:sticky;top:0}
th[data-dir=asc]::after{content:" ▲"} th[data-dir=desc]::after{content:" ▼"}
td img{max-width:120px;max-height:120px;display:block} .path{color:#555;font-size:12px;word-break:break-all}
.lead{display:flex;gap:16px;align-items:flex-end} .lead img{max-height:200px} figure{margin:12px 0}
"""

_SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var dir = th.dataset.dir === "asc" ? "desc" : "asc";
      table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = dir;
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var key = function (row) {
        var c = row.cells[column];
        return c.dataset.sort !== undefined ? c.dataset.sort : c.textContent;
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
        var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return dir === "asc" ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def command_line() -> str:
    """The running `lookalike` command as one shell-quoted line."""
    return shlex.join(["lookalike", *sys.argv[1:]])


def _check_output(out: PathLike) -> Path:
    target = Path(out)
    if target.suffix.lower() not in (".html", ".htm"):
        raise InvalidArgumentError("reports are HTML files; give a name ending in .html", path=target)
    if not target.parent.is_dir():
        raise InvalidArgumentError(f"the folder {display_path(target.parent)} does not exist", path=target)
    return target


def _shown(path: PathLike, base: Path | None) -> str:
    """`path` as text, relative to `base` when it lies below it."""
    candidate = Path(path)
    if base is not None and candidate.is_absolute() and candidate.is_relative_to(base):
        candidate = candidate.relative_to(base)
    return display_path(candidate)


def _image_cell(path: PathLike, cache: dict[str, str], side: int, base: Path | None) -> str:
    key = os.fspath(path)
    if key not in cache:
        cache[key] = data_uri(path, side)
    text = html.escape(_shown(path, base))
    return (f'<td data-sort="{text}"><img src="{cache[key]}" alt="{text}" loading="lazy">'
            f'<div class="path">{text}</div></td>')


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<td data-sort="{value!r}">{value:.4f}</td>'
    return f"<td>{html.escape(display_path(value) if isinstance(value, os.PathLike) else str(value))}</td>"


def write_report(
    out: PathLike,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    image_columns: Collection[str] = (),
    command: str | None = None,
    lead_images: Sequence[tuple[str, PathLike]] = (),
    figures: Sequence[PathLike] = (),
    notes: Sequence[str] = (),
    thumbnail_side: int = 160,
    relative_to: PathLike | None = None,
) -> Path:
    """Write one self-contained HTML file: `title`, the command and date, optional `lead_images`
    (caption, image: e.g. the query), `notes`, PNG `figures`, then a sortable table of `rows` in which
    the cells of `image_columns` are shown as thumbnails with their path (relative to `relative_to` when
    below it). Returns the file written."""
    target = _check_output(out)
    unknown = set(image_columns) - set(columns)
    if unknown:
        raise InvalidArgumentError(f"image columns {sorted(unknown)} are not among the columns {list(columns)}")
    images = {columns.index(name) for name in image_columns}
    base = Path(relative_to).resolve() if relative_to is not None else None
    cache: dict[str, str] = {}
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>", f'<div class="meta">{html.escape(stamp)}']
    if command:
        parts.append(f" · <code>{html.escape(command)}</code>")
    parts.append("</div>")
    if lead_images:
        parts.append('<div class="lead">')
        for caption, path in lead_images:
            text = html.escape(_shown(path, base))
            parts.append(f'<figure><img src="{data_uri(path, 320)}" alt="{text}">'
                         f"<figcaption>{html.escape(caption)}: {text}</figcaption></figure>")
        parts.append("</div>")
    parts.extend(f"<p>{html.escape(note)}</p>" for note in notes)
    for figure in figures:
        parts.append(f'<figure><img src="{png_data_uri(figure)}" alt="chart"></figure>')
    parts.append(f'<p>{len(rows)} row(s); click a column heading to sort.</p><table class="sortable"><thead><tr>')
    parts.extend(f"<th>{html.escape(name)}</th>" for name in columns)
    parts.append("</tr></thead><tbody>")
    for row in rows:
        cells = [_image_cell(value, cache, thumbnail_side, base) if i in images else _cell(value)
                 for i, value in enumerate(row)]
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append(f"</tbody></table><script>{_SORT_JS}</script></body></html>")
    target.write_text("\n".join(parts), encoding="utf-8")
    return target


def search_report(query: PathLike | None, hits: Sequence[tuple[PathLike, float]], out: PathLike, *,
                  text: str | None = None, command: str | None = None, relative_to: PathLike | None = None) -> Path:
    """A search answer: the query image (when there is one) on top, then rank, image and score."""
    title = "Search results" + (f" for “{text}”" if text else "")
    rows = [[rank, path, float(score)] for rank, (path, score) in enumerate(hits, start=1)]
    return write_report(out, title, ["rank", "image", "score"], rows, image_columns=["image"], command=command,
                        lead_images=[("query", query)] if query is not None else (), relative_to=relative_to)


def pairs_report(pairs: Sequence[tuple[PathLike, PathLike, float]], out: PathLike, *,
                 command: str | None = None, title: str = "Most similar pairs",
                 relative_to: PathLike | None = None) -> Path:
    """One table row per pair: rank, a, b, score."""
    rows = [[rank, a, b, float(score)] for rank, (a, b, score) in enumerate(pairs, start=1)]
    return write_report(out, title, ["rank", "a", "b", "score"], rows, image_columns=["a", "b"], command=command,
                        relative_to=relative_to)


def duplicates_report(groups: Sequence[Sequence[PathLike]], out: PathLike, *,
                      labels: Sequence[Sequence[str]] | None = None, command: str | None = None,
                      title: str = "Near-duplicate groups", relative_to: PathLike | None = None) -> Path:
    """One table row per group member: group number, image, and the member's label (e.g. "keeper")."""
    rows: list[list[Any]] = []
    for number, group in enumerate(groups, start=1):
        group_labels = labels[number - 1] if labels is not None else [""] * len(group)
        rows.extend([number, path, label] for path, label in zip(group, group_labels, strict=True))
    return write_report(out, title, ["group", "image", "label"], rows, image_columns=["image"], command=command,
                        notes=[f"{len(groups)} group(s), {len(rows)} image(s)."], relative_to=relative_to)
