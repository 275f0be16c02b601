"""`duplicates` end to end: vectors from a folder or a library, the thresholds in force (explicit,
saved by `calibrate --save`, or the model's calibrated defaults), candidate edges (with query-time
invariance on request: mirror, rotations, crops), verification, "not a duplicate" decisions, groups and keepers."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..embedders import Embedder
from ..embedders.registry import model_info
from ..errors import ImageReadError, LookalikeError, TooManyItemsError
from ..pipeline import PipelineOptions, Progress
from .edges import Edges, candidate_edges
from .groups import DuplicateGroup, GroupingStats, Thresholds, build_groups
from .verify import DEFAULT_MIN_INLIERS, Verifier, VerifyOptions, opencv_available

if TYPE_CHECKING:
    from ..store.catalog import Catalog
    from ..store.library import Library

SAVED_THRESHOLD_KEY = "duplicate_threshold"
EdgeSource = Callable[[np.ndarray, float], Edges]
FALLBACK_THRESHOLD = 0.95
INVARIANT_NEIGHBOURS = 10


@dataclass(frozen=True)
class DuplicateOptions:
    """How `duplicates` decides; None fields come from the library or the model's calibration."""

    threshold: float | None = None
    verify: bool = False
    invariant: bool = False
    similar: float | None = None  # also keep unconfirmed candidates scoring this much (never below candidate)
    keep: str = "best"
    min_inliers: int = DEFAULT_MIN_INLIERS
    check: bool = True


@dataclass
class DuplicateReport:
    """Groups largest first, the thresholds used, what the run cost, and unreadable files."""

    groups: list[DuplicateGroup]
    thresholds: Thresholds
    stats: GroupingStats
    failures: list[ImageReadError] = field(default_factory=list)
    count: int = 0


def resolve_thresholds(model: str, options: DuplicateOptions, saved: str | None = None) -> Thresholds:
    """Explicit threshold > the library's saved calibration > the model's calibrated defaults > 0.95."""
    defaults = info.duplicate_thresholds if (info := model_info(model)) is not None else None
    if options.threshold is not None:
        accept = max(options.threshold, defaults.accept) if defaults and options.check else options.threshold
        candidate, source = options.threshold, "--threshold"
    elif saved is not None:
        candidate = accept = float(saved)
        source = "the library's calibration (calibrate --save)"
    elif defaults is not None:
        candidate = defaults.invariant_candidate if options.invariant else defaults.candidate
        accept, source = defaults.accept, f"{model} calibration"
    else:
        candidate = accept = FALLBACK_THRESHOLD
        source = "fallback"
    similar = None if options.similar is None else max(options.similar, candidate)
    return Thresholds(candidate, accept, similar, options.verify, source)


def group_vectors(paths: list[Path], vectors: np.ndarray, hashes: list[str], model: str,
                  options: DuplicateOptions, embedder: Embedder | None = None,
                  distinct: set[tuple[str, str]] | None = None, saved: str | None = None,
                  verify_options: VerifyOptions | None = None, edge_source: EdgeSource | None = None,
                  max_checks: int | None = None) -> tuple[list[DuplicateGroup], Thresholds, GroupingStats]:
    """The engine on ready vectors (one per path, same order) and content hashes. `edge_source`
    answers "every pair >= threshold" (default: the exact range search; the CLI passes the join).
    `max_checks` refuses a run that would check more candidate pairs by keypoints than that."""
    thresholds = resolve_thresholds(model, options, saved)
    floor = min(thresholds.candidate, thresholds.similar if thresholds.similar is not None else 1.0)
    if options.invariant:
        if embedder is None:
            raise LookalikeError("invariant duplicates need the model to embed the mirrored and rotated views")
        from .invariance import invariant_edges

        edges = invariant_edges(embedder, paths, vectors, floor, INVARIANT_NEIGHBOURS)
    else:
        edges = (edge_source or candidate_edges)(vectors, floor)
    use_check = options.check and (options.verify or thresholds.accept > thresholds.candidate)
    if use_check and not opencv_available():
        raise LookalikeError("checking duplicate pairs needs OpenCV: pip install opencv-python-headless "
                             "(or pass an explicit threshold with no check)")
    verifier = Verifier(paths, verify_options or VerifyOptions(min_inliers=options.min_inliers)) if use_check else None

    def verify(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, int, float]:
        assert verifier is not None
        if max_checks is not None and len(i) > max_checks:
            raise TooManyItemsError(f"{len(i)} candidate pairs to check by keypoints, more than {max_checks}: "
                                    "raise the threshold", count=len(i), limit=max_checks)
        report = verifier.verify(i, j)
        return report.inliers, report.images, report.seconds

    groups, stats = build_groups(paths, hashes, edges, thresholds, verify if verifier else None,
                                 options.min_inliers, distinct, options.keep)
    return groups, thresholds, stats


def join_edges(exact: bool | None = None, progress: Progress | None = None,
               reports: list[Any] | None = None, recall: float | None = None) -> EdgeSource:
    """Candidate edges from the similarity join (bounded memory at any size; `recall`: its target,
    default `JoinOptions.recall`); each join's report is appended to `reports`."""

    def source(vectors: np.ndarray, floor: float) -> Edges:
        from ..join import JoinOptions, threshold_edges

        options = JoinOptions(exact=exact) if recall is None else JoinOptions(exact=exact, recall=recall)
        i, j, score, report = threshold_edges(np.asarray(vectors), floor, options, progress)
        if reports is not None:
            reports.append(report)
        return Edges(i.astype(np.int64), j.astype(np.int64), score.astype(np.float32))

    return source


def library_duplicates(library: Library, options: DuplicateOptions | None = None,
                       max_checks: int | None = None) -> DuplicateReport:
    """Duplicate groups of an open library from its stored vectors (the model is built only for
    `invariant` views), with its "not a duplicate" decisions and saved calibration; `max_checks` as in
    `group_vectors`."""
    from ..matching import library_set
    from .decisions import distinct_pairs

    options = options or DuplicateOptions()
    found = library_set(library)
    hashes = found.hashes or [""] * len(found.paths)
    groups, thresholds, stats = group_vectors(
        found.paths, found.vectors, hashes, library.spec.model, options,
        library.embedder() if options.invariant else None, distinct_pairs(library.catalog),
        library.catalog.get_meta(SAVED_THRESHOLD_KEY), edge_source=join_edges(), max_checks=max_checks)
    return DuplicateReport(groups, thresholds, stats, library.failures(), len(found.paths))


def find_duplicates(folder: str | os.PathLike[str] | None = None, model: str | Embedder | None = None,
                    options: DuplicateOptions | None = None, library: str | os.PathLike[str] | None = None,
                    pipeline: PipelineOptions | None = None, **embed_options: Any) -> DuplicateReport:
    """Duplicate groups of a folder (through its library when it has one) or of a library."""
    from ..operations import embed_folder, resolve_embedder
    from ..store.layout import STATE_DIR, LibraryPaths, model_slug
    from ..store.library import Library
    from ..store.scan import hash_files

    options = options or DuplicateOptions()
    if library is None and folder is not None:
        state = Path(folder) / STATE_DIR
        has_library = state.is_dir() if model is None else LibraryPaths(state / model_slug(
            model.spec.model if isinstance(model, Embedder) else model)).exists()
        if not has_library:
            embedder = resolve_embedder(model, **embed_options)
            embedded = embed_folder(folder, embedder, pipeline)
            root = Path(folder).resolve()
            rel = [os.path.relpath(p.resolve(), root) for p in embedded.paths]
            digests = hash_files(root, rel)
            groups, thresholds, stats = group_vectors(
                embedded.paths, embedded.vectors, [digests[r] for r in rel], embedder.spec.model, options, embedder)
            return DuplicateReport(groups, thresholds, stats, embedded.failures, len(embedded.paths))
    if folder is None and library is None:
        raise LookalikeError("duplicates needs a folder or a library")
    with Library.open(folder, model=model, library=library, **embed_options) as opened:
        if folder is not None:
            opened.sync(options=pipeline)
        return library_duplicates(opened, options)


@contextmanager
def _catalog_of(home: Path, model: str | None, readonly: bool) -> Iterator[Catalog | None]:
    """The catalog of `model`'s library under `home`, or None when there is none; closed on leaving."""
    from ..embedders import DEFAULT_MODEL
    from ..store.catalog import Catalog
    from ..store.layout import locate

    try:
        paths = locate(home, model, DEFAULT_MODEL)
    except LookalikeError:
        paths = None
    catalog = Catalog(paths.catalog, readonly=readonly) if paths is not None and paths.catalog.is_file() else None
    try:
        yield catalog
    finally:
        if catalog is not None:
            catalog.close()


def library_decisions(home: Path, model: str | None) -> tuple[set[tuple[str, str]], str | None]:
    """The "not a duplicate" pairs and the saved threshold of `model`'s library under `home` (read
    only); nothing when there is none or it predates them."""
    from .decisions import distinct_pairs

    with _catalog_of(home, model, readonly=True) as catalog:
        if catalog is None:
            return set(), None
        try:
            pairs = distinct_pairs(catalog)
        except sqlite3.OperationalError:  # a catalog from before schema 3
            pairs = set()
        return pairs, catalog.get_meta(SAVED_THRESHOLD_KEY)


def save_groups(home: Path, model: str | None, groups: list[DuplicateGroup], hashes: dict[Path, str]) -> bool:
    """Remember this run's groups (by content hash) in `model`'s library under `home`, so `distinct
    --group N` can name one; False when there is no writable library there."""
    from .decisions import remember_groups

    try:
        with _catalog_of(home, model, readonly=False) as catalog:
            if catalog is None:
                return False
            remember_groups(catalog, [[hashes.get(member, "") for member in group.members] for group in groups])
            return True
    except (LookalikeError, sqlite3.Error, OSError):
        return False
