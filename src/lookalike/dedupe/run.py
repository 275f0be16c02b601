"""`duplicates` end to end on any store: the thresholds in force (explicit, saved by `calibrate
--save`, or the model's calibrated defaults), candidate edges from the join (with query-time
invariance on request: mirror, rotations, crops), photo-level verification of every candidate (its
verdicts kept in the store by content hashes and reused), "not a duplicate" decisions, groups that
do not chain, and keepers (a person's chosen keeper before the `keep` rule); groups as they are
found go to a listener (`found`) while the run goes on. The one duplicate engine: the CLI, the web
page, the service and check-on-add use it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..embedders import Embedder
from ..embedders.registry import model_info
from ..errors import ImageReadError, LibraryError, LibraryLockedError, LookalikeError, TooManyItemsError, check_cancel
from ..join import JoinOptions, Progress, knn_join
from ..store.base import VectorStore
from ..types import (
    Cancel,
    DuplicateGroup,
    DuplicateOptions,
    DuplicateReport,
    GroupingStats,
    Thresholds,
    check_threshold,
)
from ..video import is_video
from .decisions import preferred_keepers, remember_groups
from .edges import Edges, candidate_edges, undirected_max
from .groups import build_groups
from .keepers import Preferred
from .partial import Found, PartialGroups
from .verdicts import PairChecker
from .verify import VerifyOptions, opencv_available
from .videos import files_of, frame_edge_source

SAVED_THRESHOLD_KEY = "duplicate_threshold"
EdgeSource = Callable[[np.ndarray, float, int], Edges]
"""(vectors, candidate floor, k): each row's at most k best other rows scoring >= the floor."""
FALLBACK_THRESHOLD = 0.95
INVARIANT_NEIGHBOURS = 10
INVARIANT_AGREEMENT = 0.9  # captioned, deeply cropped copies: the NCC leaves out the pixels that differ most
INVARIANT_TRIM = 0.1  # (the caption), this share of them (docs/results.md)


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
                  max_checks: int | None = None, cancel: Cancel | None = None,
                  store: VectorStore | None = None, verify_progress: Progress | None = None,
                  preferred: Preferred | None = None, found: Found | None = None,
                  ) -> tuple[list[DuplicateGroup], Thresholds, GroupingStats]:
    """The engine on ready vectors (one per path, same order) and content hashes. Each image proposes
    at most `options.neighbours` candidates above the candidate floor, so the work grows as N x k,
    never with the number of pairs above a threshold. Every candidate is checked at photo level
    (unless `options.check` is off: then the threshold alone decides), at most `options.max_checks`
    of them, strongest first; `store` (when given) supplies and keeps the verdicts. `edge_source`
    answers the candidates (default: the exact search; the service passes the join). `max_checks`
    refuses a run that would check more pairs than that (TooManyItemsError); `cancel` is asked
    between keypoint batches; `verify_progress` hears (pairs checked, pairs to check). `preferred`:
    the keepers a person chose (they beat `options.keep`). `found` hears the provisional groups: the
    exact copies first, then after each chunk of checked pairs (dedupe/partial.py)."""
    thresholds = resolve_thresholds(model, options, saved)
    partial = PartialGroups(paths, hashes, distinct, options.keep, preferred) if found is not None else None
    if partial is not None and found is not None:
        found(partial)
    floor = min(thresholds.candidate, thresholds.similar if thresholds.similar is not None else 1.0)
    if options.invariant:
        if embedder is None:
            raise LookalikeError("invariant duplicates need the model to embed the mirrored and rotated views")
        from .invariance import invariant_edges

        edges = invariant_edges(embedder, paths, vectors, floor, INVARIANT_NEIGHBOURS)
    else:
        edges = (edge_source or _exact_edges)(vectors, floor, options.neighbours)
    check_cancel(cancel)
    if options.check and not opencv_available():
        raise LookalikeError("checking duplicate pairs needs OpenCV: pip install opencv-python-headless "
                             "(or pass an explicit threshold with no check)")
    if max_checks is not None and len(edges) > max_checks:
        raise TooManyItemsError(f"{len(edges)} candidate pairs to check by keypoints, more than {max_checks}: "
                                "raise the threshold", count=len(edges), limit=max_checks)
    used = verify_options or VerifyOptions(min_inliers=options.min_inliers,
                                           min_agreement=INVARIANT_AGREEMENT if options.invariant else 0.975,
                                           trim=INVARIANT_TRIM if options.invariant else 0.0)

    def heard(i: np.ndarray, j: np.ndarray, ok: np.ndarray, inliers: np.ndarray) -> None:
        if partial is not None and found is not None:
            scores = np.zeros(len(i), np.float32)
            scores[ok] = np.einsum("ij,ij->i", vectors[i[ok]], vectors[j[ok]])  # the confirmed pairs only
            partial.confirm(i, j, ok, inliers, scores)
            found(partial)

    checker = PairChecker(paths, hashes, store, used, cancel, verify_progress,
                          heard if found is not None else None) if options.check else None

    framed = np.array([is_video(path) for path in paths], bool)
    best = {(min(int(a), int(b)), max(int(a), int(b))): float(score)
            for a, b, score in zip(edges.i, edges.j, edges.score, strict=True)} if framed.any() else {}

    def verify(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Photo pairs: keypoints and aligned pixels. A pair with a video: the best frame pair's score
        against the accept score (the pixel check reads one picture per file, not the matched frame)."""
        assert checker is not None
        video = framed[i] | framed[j]
        ok, inliers = np.zeros(len(i), bool), np.zeros(len(i), np.int64)
        if (~video).any():
            found = checker.check(i[~video], j[~video])
            ok[~video], inliers[~video] = found.confirmed(used), found.inliers
        for n in np.flatnonzero(video):
            a, b = int(i[n]), int(j[n])
            ok[n] = best.get((min(a, b), max(a, b)), -1.0) >= thresholds.accept
        return ok, inliers

    groups, stats = build_groups(paths, hashes, edges, thresholds, verify if checker else None,
                                 distinct=distinct, keep=options.keep, vectors=vectors,
                                 max_checks=options.max_checks, similar_cap=options.similar_cap,
                                 preferred=preferred)
    if checker is not None:
        stats.reused, stats.check_images = checker.reused, checker.verifier.computed
        stats.check_seconds = checker.seconds
        stats.checked = checker.checked
        stats.unsaved = "; ".join(checker.unsaved)
    return groups, thresholds, stats


def _exact_edges(vectors: np.ndarray, floor: float, k: int) -> Edges:
    """Each row's k best other rows scoring >= `floor`, by an exact search."""
    return candidate_edges(vectors, floor, k=k)


def join_edges(join: JoinOptions | None = None, progress: Progress | None = None,
               reports: list[Any] | None = None, cancel: Cancel | None = None) -> EdgeSource:
    """Candidate edges from the similarity join (bounded memory at any size); each join's report is
    appended to `reports`; `cancel` is asked after every join cell."""
    if cancel is not None:
        inner = progress

        def checked(done: int, total: int) -> None:
            check_cancel(cancel)
            if inner is not None:
                inner(done, total)

        progress = checked

    def source(vectors: np.ndarray, floor: float, k: int) -> Edges:
        count = len(vectors)
        if count < 2:
            return Edges.empty()
        scores, indices, report = knn_join(np.asarray(vectors), min(k, count - 1), join, progress)
        if reports is not None:
            reports.append(report)
        rows = np.repeat(np.arange(count, dtype=np.int64), indices.shape[1])
        cols, values = indices.ravel().astype(np.int64), scores.ravel()
        keep = (cols >= 0) & (values >= np.float32(floor))
        return undirected_max(rows[keep], cols[keep], values[keep])

    return source


def find_duplicates(store: VectorStore, options: DuplicateOptions | None = None, join: JoinOptions | None = None,
                    progress: Progress | None = None, max_checks: int | None = None,
                    remember: bool = True, cancel: Cancel | None = None,
                    verify_progress: Progress | None = None, found: Found | None = None) -> DuplicateReport:
    """Duplicate groups of any store from its vectors (the model is built only for `invariant` views),
    with its "not a duplicate" decisions and saved calibration; `max_checks` as in `group_vectors`.
    With `remember`, a persistent store keeps the groups for `distinct --group N` (skipped while
    another writer holds the store). `cancel` is asked between join cells and keypoint batches: True
    stops the run with `Cancelled`, nothing remembered (verdicts already checked are kept).
    `verify_progress` (default: `progress`) hears the photo-level checks; `found` the groups found so
    far. The keepers a person chose (kept in the store, `decisions.record_keeper`) beat `options.keep`."""
    options = options or DuplicateOptions()
    if options.threshold is not None:
        check_threshold(options.threshold)
    snap = store.snapshot()
    reports: list[Any] = []
    source = join_edges(join, progress, reports, cancel)
    paths, hashes, vectors = snap.paths, snap.hashes, snap.vectors
    if snap.item_groups() is not None:  # videos: edges from every frame, groups of files
        paths, hashes, vectors, owners = files_of(snap)
        source = frame_edge_source(source, snap.vectors, owners)
    groups, thresholds, stats = group_vectors(
        paths, vectors, hashes, snap.spec.model, options,
        store.embedder() if options.invariant else None, store.distinct_pairs(), store.get_meta(SAVED_THRESHOLD_KEY),
        edge_source=source, max_checks=max_checks, cancel=cancel, store=store,
        verify_progress=verify_progress or progress, preferred=preferred_keepers(store), found=found)
    saved, unsaved = False, ""
    if remember and store.persistent and store.writable:
        try:
            remember_groups(store, [group.hashes for group in groups])
            saved = True
        except (LibraryLockedError, LibraryError) as exc:  # another writer holds the store: never wait
            unsaved = exc.reason
    return DuplicateReport(groups, thresholds, stats, snap.failures, len(paths), reports, saved, snap.spec.model,
                           unsaved)


def same_bytes(paths: list[Path], hashes: list[str], failures: list[ImageReadError] | None = None,
               keep: str = "best", preferred: Preferred | None = None) -> DuplicateReport:
    """Groups of byte-identical files (same content hash), each with a keeper (the file a person chose
    among the copies first): no model, no vectors."""
    thresholds = Thresholds(1.0, 1.0, None, False, "same bytes (content hash)")
    groups, stats = build_groups(paths, hashes, Edges.empty(), thresholds, None, keep=keep, preferred=preferred)
    return DuplicateReport(groups, thresholds, stats, list(failures or []), len(paths))
