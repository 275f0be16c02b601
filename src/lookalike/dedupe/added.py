"""Check-on-add: which newly indexed files duplicate files indexed before them, by the same
calibrated decision as `duplicates` (or a plain similarity threshold when one is given)."""

from __future__ import annotations

import numpy as np

from ..join import JoinOptions, cross_knn
from ..store.base import VectorStore
from ..types import AddedDuplicate, DuplicateOptions
from .decisions import is_distinct
from .run import SAVED_THRESHOLD_KEY, resolve_thresholds
from .verdicts import PairChecker
from .verify import VerifyOptions, opencv_available


def added_duplicates(store: VectorStore, first_new_id: int, threshold: float | None = None,
                     options: JoinOptions | None = None, neighbours: int = 3) -> list[AddedDuplicate]:
    """Files indexed with id >= `first_new_id` that have the same content as a file indexed before
    them ("exact"), or that duplicate one ("near"). With `threshold` a similarity alone decides;
    without, the model's calibrated decision of `duplicates` (the store's saved calibration first):
    each new file's `neighbours` nearest older files above the candidate threshold, each confirmed at
    photo level (verdicts shared with `duplicates` through the store), or, when OpenCV is missing,
    accepted above the accept threshold only."""
    found = store.snapshot()
    ids, hashes = found.ids, found.hashes
    split = int(np.searchsorted(ids, first_new_id))
    if split == len(ids) or split == 0:
        return []
    old_hash: dict[str, int] = {}
    for row in range(split):
        old_hash.setdefault(hashes[row], row)
    if threshold is None:
        used = resolve_thresholds(found.spec.model, DuplicateOptions(), store.get_meta(SAVED_THRESHOLD_KEY))
        floor, accept = used.candidate, used.accept
    else:
        floor = accept = threshold
    new = found.vectors[split:]
    scores, indices, _ = cross_knn(new, found.vectors[:split], 1 if floor >= accept else neighbours, floor, options)
    fresh = np.asarray([hashes[split + offset] not in old_hash for offset in range(len(new))], dtype=bool)
    checking = threshold is None and opencv_available()
    candidates = (indices >= 0) & fresh[:, None] & (checking | (scores >= accept))
    confirmed = np.zeros(scores.shape, bool)
    if checking and candidates.any():
        rows, cols = np.nonzero(candidates)
        rule = VerifyOptions()
        checker = PairChecker(found.paths, hashes, store, rule)
        confirmed[rows, cols] = checker.check(rows + split, indices[rows, cols]).confirmed(rule)
    elif candidates.any():
        confirmed = candidates
    marked = store.distinct_pairs()  # "not a duplicate" decisions hold here too
    duplicates: list[AddedDuplicate] = []
    told: set[object] = set()  # a video has a row per frame: it is told once, at its first match
    for offset in range(len(new)):
        row = split + offset
        if found.paths[row] in told:
            continue
        if not fresh[offset]:
            told.add(found.paths[row])
            duplicates.append(AddedDuplicate(found.paths[row], found.paths[old_hash[hashes[row]]], "exact", 1.0))
            continue
        for rank in range(scores.shape[1]):  # best first: the first accepted or confirmed neighbour
            other = int(indices[offset, rank])
            if other < 0 or is_distinct(marked, hashes[row], hashes[other]):
                continue
            if confirmed[offset, rank]:
                duplicates.append(AddedDuplicate(found.paths[row], found.paths[other], "near",
                                                 float(scores[offset, rank])))
                told.add(found.paths[row])
                break
    return duplicates
