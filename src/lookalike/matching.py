"""Pairs, duplicate groups, folder-vs-folder matches and duplicates among newly indexed files, over a
folder or a library, through the bounded-memory join (`lookalike.join`). A library is read from its
stored vectors only: nothing is embedded and no model is built. Each function returns plain
dataclasses; the CLI only formats them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .embedders import EmbeddingSpec
from .errors import ImageReadError, LibraryError
from .images import find_images
from .join import JoinOptions, JoinReport, Progress, connected_groups, cross_knn, exact_hash_groups
from .join import threshold_edges as join_edges
from .join import top_pairs as join_top_pairs
from .neighbors import all_pairs
from .operations import LazyModel, open_folder_library, require_folder
from .pipeline import PipelineOptions, embed_paths
from .query import Pair

if TYPE_CHECKING:
    from .store.library import Library

DUPLICATE_THRESHOLD = 0.95


@dataclass
class VectorSet:
    """Files with their unit vectors (row i is `paths[i]`), content hashes when known, and the files
    that could not be read. `ids` are catalog ids when the set comes from a library."""

    paths: list[Path]
    vectors: np.ndarray
    hashes: list[str] | None = None
    failures: list[ImageReadError] = field(default_factory=list)
    spec: EmbeddingSpec | None = None
    ids: np.ndarray | None = None


def library_set(library: Library) -> VectorSet:
    """Every indexed file of an open library with its stored vector and hash (no model needed)."""
    ids, paths, hashes, vectors = library.catalog.indexed(library.spec.dim)
    return VectorSet([library.root / p for p in paths], vectors, hashes, library.failures(), library.spec, ids)


def stored_set(library: str | os.PathLike[str], model: str | None = None) -> VectorSet:
    """A library directory's stored vectors, read-only: nothing is embedded and no model is built."""
    from .store.library import Library

    with Library.open(library=library, model=model, readonly=True) as opened:
        return library_set(opened)


def count_images(folder: str | os.PathLike[str]) -> int:
    """How many image files a folder holds (for limits checked before any embedding)."""
    return len(find_images(folder))


def folder_set(folder: str | os.PathLike[str], model: LazyModel, options: PipelineOptions | None = None,
               unique_content: bool = False) -> VectorSet:
    """A folder's images with their vectors: from the folder's library (brought up to date where it
    can be written) when it has one for this model, else embedded now. `unique_content`: hash the
    files first and embed one file per content; its copies share the vector (exact duplicates cost
    no model time). The model is built only when something must be embedded."""
    require_folder(folder)
    library = open_folder_library(folder, model)
    if library is not None:
        with library:
            if not library.catalog.readonly:
                library.sync(options=options)
            return library_set(library)
    paths = find_images(folder)
    if not paths:
        raise LibraryError("no image files found", path=folder)
    embedder = model()
    if not unique_content:
        embedded = embed_paths(embedder, paths, options)
        return VectorSet(embedded.paths, embedded.vectors, None, embedded.failures, embedder.spec)
    from .store.scan import file_hash

    hashes = [file_hash(p) for p in paths]
    first: dict[str, Path] = {}
    for path, digest in zip(paths, hashes, strict=True):
        first.setdefault(digest or f"unreadable:{path}", path)
    embedded = embed_paths(embedder, list(first.values()), options)
    row_of = {path: row for row, path in enumerate(embedded.paths)}
    reason = {Path(f.path or ""): f.reason for f in embedded.failures}
    kept, rows, failures = [], [], list(embedded.failures)
    for path, digest in zip(paths, hashes, strict=True):
        source = first[digest or f"unreadable:{path}"]
        if source in row_of:
            kept.append(path)
            rows.append(row_of[source])
        elif source != path:
            failures.append(ImageReadError(path, reason.get(source, "could not be read")))
    by_path = dict(zip(paths, hashes, strict=True))
    vectors = embedded.vectors[np.asarray(rows, dtype=np.int64)] if rows else embedded.vectors[:0]
    return VectorSet(kept, vectors, [by_path[p] for p in kept], failures, embedder.spec)


@dataclass
class PairsAnswer:
    """Pairs best first, the files that could not be read, how many were compared, and the join's report."""

    pairs: list[Pair]
    failures: list[ImageReadError]
    count: int
    report: JoinReport | None = None


def find_pairs(found: VectorSet, top: int = 1, every: bool = False, options: JoinOptions | None = None,
               progress: Progress | None = None) -> PairsAnswer:
    """The `top` most similar pairs of a set (through the join), or every pair of a small set."""
    if every:
        scored, report = all_pairs(found.vectors), None
    else:
        scored, report = join_top_pairs(found.vectors, top, options, progress)
    pairs = [Pair(found.paths[p.i], found.paths[p.j], p.score) for p in scored]
    return PairsAnswer(pairs, found.failures, len(found.paths), report)


@dataclass
class DuplicateGroup:
    """Files that duplicate each other: `kind` "exact" (one content) or "near" (linked by similarity
    >= the threshold). Members sorted by path; `scores[m]` is member m's cosine to the first member."""

    kind: str
    members: list[Path]
    scores: list[float]


@dataclass
class DuplicatesAnswer:
    """Exact groups first, then near ones, each largest first."""

    groups: list[DuplicateGroup]
    failures: list[ImageReadError]
    report: JoinReport | None = None


def find_duplicates(found: VectorSet, threshold: float = DUPLICATE_THRESHOLD, options: JoinOptions | None = None,
                    progress: Progress | None = None) -> DuplicatesAnswer:
    """Connected components of the files linked by equal content or a similarity >= `threshold`."""
    count = len(found.paths)
    if count < 2:
        return DuplicatesAnswer([], found.failures)
    i, j, _, report = join_edges(found.vectors, threshold, options, progress)
    hashes = found.hashes or [""] * count
    same = exact_hash_groups([h or f"?{n}" for n, h in enumerate(hashes)])
    chain_i = np.concatenate([i, *(np.asarray(g[:-1], np.int64) for g in same)])
    chain_j = np.concatenate([j, *(np.asarray(g[1:], np.int64) for g in same)])
    groups = []
    for members in connected_groups(count, chain_i, chain_j):
        members.sort(key=lambda m: found.paths[m])
        exact = found.hashes is not None and len({hashes[m] for m in members}) == 1
        scores = found.vectors[members] @ found.vectors[members[0]]
        groups.append(DuplicateGroup("exact" if exact else "near", [found.paths[m] for m in members],
                                     [1.0 if exact else float(s) for s in scores]))
    groups.sort(key=lambda g: (g.kind != "exact", -len(g.members), g.members[0]))
    return DuplicatesAnswer(groups, found.failures, report)


@dataclass(frozen=True)
class MatchRow:
    """A file of A, its rank-th best match in B, and their cosine similarity."""

    a: Path
    b: Path
    score: float
    rank: int


@dataclass
class MatchAnswer:
    rows: list[MatchRow]
    failures: list[ImageReadError]
    report: JoinReport


def match(a: VectorSet, b: VectorSet, k: int = 1, threshold: float | None = None,
          options: JoinOptions | None = None, progress: Progress | None = None) -> MatchAnswer:
    """For each file of A (in path order), its k best matches in B (at or above `threshold`)."""
    if a.spec is not None and b.spec is not None:
        b.spec.check_compatible(a.spec, "the vectors of B")
    scores, indices, report = cross_knn(a.vectors, b.vectors, k, threshold, options, progress)
    rows = []
    for row in sorted(range(len(a.paths)), key=lambda r: a.paths[r]):
        for rank, (score, hit) in enumerate(zip(scores[row], indices[row], strict=True), 1):
            if hit >= 0:
                rows.append(MatchRow(a.paths[row], b.paths[hit], float(score), rank))
    return MatchAnswer(rows, a.failures + b.failures, report)


@dataclass(frozen=True)
class AddedDuplicate:
    """A newly indexed file that duplicates one already in the library."""

    path: Path
    existing: Path
    kind: str
    score: float


def next_file_id(library: Library) -> int:
    """The catalog id the next newly indexed file will get at least (for `added_duplicates`)."""
    return library.catalog.max_id() + 1


def added_duplicates(library: Library, first_new_id: int, threshold: float | None = None,
                     options: JoinOptions | None = None, neighbours: int = 3) -> list[AddedDuplicate]:
    """Files indexed with catalog id >= `first_new_id` that have the same content as a file indexed
    before them ("exact"), or that duplicate one ("near"). With `threshold` a similarity alone decides;
    without, the model's calibrated decision of `duplicates` (the library's saved calibration first):
    each new file's `neighbours` nearest older files above the candidate threshold, accepted above the
    accept threshold and checked by keypoints in between (only above it when OpenCV is missing)."""
    from .dedupe.decisions import distinct_pairs, is_distinct
    from .dedupe.run import SAVED_THRESHOLD_KEY, DuplicateOptions, resolve_thresholds
    from .dedupe.verify import Verifier, opencv_available

    found = library_set(library)
    ids, hashes = found.ids if found.ids is not None else np.zeros(0, np.int64), found.hashes or []
    split = int(np.searchsorted(ids, first_new_id))
    if split == len(ids) or split == 0:
        return []
    old_hash: dict[str, int] = {}
    for row in range(split):
        old_hash.setdefault(hashes[row], row)
    if threshold is None:
        used = resolve_thresholds(library.spec.model, DuplicateOptions(),
                                  library.catalog.get_meta(SAVED_THRESHOLD_KEY))
        floor, accept = used.candidate, used.accept
    else:
        floor = accept = threshold
    new = found.vectors[split:]
    scores, indices, _ = cross_knn(new, found.vectors[:split], 1 if floor >= accept else neighbours, floor, options)
    fresh = np.asarray([hashes[split + offset] not in old_hash for offset in range(len(new))], dtype=bool)
    borderline = (indices >= 0) & (scores < accept) & fresh[:, None]
    inliers = np.full(scores.shape, -1, np.int64)
    if borderline.any() and opencv_available():
        rows, cols = np.nonzero(borderline)
        inliers[rows, cols] = Verifier(found.paths).verify(rows + split, indices[rows, cols]).inliers
    min_inliers = DuplicateOptions().min_inliers
    marked = distinct_pairs(library.catalog)  # "not a duplicate" decisions hold here too
    duplicates = []
    for offset in range(len(new)):
        row = split + offset
        if not fresh[offset]:
            duplicates.append(AddedDuplicate(found.paths[row], found.paths[old_hash[hashes[row]]], "exact", 1.0))
            continue
        for rank in range(scores.shape[1]):  # best first: the first accepted or confirmed neighbour
            other = int(indices[offset, rank])
            if other < 0 or is_distinct(marked, hashes[row], hashes[other]):
                continue
            if scores[offset, rank] >= accept or inliers[offset, rank] >= min_inliers:
                duplicates.append(AddedDuplicate(found.paths[row], found.paths[other], "near",
                                                 float(scores[offset, rank])))
                break
    return duplicates
