"""Photo-level checks of many pairs (the rule of one pair is verify.py's): in threads (OpenCV
releases the GIL), a chunk of pairs at a time, each image's features computed once. Features stay in
memory up to CACHE_BYTES; beyond that the least recently used move to a private temporary file and
are read back from there (microseconds, where computing them again means decoding the file and
finding its keypoints: the cost of a whole run when pairs come in no useful order)."""

from __future__ import annotations

import os
import pickle
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import ImageReadError, check_cancel
from ..system import available_cores
from ..types import Cancel, Progress
from .features import Features, load_features
from .verify import PairCheck, VerifyOptions, VerifyReport, check_pair

CHUNK = 512  # pairs checked between two cancel/progress points and evictions
CACHE_BYTES = 256 << 20  # features kept in memory up to this much


class Verifier:
    """Checks pairs of `paths`; each image's features are computed once, on first use, kept in memory
    up to CACHE_BYTES and beyond that moved to a private temporary file (read back in microseconds,
    never computed again), least recently used first. `spill_dir`: where that file goes (a library's
    own folder: the system's temporary folder may be RAM, a tmpfs); the temporary folder when None."""

    def __init__(self, paths: list[Path], options: VerifyOptions | None = None, spill_dir: Path | None = None) -> None:
        self.paths = paths
        self.options = options or VerifyOptions()
        self._cache: dict[int, Features | None] = {}
        self._last_used: dict[int, int] = {}
        self._tick = 0
        self._spill = FeatureSpill(spill_dir)
        self.computed = 0  # images whose features were computed (a second run on cached verdicts: 0)

    def _load(self, position: int) -> tuple[Features | None, bool]:
        """The features of one image and whether they were computed now (not read back)."""
        if (kept := self._spill.read(position)) is not None:
            return kept, False
        try:
            return load_features(self.paths[position], self.options.features), True
        except ImageReadError:
            return None, True

    def pair(self, i: int, j: int) -> PairCheck:
        a, b = self._cache.get(i), self._cache.get(j)
        if a is None or b is None:
            return PairCheck(-1, -1.0)
        return check_pair(a, b, self.options)

    def _evict(self, tick: int) -> None:
        """Over the budget: move the least recently used images' features to the spill file."""
        held = sum(f.nbytes for f in self._cache.values() if f is not None)
        if held <= CACHE_BYTES:
            return
        for position in sorted(self._cache, key=lambda p: self._last_used.get(p, -1)):
            if held <= CACHE_BYTES * 3 // 4 or self._last_used.get(position, -1) >= tick:
                break
            dropped = self._cache.pop(position)
            if dropped is not None:
                self._spill.write(position, dropped)
                held -= dropped.nbytes

    def verify(self, i: np.ndarray, j: np.ndarray, cancel: Cancel | None = None,
               progress: Progress | None = None) -> VerifyReport:
        """Evidence for every edge (i[e], j[e]), in parallel, a chunk of pairs at a time; `cancel` is
        asked before each image and each pair (a True stops with Cancelled); `progress` hears
        (pairs done, pairs) after each chunk."""
        import cv2

        started = time.perf_counter()
        cv2.setNumThreads(1)  # parallel across pairs instead
        left = np.asarray(i, dtype=np.int64)
        right = np.asarray(j, dtype=np.int64)
        inliers = np.zeros(len(left), np.int64)
        agreements = np.zeros(len(left), np.float64)
        images: set[int] = set()
        workers = self.options.workers or available_cores()

        def load(position: int) -> tuple[int, Features | None, bool]:
            check_cancel(cancel)
            return position, *self._load(position)

        def pair(edge: int) -> tuple[int, PairCheck]:
            check_cancel(cancel)
            return edge, self.pair(int(left[edge]), int(right[edge]))

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookalike-verify") as pool:
            for start in range(0, len(left), CHUNK):
                edges = range(start, min(start + CHUNK, len(left)))
                touched = {int(left[e]) for e in edges} | {int(right[e]) for e in edges}
                self._tick += 1
                tick = self._tick
                self._last_used.update(dict.fromkeys(touched, tick))
                needed = sorted(touched - set(self._cache))
                for position, found, computed in pool.map(load, needed):
                    self._cache[position] = found
                    self.computed += int(computed)
                images.update(touched)
                for edge, result in pool.map(pair, edges):
                    inliers[edge], agreements[edge] = result.inliers, result.agreement
                self._evict(tick)
                if progress is not None:
                    progress(edges.stop, len(left))
        return VerifyReport(inliers, agreements, len(images), len(left), time.perf_counter() - started)


class FeatureSpill:
    """Features moved out of memory, in a private temporary file (unlinked at once: it goes away with
    the process, even a killed one), pickled one image after another; read back by offset."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._file: IO[bytes] | None = None
        self._where: dict[int, tuple[int, int]] = {}

    def write(self, position: int, features: Features) -> None:
        if position in self._where:  # written before: the same features
            return
        if self._file is None:
            self._file = self._open()
        data = pickle.dumps(features, protocol=pickle.HIGHEST_PROTOCOL)
        offset = self._file.seek(0, os.SEEK_END)
        self._file.write(data)
        self._file.flush()
        self._where[position] = (offset, len(data))

    def read(self, position: int) -> Features | None:
        """The features written for `position` (None when there are none); safe from several threads."""
        where = self._where.get(position)
        if where is None or self._file is None:
            return None
        data = os.pread(self._file.fileno(), where[1], where[0])
        found = pickle.loads(data)  # our own file, written above by this process
        return found if isinstance(found, Features) else None

    def _open(self) -> IO[bytes]:
        """The spill file: in `directory` when it can hold one, else in the system's temporary folder."""
        if self.directory is not None:
            try:
                return tempfile.TemporaryFile(prefix="lookalike-features-", dir=self.directory)
            except OSError:
                pass  # read-only or full: the temporary folder may still have room
        return tempfile.TemporaryFile(prefix="lookalike-features-")
