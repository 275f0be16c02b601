"""Duplicate commands: `duplicates` (calibrated defaults, --verify, --invariant, --similar, keepers,
actions), `calibrate` (a threshold from your own labelled pairs), `distinct` (remember that files
are not duplicates) and `undo` (reverse an applied action)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import InvalidArgumentError
from ..output import OutputFormat
from ..types import DEFAULT_MIN_INLIERS, DuplicateOptions, DuplicateReport, Source
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
    RecallOption,
    StoreOption,
    WorkersOption,
    app,
    check_picture_outputs,
    emit,
    join_choice,
    one_line,
    path_text,
    progress_bar,
    report_failures,
    score_value,
    service_for,
    source,
)
from .drawing import GridOption, ReportOption, draw_duplicates
from .folder import check_folder
from .pairs import ExactOption, ProgressOption, join_bar, said

if TYPE_CHECKING:
    from ..service import Lookalike


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
                                      "largest, oldest, newest or in:DIR. A keeper a person chose in the web "
                                      "page (kept by the library) beats the rule.")] = "best",
    action: Annotated[ActionChoice | None, typer.Option(help="Plan an action for each group's duplicates "
                                                        "(a dry run until --apply).")] = None,
    to: Annotated[Path | None, typer.Option("--to", help="Destination folder for --action move-to.")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Carry out --action, writing an undo log.")] = False,
    undo_log: Annotated[Path | None, typer.Option(help="Where --apply writes its undo log.")] = None,
    same_bytes: Annotated[bool, typer.Option("--same-bytes", help="Only byte-identical copies, by content hash: "
                                             "fast, no model.")] = False,
    min_inliers: Annotated[int, typer.Option(
        min=4, help="Keypoint inliers that confirm a pair.")] = DEFAULT_MIN_INLIERS,
    max_checks: Annotated[int, typer.Option(
        min=0, help="Budget: candidate pairs checked at photo level at most, strongest first.")] = 100_000,
    library: LibraryOption = None,
    exact: ExactOption = False,
    recall: RecallOption = None,
    progress: ProgressOption = False,
    grid: GridOption = None,
    report: ReportOption = None,
    model: ModelOption = None,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = None,
    backend: BackendOption = None,
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
    check_picture_outputs(grid, report)
    if action is ActionChoice.move_to and to is None:
        raise InvalidArgumentError("--action move-to needs --to DIR", argument="to")
    if apply and action in (None, ActionChoice.list):
        raise InvalidArgumentError("--apply needs --action move-to, hardlink or symlink", argument="apply")
    if same_bytes and (verify or invariant or similar or threshold is not None):
        raise InvalidArgumentError("--same-bytes compares content hashes only: drop --verify, --invariant, "
                                   "--similar and --threshold", argument="same-bytes")
    options = DuplicateOptions(threshold=threshold, verify=verify, invariant=invariant,
                               similar=-1.0 if similar else None, keep=keep, min_inliers=min_inliers,
                               same_bytes=same_bytes, max_checks=max_checks)
    target = source(folder, library, model)
    if folder is not None:
        check_folder(folder)
    with service_for(folder, device, precision, batch_size, workers, max_megapixels, store=store,
                     backend=backend) as service:
        found = service.duplicates(target, options, join_choice(exact, recall), progress_bar("embedding", quiet),
                                   join_bar(progress, "duplicates"),
                                   verify_progress=progress_bar("checking", quiet, "pairs"))
        _show(service, found, folder, model, action, to, apply, undo_log, fmt, (grid, report))


def _show(service: Lookalike, found: DuplicateReport, folder: Path | None, model: str | None,
          action: ActionChoice | None, to: Path | None, apply: bool, undo_log: Path | None, fmt: OutputFormat,
          pictures: tuple[Path | None, Path | None]) -> None:
    """What `duplicates` prints, draws and (with --apply) does with its answer."""
    report_failures(found.failures)
    for join in found.joins:
        said("duplicates", join)
    used, stats = found.thresholds, found.stats
    if found.model:  # a run on vectors (not --same-bytes)
        typer.echo(f"duplicates: candidate {used.candidate:.3f} ({used.source}); {stats.candidates} candidate "
                   f"pairs, {stats.checked} checked on {stats.check_images} images in {stats.check_seconds:.1f} s, "
                   f"{stats.reused} reused from the library, {stats.confirmed} confirmed", err=True)
        if stats.unchecked:
            typer.echo(f"budget hit: {stats.unchecked} weaker candidate pairs were not checked at photo level "
                       "(at most similar); raise --max-checks to check them", err=True)
        if stats.unsaved:
            typer.echo(f"note: checks not kept in the library ({one_line(stats.unsaved)})", err=True)
    else:
        typer.echo(f"duplicates: {used.source}, {found.count} files", err=True)
    if found.unsaved:
        typer.echo(f"note: groups not saved for `distinct --group` ({one_line(found.unsaved)})", err=True)
    if found.saved and found.groups:
        chosen = f" -m {found.model}" if model else ""
        typer.echo(f"not duplicates? lookalike distinct --group N{chosen} (the group ids above) remembers it",
                   err=True)
    base = Path(folder) if folder is not None else Path.cwd()
    steps = service.plan_actions(found, action.value, base, to) if action is not None else []
    planned = {step.path: step for step in steps}
    rows = []
    drawn: list[list[tuple[Path, list[str], bool]]] = []
    for group in found.groups:
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
        steps, skipped = service.usable_steps(steps)
        for reason in skipped:
            typer.echo(one_line(f"skipped: {reason}"), err=True)
        if not apply:
            typer.echo(f"dry run: {len(steps)} file(s) would change; add --apply to do it", err=True)
            return
        changed, log = service.apply_actions(steps, base, undo_log)
        typer.echo(f"changed {changed} file(s); undo with: lookalike undo {log}", err=True)


@app.command()
def undo(
    log: Annotated[Path | None, typer.Argument(
        help="Undo log written by duplicates --apply (default: every unfinished log of --folder, newest first).",
        show_default=False)] = None,
    folder: Annotated[Path | None, typer.Option(
        help="The folder the action ran on (default: the current directory); its paths are found there even "
        "after it was moved or renamed.", show_default=False)] = None,
) -> None:
    """Reverse an applied duplicates action: every file back in place, byte-identical.

    Without a log: every unfinished log of the folder (an --apply that was killed, too), newest first.

    lookalike undo ~/Pictures/.lookalike/undo/20260101-120000.jsonl
    lookalike undo --folder ~/Pictures
    """
    with service_for(None) as service:
        undone = service.undo(log, folder)
    if log is None:
        for found, count in undone:
            typer.echo(f"undone: {path_text(found)} ({count} file(s))", err=True)
    restored = sum(count for _, count in undone)
    typer.echo(f"restored {restored} file(s)", err=True)


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
    files = files or []
    if group is not None:
        if len(files) > 1 or (files and files[0].exists() and not files[0].is_dir()):
            raise InvalidArgumentError("with --group, give at most the folder duplicates ran on, not files",
                                       argument="files")
        if files and library is not None:
            raise InvalidArgumentError("give either a folder or --library, not both", argument="library")
        # the library `duplicates FOLDER|--library L` used (and saved the groups in)
        target = Source(files[0] if files else (None if library else Path.cwd()), library, model)
        with service_for(files[0] if files else None) as service:
            added = service.distinct_group(group, target)
        typer.echo(f"recorded {added} distinct pair(s)", err=True)
        return
    if len(files) < 2:
        raise InvalidArgumentError("distinct needs at least two files (or --group N)", argument="files")
    with service_for(files[0].parent) as service:
        added = service.distinct(files, library, model)
    typer.echo(f"recorded {added} distinct pair(s)", err=True)


@app.command()
def calibrate(
    pairs: Annotated[Path, typer.Argument(help="CSV of a,b,same|different (paths relative to the CSV).")],
    save: Annotated[bool, typer.Option(help="Store the threshold in --library for duplicates to use.")] = False,
    library: LibraryOption = None,
    model: ModelOption = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = None,
    backend: BackendOption = None,
    device: DeviceOption = None,
) -> None:
    """The similarity threshold that maximises F1 on your own labelled pairs."""
    if save and library is None:
        raise InvalidArgumentError("--save needs --library DIR", argument="save")
    with service_for(None, device, precision, backend=backend) as service:
        found, saved_in = service.calibrate(pairs, model, library, save)
    emit(["threshold", "precision", "recall", "f1", "pairs"],
         [[round(found.threshold, 4), round(found.precision, 4), round(found.recall, 4), round(found.f1, 4),
           found.pairs]], fmt)
    if saved_in is not None:
        typer.echo(f"saved: duplicates in {path_text(saved_in)} now use {found.threshold:.4f}", err=True)
