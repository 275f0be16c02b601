"""The FAISS index of a library: exact Flat, HNSW or IVF over inner product (= cosine on unit
vectors), keyed by catalog ids, saved atomically (temp file, fsync, rename) beside a manifest that
records its SHA-256, so a damaged index file is noticed and rebuilt from the catalog."""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

from ..errors import CorruptLibraryError, LibraryError, LookalikeError
from ..join.exact import flat_index

IndexKind = Literal["auto", "flat", "hnsw", "ivf"]
_KINDS = ("auto", "flat", "hnsw", "ivf")
FLAT_LIMIT = 50_000  # below this many vectors `auto` keeps exact search
MANIFEST_FORMAT = 1
IVF_TRAIN_PER_LIST = 64  # k-means sample size per list: enough for stable centroids, bounded time


@dataclass
class IndexParams:
    """How the index is built and searched; `None` fields are chosen from the vector count."""

    kind: IndexKind = "auto"
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int | None = None
    nlist: int | None = None
    nprobe: int | None = None

    def resolved(self, count: int) -> IndexParams:
        """Concrete parameters for `count` vectors."""
        kind = self.kind if self.kind != "auto" else ("flat" if count < FLAT_LIMIT else "hnsw")
        nlist = self.nlist or max(1, min(int(4 * math.sqrt(max(count, 1))), max(count // 39, 1)))
        return IndexParams(
            kind=kind, hnsw_m=self.hnsw_m, ef_construction=self.ef_construction,
            ef_search=self.ef_search or (64 if count < 200_000 else 128 if count < 500_000 else 256),
            nlist=nlist, nprobe=self.nprobe or min(nlist, max(16, nlist // 8)),
        )


@dataclass
class Manifest:
    """What `vectors.faiss` holds: the spec, the index kind and parameters, and the catalog
    generation it reflects (an older generation means the index must be caught up)."""

    spec: dict[str, Any]
    params: dict[str, Any]
    count: int
    generation: int
    root: str
    format: int = MANIFEST_FORMAT
    requested: dict[str, Any] = field(default_factory=dict)
    checksum: str = ""  # "sha256:<hex>" of the index file ("" in manifests written before checksums)

    def index_params(self) -> tuple[IndexParams, IndexParams]:
        """(built, requested) index parameters."""
        return IndexParams(**self.params), IndexParams(**self.requested)

    def dump(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text())
            manifest = cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise CorruptLibraryError(f"unreadable manifest ({exc}); nothing was changed", path=path,
                                      repair=True) from None
        if manifest.format > MANIFEST_FORMAT:
            raise CorruptLibraryError(f"manifest format {manifest.format} is newer than this lookalike", path=path)
        try:
            built, requested = manifest.index_params()
            valid = all(p.kind in _KINDS for p in (built, requested)) and \
                isinstance(manifest.count, int) and isinstance(manifest.generation, int)
        except TypeError:
            valid = False
        if not valid:
            raise CorruptLibraryError("manifest holds invalid values; nothing was changed", path=path, repair=True)
        return manifest


TEMP_SUFFIX = ".tmp"


def file_checksum(path: Path) -> str:
    """"sha256:<hex>" of a file's content."""
    with open(path, "rb") as handle:
        return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()


def remove_stale_temp_files(directory: Path) -> list[Path]:
    """Delete the temporary files (`.<name>.<pid>.tmp`, `.<name>.<pid>.creating*`) that killed runs
    left in a library folder; call only while holding the writer lock. Returns what was removed."""
    removed = []
    for pattern in (f".*.*{TEMP_SUFFIX}", ".*.*.creating", ".*.*.creating-*"):
        for leftover in directory.glob(pattern):
            try:
                if leftover.is_file() and not leftover.is_symlink():
                    leftover.unlink()
                    removed.append(leftover)
            except OSError:
                pass
    return removed


def sync_directory(directory: Path) -> None:
    """fsync a folder so that a rename in it survives a power cut."""
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _write_error(path: Path, exc: BaseException) -> LibraryError:
    text = str(exc)
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "No space left" in text:
        return LibraryError(
            "no space left on device writing it; nothing indexed was lost (free some space and run "
            "`lookalike index` again)", path=path, disk_full=True,
        )
    first = (text.strip().splitlines() or [type(exc).__name__])[-1][:160]
    return LibraryError(f"cannot write it ({first}); nothing indexed was lost", path=path)


def write_atomically(path: Path, write: Any) -> str:
    """Write through `write(temp_path)`, fsync, then rename over `path`: old or new, never torn.
    Returns the new file's checksum. A full disk or I/O error becomes one `LibraryError`."""
    temp = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        write(temp)
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        checksum = file_checksum(temp)
        os.replace(temp, path)
        sync_directory(path.parent)
    except (OSError, RuntimeError) as exc:
        raise _write_error(path, exc) from None
    finally:
        if temp.exists():
            temp.unlink()
    return checksum


class VectorIndex:
    """A FAISS index whose ids are catalog ids."""

    def __init__(self, index: faiss.Index, params: IndexParams, requested: IndexParams | None = None) -> None:
        self.index = index
        self.params = params  # what was built, every field concrete
        self.requested = requested or IndexParams()  # what the user asked for; rebuilds start from it

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    @property
    def kind(self) -> str:
        return str(self.params.kind)

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, dim: int, params: IndexParams) -> VectorIndex:
        """A new index over `vectors` (rows) with `ids`; IVF is trained on them."""
        chosen = params.resolved(len(ids))
        if chosen.kind == "flat":
            index: faiss.Index = faiss.IndexIDMap2(flat_index(dim=dim))
        elif chosen.kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(dim, chosen.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = chosen.ef_construction
            index = faiss.IndexIDMap2(hnsw)
        elif chosen.kind == "ivf":
            if len(ids) == 0:
                raise LookalikeError("an IVF index needs vectors to train on; index some images first")
            quantizer = flat_index(dim=dim)
            nlist = int(chosen.nlist or 1)
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = np.random.default_rng(0).permutation(len(vectors))[: IVF_TRAIN_PER_LIST * nlist]
            index.train(np.ascontiguousarray(vectors[np.sort(sample)], dtype=np.float32))
        else:
            raise LookalikeError(f"unknown index type '{chosen.kind}': choose auto, flat, hnsw or ivf")
        built = cls(index, chosen, params)
        built.add(ids, vectors)
        return built

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                    np.ascontiguousarray(ids, dtype=np.int64))

    def can_remove(self) -> bool:
        """HNSW graphs cannot drop nodes; the library rebuilds those instead."""
        return self.kind != "hnsw"

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self.index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))

    def ids(self) -> np.ndarray:
        """Every id in the index (for consistency checks)."""
        if isinstance(self.index, faiss.IndexIDMap2 | faiss.IndexIDMap):
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        invlists = faiss.extract_index_ivf(self.index).invlists
        parts = [faiss.rev_swig_ptr(invlists.get_ids(list_no), invlists.list_size(list_no)).copy()
                 for list_no in range(invlists.nlist) if invlists.list_size(list_no)]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def search(self, queries: np.ndarray, k: int, ef_search: int | None = None,
               nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), best first; id -1 where fewer than k exist."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.kind == "hnsw":
            searcher = faiss.SearchParametersHNSW(efSearch=max(ef_search or self.params.ef_search or 64, k))
            return self.index.search(queries, k, params=searcher)
        if self.kind == "ivf":
            searcher = faiss.SearchParametersIVF(nprobe=nprobe or self.params.nprobe or 8)
            return self.index.search(queries, k, params=searcher)
        return self.index.search(queries, k)

    def save(self, path: Path) -> str:
        """Write the index atomically; returns its checksum for the manifest."""
        return write_atomically(path, lambda temp: faiss.write_index(self.index, str(temp)))

    @classmethod
    def load(cls, path: Path, params: IndexParams, requested: IndexParams | None = None,
             mmap: bool = False) -> VectorIndex:
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        try:
            index = faiss.read_index(str(path), flags)
        except RuntimeError as exc:
            first = (str(exc).strip().splitlines() or ["unreadable"])[-1][:160]
            raise CorruptLibraryError(f"unreadable FAISS index ({first}); nothing was changed", path=path,
                                      repair=True) from None
        return cls(index, params, requested)
