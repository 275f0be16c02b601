"""`--grid` and `--report` for pairs, match and duplicates: the options (declared once) and the
writers, which draw an answer the command has already printed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

GridOption = Annotated[Path | None, typer.Option(
    "--grid", help="Also draw the answer as a PNG grid (long answers: out-2.png, ...).")]
ReportOption = Annotated[Path | None, typer.Option(
    "--report", help="Also write a self-contained HTML report (thumbnails embedded, sortable table).")]


def _wrote(files: Sequence[Path] | Path) -> None:
    for written in [files] if isinstance(files, Path) else files:
        typer.echo(f"wrote {written}", err=True)


def grid_then_report(grid: Path | None, draw_grid: Callable[[Path], None], report: Path | None,
          write: Callable[[Path], None]) -> None:
    """Draw the grid, then write the report even when the grid failed (its error is raised after)."""
    failure: Exception | None = None
    if grid is not None:
        try:
            draw_grid(grid)
        except Exception as exc:  # noqa: BLE001 - raised once the report is written
            failure = exc
    if report is not None:
        write(report)
    if failure is not None:
        raise failure


def draw_pairs(pairs: Sequence[tuple[Path, Path, float]], grid: Path | None, report: Path | None) -> None:
    """The pairs as rows of two thumbnails with their score, and/or as a report."""
    def draw_grid(grid: Path) -> None:
        from ..viz import pairs_grid

        _wrote(pairs_grid(pairs, grid))

    def write(report: Path) -> None:
        from ..viz.report import command_line, pairs_report

        _wrote(pairs_report(pairs, report, command=command_line(), relative_to=Path.cwd()))

    grid_then_report(grid, draw_grid, report, write)


def draw_matches(rows: Sequence[Any], grid: Path | None, report: Path | None) -> None:
    """Each image of A with its best matches in B (rows: `.a`, `.b`, `.score`, `.rank`)."""
    def draw_grid(grid: Path) -> None:
        from ..viz import match_grid

        grouped: dict[Path, list[tuple[Path, float]]] = {}
        for row in rows:
            grouped.setdefault(row.a, []).append((row.b, float(row.score)))
        _wrote(match_grid(list(grouped.items()), grid))

    def write(report: Path) -> None:
        from ..viz.report import command_line, write_report

        table = [[row.a, row.b, float(row.score), row.rank] for row in rows]
        _wrote(write_report(report, "Matches", ["a", "b", "score", "rank"], table,
                            image_columns=["a", "b"], command=command_line(), relative_to=Path.cwd()))

    grid_then_report(grid, draw_grid, report, write)


def draw_duplicates(groups: Sequence[Sequence[tuple[Path, Sequence[str], bool]]], grid: Path | None,
                    report: Path | None) -> None:
    """Duplicate groups, one row per group; each member (path, labels such as kind / score / inliers,
    is it the suggested keeper)."""
    def draw_grid(grid: Path) -> None:
        from ..viz import duplicates_grid
        from ..viz.grids import Member

        members = [[Member(Path(path), tuple(labels), keeper) for path, labels, keeper in group] for group in groups]
        _wrote(duplicates_grid(members, grid))

    def write(report: Path) -> None:
        from ..viz.report import command_line, duplicates_report

        paths = [[path for path, _, _ in group] for group in groups]
        labels = [[" ".join([*labels, "keeper" if keeper else ""]).strip() for _, labels, keeper in group]
                  for group in groups]
        _wrote(duplicates_report(paths, report, labels=labels, command=command_line(),
                                 title="Duplicate groups", relative_to=Path.cwd()))

    grid_then_report(grid, draw_grid, report, write)
