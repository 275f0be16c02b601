"""Photo-level checks that are done once: the evidence for a pair is kept in the store by the two
content hashes (order does not matter), so a second run, check-on-add and the web page reuse it and
only pairs never checked are verified; new evidence is written a batch at a time, so a cancelled or
killed run keeps what it finished."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LibraryError, LibraryLockedError
from ..store.base import VectorStore
from ..types import Cancel, PairVerdict, Progress
from .verifier import CHUNK, Verifier
from .verify import VerifyOptions, confirmed

BATCH = 4096  # pairs verified between two writes to the store
Checked = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]
"""Hears (i, j, confirmed, inliers) of pairs as their evidence arrives: stored ones first, then a chunk
of checked ones at a time (groups shown as they are found)."""


@dataclass
class CheckedPairs:
    """Evidence per pair and where it came from."""

    inliers: np.ndarray
    agreement: np.ndarray
    reused: int = 0
    checked: int = 0
    images: int = 0
    seconds: float = 0.0
    unsaved: list[str] = field(default_factory=list)

    def confirmed(self, options: VerifyOptions) -> np.ndarray:
        return confirmed(self.inliers, self.agreement, options)


def _spill_dir(store: VectorStore | None) -> Path | None:
    """Where features spilled from memory go: the library's own folder on disk (never a tmpfs as the
    system's temporary folder may be), else None (the temporary folder: no library, or PostgreSQL)."""
    if store is None or not (store.persistent and store.writable):
        return None
    location = store.location
    return location if location.is_dir() else None


class PairChecker:
    """Verifies pairs of `paths` (content `hashes`, same order), through the store's stored verdicts
    when there is a store; counts how many pairs it really checked."""

    def __init__(self, paths: list[Path], hashes: list[str], store: VectorStore | None = None,
                 options: VerifyOptions | None = None, cancel: Cancel | None = None,
                 progress: Progress | None = None, checked: Checked | None = None) -> None:
        self.paths, self.hashes, self.store = paths, hashes, store
        self.heard = checked
        self.options = options or VerifyOptions()
        self.verifier = Verifier(paths, self.options, spill_dir=_spill_dir(store))
        self.cancel, self.progress = cancel, progress
        self.method = self.options.method()
        self.checked = 0
        self.reused = 0
        self.seconds = 0.0
        self.unsaved: list[str] = []
        self._saving = store is not None and store.writable

    def _key(self, i: int, j: int) -> tuple[str, str]:
        a, b = self.hashes[i], self.hashes[j]
        return (a, b) if a < b else (b, a)

    def check(self, i: np.ndarray, j: np.ndarray) -> CheckedPairs:
        """Evidence for every pair (i[e], j[e]); with a `checked` listener, pairs are verified (and their
        verdicts kept) a verification chunk at a time, so it hears them soon."""
        left, right = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
        inliers = np.full(len(left), -1, np.int64)
        agreement = np.full(len(left), -1.0)
        keys = [self._key(int(a), int(b)) for a, b in zip(left, right, strict=True)]
        stored = self.store.verdicts(keys, self.method) if self.store is not None and keys else {}
        missing = []
        for edge, key in enumerate(keys):
            if (found := stored.get(key)) is not None:
                inliers[edge], agreement[edge] = found.inliers, found.agreement
            else:
                missing.append(edge)
        self.reused += len(keys) - len(missing)
        todo = np.asarray(missing, dtype=np.int64)
        if len(todo) < len(keys):
            self._tell(left, right, inliers, agreement, np.setdiff1d(np.arange(len(keys)), todo))
        images_before = self.verifier.computed
        size = CHUNK if self.heard is not None else BATCH
        for start in range(0, len(todo), size):
            batch = todo[start : start + size]
            offset = start

            def report(done: int, total: int, offset: int = offset) -> None:
                if self.progress is not None:
                    self.progress(offset + done, len(todo))

            done = self.verifier.verify(left[batch], right[batch], self.cancel, report)
            inliers[batch], agreement[batch] = done.inliers, done.agreement
            self.seconds += done.seconds
            self.checked += len(batch)
            self._tell(left, right, inliers, agreement, batch)
            self._save([PairVerdict(*keys[int(e)], self.method, int(n), float(g))
                        for e, n, g in zip(batch, done.inliers, done.agreement, strict=True)
                        if n != -1 and keys[int(e)][0] and keys[int(e)][0] != keys[int(e)][1]])
        return CheckedPairs(inliers, agreement, len(keys) - len(missing), len(missing),
                            self.verifier.computed - images_before)

    def _tell(self, left: np.ndarray, right: np.ndarray, inliers: np.ndarray, agreement: np.ndarray,
              edges: np.ndarray) -> None:
        if self.heard is not None and len(edges):
            self.heard(left[edges], right[edges], confirmed(inliers[edges], agreement[edges], self.options),
                       inliers[edges])

    def _save(self, verdicts: list[PairVerdict]) -> None:
        """Keep new evidence in the store; another writer holding it only costs the reuse."""
        if not self._saving or not verdicts or self.store is None:
            return
        try:
            self.store.record_verdicts(verdicts)
        except (LibraryLockedError, LibraryError) as exc:
            self.unsaved.append(exc.reason)
            self._saving = False
