"""A store for a folder embedded for one call: every image found below the folder, hashed, each
content embedded once (copies share its vector), nothing written anywhere. Folder commands on a
folder without a library run on it, through the same code as library commands."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..embedders import Embedder, EmbeddingSpec
from ..errors import ImageReadError, InvalidArgumentError, LibraryError
from ..images import find_images
from ..join.exact import knn, rank_hits
from ..pipeline import PipelineOptions, embed_paths
from ..types import Match, PairVerdict
from .base import Checkpoint, LibraryStats, Snapshot, StoredFile, SyncReport
from .scan import hash_files
from .vectors import IndexParams

_NO_LIBRARY = "this folder has no library: run `index` on it first"


class MemoryStore:
    """A folder's images with their vectors, held in memory (a `store.base.VectorStore`).

    Ids are positions + 1 in path order; `sync` embeds the folder (once; again only with `rehash`)."""

    def __init__(self, folder: str | os.PathLike[str], embedder: Callable[[], Embedder],
                 options: PipelineOptions | None = None) -> None:
        self.root = Path(folder)
        self._embedder_factory = embedder
        self._embedder: Embedder | None = None
        self._options = options
        self._paths: list[Path] = []
        self._hashes: list[str] = []
        self._times: list[float | None] = []  # a video's frames: their moments (None for photos)
        self._vectors: np.ndarray | None = None
        self._failures: list[ImageReadError] = []
        self._identities: dict[tuple[int, int], int] | None = None
        self._verdicts: dict[tuple[str, str, str], PairVerdict] = {}

    # identity ---------------------------------------------------------------------------------
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._embedder_factory()
        return self._embedder

    @property
    def spec(self) -> EmbeddingSpec:
        return self.embedder().spec

    @property
    def location(self) -> Path:
        return self.root

    @property
    def persistent(self) -> bool:
        return False

    @property
    def writable(self) -> bool:
        return True

    # filling ----------------------------------------------------------------------------------
    def sync(self, retry_failed: bool = False, options: PipelineOptions | None = None,
             index_params: IndexParams | None = None, rebuild_index: bool = False,
             checkpoint: Checkpoint | None = None, rehash: bool = False) -> SyncReport:
        """Find, hash and embed the folder's images (each content once); later calls keep the vectors
        unless `rehash` asks for a fresh pass."""
        if self._vectors is not None and not rehash:
            return SyncReport(unchanged=len(self._paths))
        paths = find_images(self.root, videos=True)
        if not paths:
            raise LibraryError("no image files found", path=self.root)
        relative = [os.path.relpath(p, self.root) for p in paths]
        digests = hash_files(self.root, relative)
        hashes = [digests[r] for r in relative]
        first: dict[str, Path] = {}
        for path, digest in zip(paths, hashes, strict=True):
            first.setdefault(digest or f"unreadable:{path}", path)
        embedded = embed_paths(self.embedder(), list(first.values()), options or self._options)
        rows_of: dict[Path, list[int]] = {}  # a video has one row per sampled frame
        for row, path in enumerate(embedded.paths):
            rows_of.setdefault(path, []).append(row)
        reason = {Path(f.path or ""): f.reason for f in embedded.failures}
        kept, kept_hashes, rows, failures = [], [], [], list(embedded.failures)
        for path, digest in zip(paths, hashes, strict=True):
            source = first[digest or f"unreadable:{path}"]
            if source in rows_of:
                kept.extend([path] * len(rows_of[source]))
                kept_hashes.extend([digest] * len(rows_of[source]))
                rows.extend(rows_of[source])
            elif source != path:
                failures.append(ImageReadError(path, reason.get(source, "could not be read")))
        self._paths, self._hashes, self._failures = kept, kept_hashes, failures
        self._times = [embedded.times[row] for row in rows] if embedded.times else []
        self._vectors = embedded.vectors[np.asarray(rows, dtype=np.int64)] if rows else embedded.vectors[:0]
        self._identities = None
        return SyncReport(added=len(set(kept)), embedded=len(rows_of), failures=list(failures))

    def _ready(self) -> np.ndarray:
        if self._vectors is None:
            self.sync()
        assert self._vectors is not None
        return self._vectors

    # reading ----------------------------------------------------------------------------------
    def id_of(self, path: str | os.PathLike[str]) -> tuple[int | None, bool]:
        """The id of the file `path` names (by file identity: another spelling or a hard link counts)."""
        self._ready()
        if self._identities is None:
            self._identities = {}
            for position, known in enumerate(self._paths):
                try:
                    info = known.stat()
                except OSError:
                    continue
                self._identities.setdefault((info.st_dev, info.st_ino), position + 1)
        try:
            wanted = Path(path).stat()
        except OSError:
            return None, False
        found = self._identities.get((wanted.st_dev, wanted.st_ino))
        return found, found is not None

    def vector_of(self, file_id: int) -> np.ndarray | None:
        vectors = self._ready()
        return vectors[file_id - 1].copy() if 1 <= file_id <= len(vectors) else None

    def search_vector(self, vector: np.ndarray, k: int = 10, exclude: int | None = None,
                      threshold: float | None = None, exact: bool = False, ef_search: int | None = None,
                      nprobe: int | None = None) -> list[Match]:
        """Exact search (an in-memory store has no approximate index)."""
        vectors = self._ready()
        if vector.shape[-1] != vectors.shape[1]:
            raise InvalidArgumentError(f"query vector has {vector.shape[-1]} dimensions, the store "
                                       f"{vectors.shape[1]}", argument="vector")
        frames = len(self._paths) - len(set(self._paths))  # rows beyond a video's best frame
        fetch = min(k + (exclude is not None) + frames, len(vectors))
        if fetch < 1:
            return []
        scores, rows = knn(vectors, vector[None, :], fetch)
        found = rank_hits(scores[0], np.where(rows[0] >= 0, rows[0] + 1, -1), fetch, exclude, threshold)
        left_out = self._paths[exclude - 1] if exclude is not None and 1 <= exclude <= len(self._paths) else None
        best: dict[Path, Match] = {}  # a video once, at its best frame; none of the query's own frames
        for score, i in found:
            if self._paths[i - 1] != left_out:
                best.setdefault(self._paths[i - 1], Match(self._paths[i - 1], score, i, self._time(i - 1)))
        return list(best.values())[:k]

    def _time(self, row: int) -> float | None:
        return self._times[row] if self._times else None

    def files(self, ids: Sequence[int]) -> dict[int, StoredFile]:
        self._ready()
        found = {}
        for file_id in ids:
            if 1 <= file_id <= len(self._paths):
                path = self._paths[file_id - 1]
                size = path.stat().st_size if path.exists() else 0
                found[int(file_id)] = StoredFile(int(file_id), path, size, self._hashes[file_id - 1], None, None)
        return found

    def snapshot(self) -> Snapshot:
        vectors = self._ready()
        ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
        return Snapshot(ids, list(self._paths), list(self._hashes), vectors, self.spec, list(self._failures),
                        list(self._times))

    def iter_vectors(self, chunk: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        vectors = self._ready()
        for start in range(0, len(vectors), chunk):
            yield np.arange(start + 1, min(start + chunk, len(vectors)) + 1, dtype=np.int64), \
                vectors[start : start + chunk]

    def next_id(self) -> int:
        return len(self._ready()) + 1

    def failures(self) -> list[ImageReadError]:
        return list(self._failures)

    def stats(self, scan: bool = True) -> LibraryStats:
        vectors = self._ready()
        return LibraryStats(root=str(self.root), model=self.spec.model, dim=self.spec.dim, index="memory",
                            indexed=len(vectors), failed=len(self._failures), pending=0, missing=0,
                            failures=[(str(f.path), f.reason) for f in self._failures])

    # changes ----------------------------------------------------------------------------------
    def remove(self, files: Sequence[str | os.PathLike[str]]) -> int:
        """Leave these files out of this store's answers (the folder is not touched)."""
        vectors = self._ready()
        drop = {found for f in files if (found := self.id_of(f)[0]) is not None}
        gone = {self._paths[i - 1] for i in drop}  # every frame of a dropped video
        keep = [i for i in range(len(self._paths)) if self._paths[i] not in gone]
        self._paths = [self._paths[i] for i in keep]
        self._hashes = [self._hashes[i] for i in keep]
        self._times = [self._times[i] for i in keep] if self._times else []
        self._vectors = vectors[np.asarray(keep, dtype=np.int64)] if keep else vectors[:0]
        self._identities = None
        return len(drop)

    def get_meta(self, key: str) -> str | None:
        return None

    def set_meta(self, key: str, value: str) -> None:
        raise LibraryError(_NO_LIBRARY, path=self.root)

    def update_meta(self, key: str, change: Callable[[str | None], str]) -> str:
        raise LibraryError(_NO_LIBRARY, path=self.root)

    def distinct_pairs(self) -> set[tuple[str, str]]:
        return set()

    def record_distinct(self, hashes: Sequence[str]) -> int:
        raise LibraryError(_NO_LIBRARY, path=self.root)

    def verdicts(self, pairs: Sequence[tuple[str, str]], method: str) -> dict[tuple[str, str], PairVerdict]:
        """Verdicts recorded on this store while it lives (nothing is written to disk)."""
        found = {}
        for a, b in pairs:
            key = (a, b) if a < b else (b, a)
            if (verdict := self._verdicts.get((*key, method))) is not None:
                found[key] = verdict
        return found

    def record_verdicts(self, verdicts: Sequence[PairVerdict]) -> int:
        kept = [v for v in verdicts if v.hash_a and v.hash_a < v.hash_b]
        self._verdicts.update({(v.hash_a, v.hash_b, v.method): v for v in kept})
        return len(kept)

    def close(self) -> None:
        self._vectors = None

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

