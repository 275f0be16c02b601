"""Rendering result rows as an aligned table, JSON or CSV (header first, best row first)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from enum import Enum
from typing import Any


class OutputFormat(str, Enum):
    """The formats every command can print."""

    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _line_cell(value: Any) -> str:
    """A cell for line-based formats (table, markdown): a newline or carriage return in a value (a
    file name may hold one) is shown as \\n or \\r so that every row stays on one line."""
    return _cell(value).replace("\r", "\\r").replace("\n", "\\n")


def render(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: OutputFormat) -> str:
    """Rows (one value per column) in the requested format; floats get 4 decimals except in JSON."""
    if fmt is OutputFormat.json:
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        return json.dumps(records, indent=2, ensure_ascii=False)
    if fmt is OutputFormat.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_cell(v) for v in row] for row in rows])
        return buffer.getvalue().rstrip("\n")
    if fmt is OutputFormat.markdown:
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_line_cell(v).replace("|", "\\|") for v in row) + " |" for row in rows]
        return "\n".join(lines)
    cells = [list(columns)] + [[_line_cell(v) for v in row] for row in rows]
    widths = [max(len(row[c]) for row in cells) for c in range(len(columns))]
    numeric = [bool(rows) and all(isinstance(row[c], int | float) for row in rows) for c in range(len(columns))]
    lines = []
    for row in cells:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(row, widths, numeric, strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def time_cell(seconds: float | None, fmt: OutputFormat) -> float | str | None:
    """A `time` column's cell: a video frame's moment in seconds (2 decimals); empty for a photo
    (null in JSON)."""
    if fmt is OutputFormat.json:
        return None if seconds is None else round(seconds, 2)
    return "" if seconds is None else f"{seconds:.2f}"
