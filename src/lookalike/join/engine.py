"""The block loop of the join: plan the work (one task per cell, or per row block when exact), then
compute each task as (row block x column block) matrix products sized by the memory budget and hand
every block of scores to a sink."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..errors import LookalikeError
from .cells import Cells, assign_with_gaps, choose_nlist, gather, train_centroids

Progress = Callable[[int, int], None]
EXACT_LIMIT = 20_000  # below this many vectors the exact join is as fast as the partitioned one
DEFAULT_NPROBE = 8
DEFAULT_BUDGET = 256 * 2**20
DEFAULT_RECALL = 0.99  # the recall target of an approximate join (0: the fixed nprobe, no estimate)
DEFAULT_SAMPLE = 2000  # rows whose exact answer the recall estimate is measured on
MAX_NPROBE = 64  # how far the join widens its search by itself (nlist when smaller)
ROW_BLOCK = 1024
# (rows, cols, same): `same` leading columns are the rows' own cell (or, exact, the whole set)
Task = tuple[np.ndarray, np.ndarray, int]


@dataclass(frozen=True)
class JoinOptions:
    """How the join runs. `exact`: None chooses (exact at or below `exact_limit` vectors), True
    forces the exact blocked join, False the partitioned one. `nlist`/`nprobe` None: chosen from N
    (`nprobe` is where the search starts). `budget`: bytes of working memory for one block of vectors
    and scores. `recall`: the partitioned join estimates its recall on `sample` rows answered exactly
    and probes more cells (up to `max_nprobe`, default 64) until the estimate meets this target; 1.0
    gives the exact answer, 0 the fixed `nprobe` without an estimate."""

    exact: bool | None = None
    nlist: int | None = None
    nprobe: int | None = None
    budget: int = DEFAULT_BUDGET
    exact_limit: int = EXACT_LIMIT
    seed: int = 0
    recall: float = DEFAULT_RECALL
    sample: int = DEFAULT_SAMPLE
    max_nprobe: int | None = None

    def check(self) -> None:
        if self.nlist is not None and self.nlist < 1:
            raise LookalikeError(f"nlist must be at least 1, not {self.nlist}")
        if self.nprobe is not None and self.nprobe < 1:
            raise LookalikeError(f"nprobe must be at least 1, not {self.nprobe}")
        if not 0.0 <= self.recall <= 1.0:
            raise LookalikeError(f"the recall target must be between 0 and 1, not {self.recall}")
        if self.sample < 1:
            raise LookalikeError(f"the recall sample must be at least 1 row, not {self.sample}")
        if self.max_nprobe is not None and self.max_nprobe < 1:
            raise LookalikeError(f"max_nprobe must be at least 1, not {self.max_nprobe}")
        if self.budget < 2**20:
            raise LookalikeError(f"the join's memory budget must be at least 1 MiB, not {self.budget} bytes")


@dataclass
class JoinReport:
    """Which path answered and what it cost."""

    method: str  # "exact" or "ivf"
    vectors: int
    nlist: int | None = None
    nprobe: int | None = None
    cells: int = 0
    seconds: float = 0.0
    recall: float | None = None  # 1.0 when exact; the estimate when approximate; None: not estimated
    recall_target: float | None = None
    sampled_rows: int = 0  # rows the estimate was measured on (0: exact, or not estimated)
    sample_seconds: float = 0.0  # of `seconds`, the time spent answering the sample exactly
    widened_rows: int = 0  # rows whose search went on to `nprobe` cells (the others stopped earlier)
    first_nprobe: int | None = None  # the probes every row made before the recall target widened some
    started: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def reached(self) -> bool:
        """Whether the recall target was met (always, for an exact join or without a target)."""
        return self.recall is None or self.recall_target is None or self.recall >= self.recall_target

    def path(self) -> str:
        """Which join answered and its recall, e.g. `ivf join (nlist 100, nprobe 8) over 100,000 vectors,
        recall >= 0.99 estimated on 2,000 sampled rows` (no timing: the CLI prints this on stderr, where
        snapshots must stay stable)."""
        how = "exact join" if self.method == "exact" else f"ivf join (nlist {self.nlist}, nprobe {self.probes()})"
        return f"{how} over {self.vectors:,} vectors" + (f", {self.recall_text()}" if self.sampled_rows else "")

    def probes(self) -> str:
        """`12`, or `8, 24 for 3,100 rows` when the target widened only some rows."""
        if self.first_nprobe is None or self.nprobe == self.first_nprobe:
            return f"{self.nprobe}"
        return f"{self.first_nprobe}, {self.nprobe} for {self.widened_rows:,} rows"

    def recall_text(self) -> str:
        """`recall >= 0.99 estimated on 2,000 sampled rows`, or what was reached and how to get more."""
        if self.recall is None:
            return "recall not estimated (use --recall to set a target, --exact for the exact answer)"
        rows = f"estimated on {self.sampled_rows:,} sampled rows"
        if self.method == "exact" or not self.sampled_rows:
            return "recall 1.0 (exact)"
        if self.reached:
            return f"recall >= {self.recall_target:g} {rows} ({self.recall:.4f})"
        return (f"recall {self.recall:.4f} {rows} (target {self.recall_target:g} not reached at nprobe "
                f"{self.nprobe}; use --exact)")

    def describe(self) -> str:
        """`path()` with the cells and the time."""
        return f"{self.path()} in {self.cells:,} cells, {self.seconds:.1f} s"


def check_vectors(vectors: np.ndarray, name: str = "vectors") -> None:
    if getattr(vectors, "ndim", 0) != 2:
        raise LookalikeError(f"{name} must be a 2-D array (n, d), not shape {getattr(vectors, 'shape', None)}")


def use_exact(count: int, options: JoinOptions) -> bool:
    """Exact when asked, at or below `exact_limit` vectors, or for a recall target of 1."""
    return options.exact if options.exact is not None else count <= options.exact_limit or options.recall >= 1.0


@dataclass(frozen=True)
class Partition:
    """The cells of a base set: each row's own cell (`own`) and, per cell, the rows that probe it."""

    centroids: np.ndarray
    labels: np.ndarray  # (n, nprobe): each row's nearest cells, its own first
    own: Cells
    probers: Cells
    nlist: int
    nprobe: int
    gaps: np.ndarray | None = None  # (n,) each row's nearest minus its nprobe-th nearest centroid score


def partition(base: np.ndarray, options: JoinOptions) -> Partition:
    """Train the cells on a sample of `base` and assign every row to its `nprobe` nearest cells."""
    nlist = min(options.nlist or choose_nlist(len(base)), len(base))
    centroids = train_centroids(base, nlist, options.seed)
    nlist = len(centroids)
    nprobe = min(options.nprobe or DEFAULT_NPROBE, nlist)
    labels, gaps = assign_with_gaps(base, centroids, nprobe)
    return Partition(centroids, labels, Cells.from_labels(labels[:, 0], nlist), Cells.from_labels(labels, nlist),
                     nlist, nprobe, gaps)


def exact_tasks(rows: int, cols: int, upper: bool) -> Iterator[Task]:
    """Row blocks against every column (`upper`: only columns from the block's first row on)."""
    for start in range(0, rows, ROW_BLOCK):
        stop = min(start + ROW_BLOCK, rows)
        first = start if upper else 0
        yield np.arange(start, stop), np.arange(first, cols), (cols - first) if upper else (stop - start)


def pair_tasks(part: Partition) -> Iterator[Task]:
    """Per cell: its members against themselves (each pair once) and against every other row that
    probes the cell. A pair is found when either member's probes reach the other's cell."""
    for cell in range(part.nlist):
        members = part.own.members(cell)
        if len(members):
            probers = part.probers.members(cell)
            others = probers[part.labels[probers, 0] != cell]
            yield members, np.concatenate([members, others]), len(members)


def knn_tasks(probers: Cells, own: Cells, nlist: int) -> Iterator[Task]:
    """Per cell: every row that probes it against the cell's members (the IVF search of all rows)."""
    for cell in range(nlist):
        rows, cols = probers.members(cell), own.members(cell)
        if len(rows) and len(cols):
            yield rows, cols, 0


def count_tasks(*cells: Cells) -> int:
    """Cells that are non-empty in every one of `cells`."""
    return int(np.count_nonzero(np.logical_and.reduce([np.diff(c.starts) > 0 for c in cells])))


class Sink(Protocol):
    """What the loop hands each block of vectors to (the sinks in sinks.py)."""

    def block(self, rows: np.ndarray, row_vectors: np.ndarray, cols: np.ndarray, col_vectors: np.ndarray,
              same: int) -> None: ...


def column_block(dim: int, rows: int, budget: int) -> int:
    """Columns per block so that the row and column vectors and two score matrices fit the budget."""
    free = budget - rows * dim * 4
    return max(256, free // (dim * 4 + rows * 4 * 3))


def row_block(dim: int, rows: int, cols: int, budget: int) -> int:
    """Rows per block: 1,024, or more when the columns are few (a cell's members against the many
    rows that probe it), as long as the rows, the columns and the scores fit the budget."""
    if cols > 4 * ROW_BLOCK:
        return ROW_BLOCK
    return int(min(rows, max(ROW_BLOCK, (budget - cols * dim * 4) // (dim * 4 + cols * 4 * 3))))


def run(tasks: Iterator[Task], total: int, row_source: np.ndarray, col_source: np.ndarray, sink: Sink,
        budget: int, progress: Progress | None) -> int:
    """Feed every task's blocks to `sink`; returns the number of tasks run."""
    dim = row_source.shape[1]
    done = 0
    if progress:
        progress(0, total)
    for rows, cols, same in tasks:
        step = row_block(dim, len(rows), len(cols), budget)
        for r0 in range(0, len(rows), step):
            row_ids = rows[r0 : r0 + step]
            row_vectors = gather(row_source, row_ids)
            width = column_block(dim, len(row_ids), budget)
            for c0 in range(0, len(cols), width):
                col_ids = cols[c0 : c0 + width]
                sink.block(row_ids, row_vectors, col_ids, gather(col_source, col_ids),
                           max(0, min(same - c0, len(col_ids))))
        done += 1
        if progress:
            progress(done, total)
    return done
