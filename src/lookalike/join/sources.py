"""Vector sources for the join that keep the vectors on disk: `DiskVectors` reads rows of an .npy (or
raw float32) file with `pread` when the join asks for them, so the process's memory holds the join's
blocks and bookkeeping, never the vectors (a memory map would count every page it touched in the
process's RSS); `parquet_to_npy` turns Parquet shards (a `vector` column, e.g. the Ray engine's) into
such a file chunk by chunk. Both stand in for the (n, d) array every join function takes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LookalikeError, display_path

_ROW_GAP = 8  # rows apart that are still read in one call (skipping a few rows beats another syscall)


class DiskVectors:
    """A read-only (n, d) float32 matrix in a file, read on demand; supports `len`, `shape`, `ndim`,
    slices, integer rows and integer arrays of rows (any order), as the join uses them."""

    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(self, path: str | os.PathLike[str], dim: int | None = None) -> None:
        self.path = Path(path)
        self._fd = -1
        try:
            if self.path.suffix == ".npy":
                with open(self.path, "rb") as handle:
                    version = np.lib.format.read_magic(handle)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shape, fortran, dtype = read(handle)
                    self._offset = handle.tell()
                if len(shape) != 2 or fortran or np.dtype(dtype) != np.float32:
                    raise LookalikeError(f"{display_path(self.path)}: needs a C-ordered float32 (n, d) array, "
                                         f"not {np.dtype(dtype)} {shape}")
                self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
            else:
                if not dim:
                    raise LookalikeError(f"{display_path(self.path)}: a raw float32 file needs its dimension")
                self._offset = 0
                self.shape = (self.path.stat().st_size // (4 * dim), dim)
            self._fd = os.open(self.path, os.O_RDONLY)
        except (OSError, ValueError) as exc:
            raise LookalikeError(f"{display_path(self.path)}: cannot read vectors ({exc})") from None
        self._row_bytes = self.shape[1] * 4

    def __len__(self) -> int:
        return self.shape[0]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()

    def _read(self, start: int, stop: int) -> np.ndarray:
        count = max(0, stop - start)
        wanted = count * self._row_bytes
        buffer = bytearray(wanted)
        view, done = memoryview(buffer), 0
        while done < wanted:
            got = os.preadv(self._fd, [view[done:]], self._offset + start * self._row_bytes + done)
            if got <= 0:
                raise LookalikeError(f"{display_path(self.path)}: ended early (truncated?)")
            done += got
        return np.frombuffer(buffer, np.float32).reshape(count, self.shape[1])

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            block = self._read(start, stop)
            return block if step == 1 else block[::step]
        if isinstance(key, int | np.integer):
            row = int(key) + (len(self) if key < 0 else 0)
            return self._read(row, row + 1)[0]
        rows = np.asarray(key, dtype=np.int64)
        if rows.ndim != 1:
            raise TypeError("DiskVectors takes a slice, a row or a 1-D array of rows")
        return self._take(rows)

    def _take(self, rows: np.ndarray) -> np.ndarray:
        """Rows in the order asked, read as runs of nearby rows (one pread per run)."""
        out = np.empty((len(rows), self.shape[1]), np.float32)
        if not len(rows):
            return out
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        if ordered[0] < 0 or ordered[-1] >= len(self):
            raise IndexError(f"row out of range 0..{len(self) - 1}")
        cuts = np.flatnonzero(np.diff(ordered) > _ROW_GAP) + 1
        for run in np.split(np.arange(len(ordered)), cuts):
            first, last = int(ordered[run[0]]), int(ordered[run[-1]])
            block = self._read(first, last + 1)
            out[order[run]] = block[ordered[run] - first]
        return out


def parquet_to_npy(shards: Sequence[Path], out: Path, column: str = "vector", rows: int = 65_536) -> tuple[int, int]:
    """Write the `column` vectors of Parquet files, in order, to one .npy file, `rows` at a time;
    returns (count, dim)."""
    import pyarrow.parquet as pq

    files = [pq.ParquetFile(path) for path in shards]
    count = sum(f.metadata.num_rows for f in files)
    field = files[0].schema_arrow.field(column).type if files else None
    dim = int(getattr(field, "list_size", 0) or 0)
    if not files or dim <= 0:
        raise LookalikeError(f"{display_path(out)}: no fixed-size '{column}' column in the shards to convert")
    with open(out, "wb") as handle:  # plain writes: a memory map would count every page in RSS
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": (count, dim)})
        for reader in files:
            for batch in reader.iter_batches(batch_size=rows, columns=[column]):
                handle.write(np.asarray(batch.column(0).flatten(), dtype=np.float32).tobytes())
    return count, dim
