"""Duplicate commands: `duplicates` (calibrated defaults, --verify, --invariant, --similar, keepers,
actions), `calibrate` (a threshold from your own labelled pairs), `distinct` (remember that files
are not duplicates) and `undo` (reverse an applied action)."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..dedupe.verify import DEFAULT_MIN_INLIERS
from ..errors import InvalidArgumentError, LibraryError
from ..output import OutputFormat
from .common import (
    BatchOption,
    DeviceOption,
    FormatOption,
    LibraryOption,
    MegapixelsOption,
    ModelOption,
    PrecisionOption,
    QuietOption,
    RecallOption,
    WorkersOption,
    app,
    check_picture_outputs,
    emit,
    path_text,
    report_failures,
    score_value,
    service_for,
)
from .drawing import GridOption, ReportOption, draw_duplicates
from .pairs import ExactOption, ProgressOption, _bar, _load, _said


class ActionChoice(str, Enum):
    """What to do with each group's duplicates."""

    list = "list"
    move_to = "move-to"
    hardlink = "hardlink"
    symlink = "symlink"


@app.command()
def duplicates(
    folder: Annotated[Path | None, typer.Argument(help="Folder of images (or use --library).")] = None,
    threshold: Annotated[float | None, typer.Option(
        callback=score_value, help="Cosine similarity that makes a candidate (default: the model's calibration, "
        "or the library's from `calibrate --save`).")] = None,
    verify: Annotated[bool, typer.Option(help="Check every candidate with keypoints + RANSAC, not only "
                                         "borderline ones.")] = False,
    invariant: Annotated[bool, typer.Option(help="Also embed each image mirrored and rotated 90/180/270.")] = False,
    similar: Annotated[bool, typer.Option(help="Also report candidates the check did not confirm, as 'similar'.")]
    = False,
    keep: Annotated[str, typer.Option(help="Keeper rule: best (most pixels, then largest file, then oldest), "
                                      "largest, oldest, newest or in:DIR.")] = "best",
    action: Annotated[ActionChoice | None, typer.Option(help="Plan an action for each group's duplicates "
                                                        "(a dry run until --apply).")] = None,
    to: Annotated[Path | None, typer.Option("--to", help="Destination folder for --action move-to.")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Carry out --action, writing an undo log.")] = False,
    undo_log: Annotated[Path | None, typer.Option(help="Where --apply writes its undo log.")] = None,
    min_inliers: Annotated[int, typer.Option(
        min=4, help="Keypoint inliers that confirm a pair.")] = DEFAULT_MIN_INLIERS,
    library: LibraryOption = None,
    exact: ExactOption = False,
    recall: RecallOption = None,
    progress: ProgressOption = False,
    grid: GridOption = None,
    report: ReportOption = None,
    model: ModelOption = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = None,
    device: DeviceOption = None,
    batch_size: BatchOption = None,
    workers: WorkersOption = None,
    max_megapixels: MegapixelsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Groups of duplicate images: exact (same bytes), near (the same picture edited: above the model's
    calibrated threshold, confirmed by keypoints when borderline or with --verify) and, with --similar,
    similar. Each group names a suggested keeper.

    lookalike duplicates ~/Pictures
    lookalike duplicates ~/Pictures --invariant --verify
    lookalike duplicates ~/Pictures --action move-to --to ~/dupes    (a dry run)
    lookalike duplicates ~/Pictures --action hardlink --apply        (then: lookalike undo LOG)
    """
    from ..dedupe.keepers import parse_rule
    from ..dedupe.run import DuplicateOptions

    parse_rule(keep)
    check_picture_outputs(grid, report)
    if action is ActionChoice.move_to and to is None:
        raise InvalidArgumentError("--action move-to needs --to DIR", argument="to")
    if apply and action in (None, ActionChoice.list):
        raise InvalidArgumentError("--apply needs --action move-to, hardlink or symlink", argument="apply")
    options = DuplicateOptions(threshold=threshold, verify=verify, invariant=invariant,
                               similar=-1.0 if similar else None, keep=keep, min_inliers=min_inliers)
    with service_for(folder, device, precision, batch_size, workers, max_megapixels) as service:
        _duplicates(service, folder, library, model, options, action, to, apply, undo_log, exact, progress,
                    quiet, fmt, (grid, report), recall)


def _duplicates(service: Any, folder: Path | None, library: Path | None, model: str | None, options: Any,
                action: ActionChoice | None, to: Path | None, apply: bool, undo_log: Path | None, exact: bool,
                progress: bool, quiet: bool, fmt: OutputFormat, pictures: tuple[Path | None, Path | None],
                recall: float | None = None) -> None:
    """The body of `duplicates` (the service stays open while the model may be needed)."""
    from ..dedupe import actions
    from ..dedupe.run import group_vectors, join_edges, library_decisions, save_groups
    from ..store.layout import library_home

    found = _load(folder, library, model, service, quiet, unique_content=True)
    report_failures(found.failures)
    name = found.spec.model if found.spec is not None else service.model_for(folder, model, library)
    home = library_home(folder, library, service.settings.home)
    distinct_marks, saved = library_decisions(home, found.spec.model if found.spec else model) \
        if home.is_dir() else (set(), None)
    reports: list[Any] = []
    embedder = service.embedder(name) if options.invariant else None
    hashes = found.hashes or [""] * len(found.paths)
    groups, used, stats = group_vectors(found.paths, found.vectors, hashes, name, options, embedder,
                                        distinct_marks, saved,
                                        edge_source=join_edges(exact or None, _bar(progress, "duplicates"), reports,
                                                               service.settings.recall if recall is None else recall))
    for report in reports:
        _said("duplicates", report)
    typer.echo(f"duplicates: candidate {used.candidate:.3f}, accept {used.accept:.3f} ({used.source}); "
               f"{stats.candidates} candidate pairs, {stats.checked} checked on {stats.check_images} images "
               f"in {stats.check_seconds:.1f} s, {stats.confirmed} confirmed", err=True)
    by_path = dict(zip(found.paths, hashes, strict=True))
    if found.hashes and home.is_dir() and save_groups(home, name, groups, by_path) and groups:
        chosen = f" -m {name}" if model else ""
        typer.echo(f"not duplicates? lookalike distinct --group N{chosen} (the group ids above) remembers it",
                   err=True)
    base = Path(folder) if folder is not None else Path.cwd()
    steps = []
    if action is not None:
        state = base / ".lookalike"
        trash = state / "trash" / time.strftime("%Y%m%d-%H%M%S")
        steps = actions.plan(groups, action.value, base, destination=to, trash=trash)
    planned = {step.path: step for step in steps}
    rows = []
    drawn: list[list[tuple[Path, list[str], bool]]] = []
    for group in groups:
        links = group.member_links()
        drawn.append([])
        for member in group.members:
            link = links.get(member)
            kind, score, inliers = (link.kind, link.score, link.inliers) if link else (group.kind(), 1.0, None)
            row = [group.id, kind, path_text(member), round(score, 4), "" if inliers is None else inliers,
                   "keep" if member == group.keeper else ""]
            if action is not None:
                step = planned.get(member)
                row.append(step.describe() if step is not None else "keep")
            rows.append(row)
            labels = [kind, f"{score:.3f}"] + ([f"{inliers} inliers"] if inliers is not None else [])
            drawn[-1].append((member, labels, member == group.keeper))
    columns = ["group", "kind", "path", "score", "inliers", "keeper"] + (["action"] if action is not None else [])
    emit(columns, rows, fmt)
    draw_duplicates(drawn, *pictures)  # before any action moves a file
    if action is not None and action is not ActionChoice.list:
        if not apply:
            typer.echo(f"dry run: {len(steps)} file(s) would change; add --apply to do it", err=True)
            return
        log = undo_log or base / ".lookalike" / "undo" / f"{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
        changed = actions.apply(steps, log)
        typer.echo(f"changed {changed} file(s); undo with: lookalike undo {log}", err=True)


@app.command()
def undo(log: Annotated[Path, typer.Argument(help="Undo log written by duplicates --apply.")]) -> None:
    """Reverse an applied duplicates action: every file back in place, byte-identical."""
    from ..dedupe.actions import undo as run_undo

    restored = run_undo(log)
    typer.echo(f"restored {restored} file(s)", err=True)


def _library_for(start: Path, library: Path | None, model: str | None, service: Any) -> Any:
    """The library given, or the nearest FOLDER/.lookalike at or above the folder `start`."""
    if library is not None:
        return service.library(library=library, model=model)
    for folder in [start.resolve(), *start.resolve().parents]:
        if (folder / ".lookalike").is_dir():
            return service.library(folder, model=model)
    raise LibraryError("no library in this folder or above it; pass --library DIR or index the folder first",
                       path=start)


@app.command()
def distinct(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Two or more files that are not duplicates of each other (with --group: the folder, optional).",
        show_default=False)] = None,
    group: Annotated[int | None, typer.Option(
        min=1, help="A group id printed by the last duplicates run on this library.")] = None,
    library: LibraryOption = None,
    model: ModelOption = None,
) -> None:
    """Remember that these files (or a duplicates group) are not duplicates: later runs never group them
    together. Stored by content, so it survives moves, renames and re-indexing.

    lookalike distinct a.jpg b.jpg
    lookalike distinct --group 3 ~/Pictures
    """
    from ..dedupe.decisions import record_distinct, remembered_group
    from ..store.scan import file_hash

    files = files or []
    if group is not None:
        if len(files) > 1 or (files and files[0].exists() and not files[0].is_dir()):
            raise InvalidArgumentError("with --group, give at most the folder duplicates ran on, not files",
                                       argument="files")
        if files and library is not None:
            raise InvalidArgumentError("give either a folder or --library, not both", argument="library")
        if files and not files[0].is_dir():
            raise LibraryError("no such folder", path=files[0])
        with service_for(files[0] if files else None) as service:
            # the library `duplicates FOLDER|--library L` used (and saved the groups in)
            opened = service.library(files[0] if files else (None if library else Path.cwd()), library=library,
                                     model=model)
            added = record_distinct(opened.catalog, remembered_group(opened.catalog, group))
        typer.echo(f"recorded {added} distinct pair(s)", err=True)
        return
    if len(files) < 2:
        raise InvalidArgumentError("distinct needs at least two files (or --group N)", argument="files")
    for file in files:
        if not file.is_file():
            raise LibraryError("not a file", path=file)
    with service_for(files[0].parent) as service:
        opened = _library_for(files[0].parent, library, model, service)
        added = record_distinct(opened.catalog, [file_hash(f) for f in files])
    typer.echo(f"recorded {added} distinct pair(s)", err=True)


@app.command()
def calibrate(
    pairs: Annotated[Path, typer.Argument(help="CSV of a,b,same|different (paths relative to the CSV).")],
    save: Annotated[bool, typer.Option(help="Store the threshold in --library for duplicates to use.")] = False,
    library: LibraryOption = None,
    model: ModelOption = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = None,
    device: DeviceOption = None,
) -> None:
    """The similarity threshold that maximises F1 on your own labelled pairs."""
    import numpy as np

    from ..dedupe.calibration import best_f1_threshold, read_pairs
    from ..dedupe.run import SAVED_THRESHOLD_KEY
    from ..query import embed_image

    if save and library is None:
        raise InvalidArgumentError("--save needs --library DIR", argument="save")
    labelled, same = read_pairs(pairs)
    with service_for(None, device, precision) as service:
        opened = service.library(library=library, model=model) if library else None
        embedder = opened.embedder() if opened is not None else service.embedder(service.model_for(None, model))
        vectors = {}
        for path in sorted({p for pair in labelled for p in pair}):
            vectors[path] = embed_image(path, embedder)
        scores = np.asarray([float(vectors[a] @ vectors[b]) for a, b in labelled])
        found = best_f1_threshold(scores, same)
        emit(["threshold", "precision", "recall", "f1", "pairs"],
             [[round(found.threshold, 4), round(found.precision, 4), round(found.recall, 4), round(found.f1, 4),
               found.pairs]], fmt)
        if save and opened is not None:
            with opened.catalog.transaction():
                opened.catalog.set_meta(SAVED_THRESHOLD_KEY, repr(found.threshold))
            typer.echo(f"saved: duplicates in {path_text(opened.paths.directory)} now use {found.threshold:.4f}",
                       err=True)
