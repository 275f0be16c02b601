"""Duplicate commands: `duplicates` (calibrated defaults, --verify, --invariant, --similar, keepers,
actions), `calibrate` (a threshold from your own labelled pairs), `distinct` (remember that files
are not duplicates) and `undo` (reverse an applied action)."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

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
from .pairs import ExactOption, ProgressOption, _bar, _load, _said


class ActionChoice(str, Enum):
    """What to do with each group's duplicates."""

    list = "list"
    move_to = "move-to"
    hardlink = "hardlink"
    symlink = "symlink"


def _member_rows(group: object) -> dict[Path, tuple[str, float, int | None]]:
    """Each member's strongest link in its group: (kind, score, inliers)."""
    from ..dedupe.groups import KIND_ORDER, DuplicateGroup

    assert isinstance(group, DuplicateGroup)
    best: dict[Path, tuple[str, float, int | None]] = {}
    for edge in group.edges:
        for member in (edge.a, edge.b):
            current = best.get(member)
            candidate = (edge.kind, edge.score, edge.inliers)
            if current is None or (KIND_ORDER[edge.kind], -edge.score) < (KIND_ORDER[current[0]], -current[1]):
                best[member] = candidate
    return best


@app.command()
def duplicates(
    folder: Annotated[Path | None, typer.Argument(help="Folder of images (or use --library).")] = None,
    threshold: Annotated[float | None, typer.Option(
        min=-1, max=1, help="Cosine similarity that makes a candidate (default: the model's calibration, "
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
    min_inliers: Annotated[int, typer.Option(min=4, help="Keypoint inliers that confirm a pair.")] = 20,
    library: LibraryOption = None,
    exact: ExactOption = False,
    progress: ProgressOption = False,
    model: ModelOption = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = PrecisionChoice.auto,
    device: DeviceOption = "auto",
    batch_size: BatchOption = 32,
    workers: WorkersOption = 0,
    max_megapixels: MegapixelsOption = 100.0,
    quiet: QuietOption = False,
) -> None:
    """Groups of duplicate images: exact (same bytes), near (the same picture edited: above the model's
    calibrated threshold, confirmed by keypoints when borderline or with --verify) and, with --similar,
    similar. Each group names a suggested keeper.

    \b
    lookalike duplicates ~/Pictures
    lookalike duplicates ~/Pictures --invariant --verify
    lookalike duplicates ~/Pictures --action move-to --to ~/dupes    (a dry run)
    lookalike duplicates ~/Pictures --action hardlink --apply        (then: lookalike undo LOG)
    """
    from ..dedupe import actions
    from ..dedupe.edges import Edges
    from ..dedupe.keepers import parse_rule
    from ..dedupe.run import DuplicateOptions, group_vectors, library_decisions
    from ..embedders import create_embedder
    from ..join import JoinOptions
    from ..join import threshold_edges as join_edges
    from ..store.layout import library_home

    parse_rule(keep)
    if action is ActionChoice.move_to and to is None:
        raise LookalikeError("--action move-to needs --to DIR")
    if apply and action in (None, ActionChoice.list):
        raise LookalikeError("--apply needs --action move-to, hardlink or symlink")
    options = DuplicateOptions(threshold=threshold, verify=verify, invariant=invariant,
                               similar=-1.0 if similar else None, keep=keep, min_inliers=min_inliers)
    if folder is not None and library is None and model is None and (folder / ".lookalike").is_dir():
        from ..store.library import Library

        with Library.open(folder, readonly=True) as indexed:  # the folder's library decides the model
            model = indexed.spec.model
    found = _load(folder, library, model, device, precision,
                  pipeline_options(batch_size, workers, max_megapixels, quiet), unique_content=True)
    report_failures(found.failures)
    name = found.spec.model if found.spec is not None else (model or "")
    home = library_home(folder, library)
    distinct_marks, saved = library_decisions(home, found.spec.model if found.spec else model) \
        if home.is_dir() else (set(), None)
    reports = []

    def join_source(vectors: object, floor: float) -> Edges:
        import numpy as np

        i, j, score, report = join_edges(np.asarray(vectors), floor, JoinOptions(exact=exact or None),
                                         _bar(progress, "duplicates"))
        reports.append(report)
        return Edges(i.astype(np.int64), j.astype(np.int64), score.astype(np.float32))

    embedder = create_embedder(name, **embed_options(device, precision)) if invariant else None
    hashes = found.hashes or [""] * len(found.paths)
    groups, used, stats = group_vectors(found.paths, found.vectors, hashes, name, options, embedder,
                                        distinct_marks, saved, edge_source=join_source)
    for report in reports:
        _said("duplicates", report)
    typer.echo(f"duplicates: candidate {used.candidate:.3f}, accept {used.accept:.3f} ({used.source}); "
               f"{stats.candidates} candidate pairs, {stats.checked} checked on {stats.check_images} images "
               f"in {stats.check_seconds:.1f} s, {stats.confirmed} confirmed", err=True)
    base = Path(folder) if folder is not None else Path.cwd()
    steps = []
    if action is not None:
        state = base / ".lookalike"
        trash = state / "trash" / time.strftime("%Y%m%d-%H%M%S")
        steps = actions.plan(groups, action.value, base, destination=to, trash=trash)
    planned = {step.path: step for step in steps}
    rows = []
    for group in groups:
        links = _member_rows(group)
        for member in group.members:
            kind, score, inliers = links.get(member, (group.kind(), 1.0, None))
            row = [group.id, kind, path_text(member), round(score, 4), "" if inliers is None else inliers,
                   "keep" if member == group.keeper else ""]
            if action is not None:
                step = planned.get(member)
                row.append(step.describe() if step is not None else "keep")
            rows.append(row)
    columns = ["group", "kind", "path", "score", "inliers", "keeper"] + (["action"] if action is not None else [])
    emit(columns, rows, fmt)
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


def _library_for(path: Path, library: Path | None, model: str | None, device: str, precision: PrecisionChoice):
    """The library given, or the nearest FOLDER/.lookalike above `path`."""
    from ..store.library import Library

    if library is not None:
        return Library.open(library=library, model=model, **embed_options(device, precision))
    for folder in [path.resolve().parent, *path.resolve().parents]:
        if (folder / ".lookalike").is_dir():
            return Library.open(folder, model=model, **embed_options(device, precision))
    raise LookalikeError(f"{path}: no library above it; pass --library DIR or index the folder first")


@app.command()
def distinct(
    files: Annotated[list[Path], typer.Argument(help="Two or more files that are not duplicates of each other.")],
    library: LibraryOption = None,
    model: ModelOption = None,
    precision: PrecisionOption = PrecisionChoice.auto,
    device: DeviceOption = "auto",
) -> None:
    """Remember that these files are not duplicates: later runs never group them together. Stored by
    content, so it survives moves, renames and re-indexing."""
    from ..dedupe.decisions import record_distinct
    from ..store.scan import file_hash

    if len(files) < 2:
        raise LookalikeError("distinct needs at least two files")
    for file in files:
        if not file.is_file():
            raise LookalikeError(f"{file}: not a file")
    with _library_for(files[0], library, model, device, precision) as opened:
        added = record_distinct(opened.catalog, [file_hash(f) for f in files])
    typer.echo(f"recorded {added} distinct pair(s)", err=True)


@app.command()
def calibrate(
    pairs: Annotated[Path, typer.Argument(help="CSV of a,b,same|different (paths relative to the CSV).")],
    save: Annotated[bool, typer.Option(help="Store the threshold in --library for duplicates to use.")] = False,
    library: LibraryOption = None,
    model: ModelOption = None,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = PrecisionChoice.auto,
    device: DeviceOption = "auto",
) -> None:
    """The similarity threshold that maximises F1 on your own labelled pairs."""
    import numpy as np

    from ..dedupe.calibration import best_f1_threshold, read_pairs
    from ..dedupe.run import SAVED_THRESHOLD_KEY
    from ..operations import embed_image
    from ..store.library import Library

    if save and library is None:
        raise LookalikeError("--save needs --library DIR")
    labelled, same = read_pairs(pairs)
    opened = Library.open(library=library, model=model, **embed_options(device, precision)) if library else None
    try:
        embedder = opened.embedder() if opened is not None else make_embedder(model, device, precision)
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
            typer.echo(f"saved: duplicates in {opened.paths.directory} now use {found.threshold:.4f}", err=True)
    finally:
        if opened is not None:
            opened.close()
