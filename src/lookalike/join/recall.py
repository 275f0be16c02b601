"""The recall target of the partitioned join: after the first pass, a sample of rows is answered
exactly (one row block against every column block, bounded memory), which tells for each of their
true answers how many probes the partition needs to find it. That gives the recall at any nprobe
without running it; the join then probes just as many more cells as the target needs (only the new
cells are compared) and reports the estimate. The sampled rows' exact answers go into the result.

Recall per consumer: top pairs, the share of the true top `count` found (missed pairs scoring at
least the current count-th best displace found ones); threshold edges, the share of the true edges
found; kNN, the mean share of each row's true k neighbours. For pairs and edges the rows of the
answer found so far are sampled apart from the rest (the misses sit mostly beside what was found),
each weighted by the inverse of its chance to be drawn, so the estimate stays unbiased.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .cells import Cells, assign, gather, ranks
from .engine import MAX_NPROBE, JoinOptions, JoinReport, Partition, Sink, Task, exact_tasks, knn_tasks, run
from .sinks import EdgesSink, KnnSink, TopPairsSink

PAIR_CHUNK = 8192  # truth pairs whose probe ranks are computed at a time


@dataclass
class Truth:
    """The sampled rows' exact answers as (sampled row, partner) incidences, each with the probes the
    partition needs to find it; `weights[row]` is 1 / the row's chance of being drawn."""

    rows: np.ndarray  # (S,) global ids of the sampled rows, ascending
    weights: np.ndarray  # (S,)
    row: np.ndarray  # (m,) index into rows
    other: np.ndarray  # (m,) global id of the partner (in the base, for cross joins)
    score: np.ndarray  # (m,)
    need: np.ndarray | None = None  # (m,) the fewest probes that find the incidence

    def pairs_recall(self, nprobe: int, count: int) -> float:
        """Share of the true top `count` pairs found at `nprobe`: each missed pair above the cut-off
        displaces a found one (a pair seen from both sampled ends counts half from each)."""
        assert self.need is not None
        missed = 0.5 * float(self.weights[self.row[self.need >= nprobe]].sum())
        return max(0.0, 1.0 - missed / count)

    def edges_recall(self, nprobe: int) -> float:
        assert self.need is not None
        total = float(self.weights[self.row].sum())
        return 1.0 - float(self.weights[self.row[self.need >= nprobe]].sum()) / total if total else 1.0

    def knn_recall(self, nprobe: int) -> float:
        assert self.need is not None
        want = np.bincount(self.row, minlength=len(self.rows))
        hits = np.bincount(self.row[self.need < nprobe], minlength=len(self.rows))
        rows = want > 0
        return float(np.mean(hits[rows] / want[rows])) if np.any(rows) else 1.0


def draw(count: int, size: int, seed: int, hot: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`size` rows of `count` (ascending) and their weights: uniform, or (with `hot`) up to half from
    the hot rows and the rest from the others."""
    rng = np.random.default_rng([seed, 24])
    if size >= count:
        return np.arange(count), np.ones(count)
    if hot is None or not len(hot) or len(hot) >= count:
        rows = np.sort(rng.choice(count, size, replace=False))
        return rows, np.full(size, count / size)
    mask = np.ones(count, bool)
    mask[hot] = False
    cold = np.flatnonzero(mask)
    take_hot = min(len(hot), size // 2)
    take_cold = min(len(cold), size - take_hot)
    rows = np.concatenate([rng.choice(hot, take_hot, replace=False), rng.choice(cold, take_cold, replace=False)])
    weights = np.concatenate([np.full(take_hot, len(hot) / max(take_hot, 1)),
                              np.full(take_cold, len(cold) / max(take_cold, 1))])
    order = np.argsort(rows)
    return rows[order], weights[order]


class AboveSink:
    """Every (sampled row, column) pair scoring >= `floor`, the row itself left out (rows are local
    indices into `sampled`, the global ids)."""

    def __init__(self, sampled: np.ndarray, floor: float) -> None:
        self.sampled, self.floor = sampled, np.float32(floor)
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def block(self, rows: np.ndarray, row_vectors: np.ndarray, cols: np.ndarray, col_vectors: np.ndarray,
              same: int) -> None:
        scores = row_vectors @ col_vectors.T
        keep = (scores >= self.floor) & (cols[None, :] != self.sampled[rows][:, None])
        r, c = np.nonzero(keep)
        if len(r):
            self.parts.append((rows[r], cols[c], scores[r, c]))

    def incidences(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        row, other, score = (np.concatenate(p) for p in zip(*self.parts, strict=True))
        return row, other, score


def _exact_knn(sample: np.ndarray, rows: np.ndarray, base: np.ndarray, k: int, self_join: bool,
               budget: int) -> tuple[np.ndarray, np.ndarray]:
    """The sampled rows' exact k nearest rows of `base` (their own position left out when `self_join`)."""
    sink = KnnSink(len(sample), k + self_join, self_join=False)
    run(exact_tasks(len(sample), len(base), upper=False), 0, sample, base, sink, budget, None)
    scores, indices = sink.scores, sink.indices
    if self_join:  # leave the row itself out, or else the (k+1)-th
        mine = indices == rows[:, None]
        mine[~mine.any(axis=1), k] = True
        scores, indices = scores[~mine].reshape(len(rows), k), indices[~mine].reshape(len(rows), k)
    return scores, indices


def _needs(truth: Truth, sample: np.ndarray, base: np.ndarray, part: Partition, both: bool) -> np.ndarray:
    """Probes that find each incidence: the rank of the partner's cell among the sampled row's
    nearest cells, or (`both`: pairs, found from either end) the lesser of that and the reverse."""
    own = part.labels[:, 0]
    need = np.empty(len(truth.row), np.int64)
    for start in range(0, len(truth.row), PAIR_CHUNK):
        row, other = truth.row[start : start + PAIR_CHUNK], truth.other[start : start + PAIR_CHUNK]
        found = ranks(sample[row], part.centroids, own[other])
        if both:
            order = np.argsort(other, kind="stable")  # a memory map reads ascending rows best
            back = np.empty_like(found)
            back[order] = ranks(gather(base, other[order]), part.centroids, own[truth.rows[row[order]]])
            found = np.minimum(found, back)
        need[start : start + PAIR_CHUNK] = found
    return need


def widen(rows_source: np.ndarray, base: np.ndarray, part: Partition, sink: Sink, start: int, stop: int,
          pairs: bool, budget: int) -> int:
    """Compare every row with the members of its nearest cells ranked `start` to `stop - 1` (the
    cells it has not probed yet); returns the tasks run."""
    probers = Cells.from_labels(assign(rows_source, part.centroids, stop, skip=start), part.nlist)
    tasks: Iterator[Task] = (
        (part.own.members(cell), probers.members(cell), 0)
        for cell in range(part.nlist) if part.own.size(cell) and probers.size(cell)
    ) if pairs else knn_tasks(probers, part.own, part.nlist)
    return run(tasks, 0, base if pairs else rows_source, base, sink, budget, None)


def choose(estimate: Callable[[int], float], need: np.ndarray, start: int, cap: int, target: float) -> int:
    """The fewest probes (from `start`, at most `cap`) whose estimate reaches halfway past `target`
    (a margin for the sample), else the fewest that reach `target`, else `cap`."""
    if estimate(start) >= target:
        return start
    steps = np.unique(need[(need >= start) & (need < cap)]) + 1
    goal = 1.0 - (1.0 - target) / 2
    for wanted in (goal, target):
        for nprobe in steps.tolist():
            if estimate(nprobe) >= wanted:
                return int(nprobe)
    return cap


def meet_target(kind: str, rows_source: np.ndarray, base: np.ndarray, part: Partition, sink: Sink,
                options: JoinOptions, report: JoinReport, want: int) -> None:
    """After the first pass at `part.nprobe`: estimate the recall of `kind` ("pairs", "edges", "knn"
    or "cross"; `want` is the pair count or k), probe more cells until the estimate meets
    `options.recall`, put the sampled rows' exact answers in `sink`, and fill in `report`."""
    target = options.recall
    if target <= 0:
        return
    report.recall_target = target
    cap = max(part.nprobe, min(part.nlist, options.max_nprobe or MAX_NPROBE))
    pairs = kind in ("pairs", "edges")
    if target >= 1.0 or (isinstance(sink, TopPairsSink) and len(sink.scores) < sink.count):
        # every cell (the exact answer); also when the pairs found are fewer than asked for
        report.cells += widen(rows_source, base, part, sink, part.nprobe, part.nlist, pairs, options.budget)
        report.nprobe, report.recall = part.nlist, 1.0
        return
    began = time.perf_counter()
    hot = None
    if isinstance(sink, TopPairsSink):
        hot = np.unique(np.concatenate([sink.low, sink.high]))
    elif isinstance(sink, EdgesSink):
        hot = sink.rows()
    rows, weights = draw(len(rows_source), options.sample, options.seed, hot)
    sample = gather(rows_source, rows)
    truth, exact_knn = _truth(kind, sample, rows, weights, base, sink, want, options.budget)
    truth.need = _needs(truth, sample, base, part, pairs)

    def estimate(nprobe: int) -> float:
        if kind == "pairs":
            return truth.pairs_recall(nprobe, want)
        return truth.edges_recall(nprobe) if kind == "edges" else truth.knn_recall(nprobe)

    report.sample_seconds = time.perf_counter() - began
    nprobe = choose(estimate, truth.need, part.nprobe, cap, target)
    if nprobe > part.nprobe:
        report.cells += widen(rows_source, base, part, sink, part.nprobe, nprobe, pairs, options.budget)
    _merge(sink, truth, exact_knn)
    report.nprobe, report.recall, report.sampled_rows = nprobe, estimate(nprobe), len(rows)


def _truth(kind: str, sample: np.ndarray, rows: np.ndarray, weights: np.ndarray, base: np.ndarray, sink: Sink,
           want: int, budget: int) -> tuple[Truth, tuple[np.ndarray, np.ndarray] | None]:
    """The sampled rows' exact answers: pairs above the current cut-off (top pairs) or the threshold
    (edges), or the k nearest (knn, cross; also returned whole, to go into the answer)."""
    if isinstance(sink, (TopPairsSink, EdgesSink)):
        floor = sink.scores[-1] if isinstance(sink, TopPairsSink) else sink.threshold
        above = AboveSink(rows, float(floor))
        run(exact_tasks(len(sample), len(base), upper=False), 0, sample, base, above, budget, None)
        return Truth(rows, weights, *above.incidences()), None
    scores, indices = _exact_knn(sample, rows, base, want, kind == "knn", budget)
    row, col = np.nonzero(indices >= 0)
    return Truth(rows, weights, row, indices[row, col], scores[row, col]), (scores, indices)


def _merge(sink: Sink, truth: Truth, exact_knn: tuple[np.ndarray, np.ndarray] | None) -> None:
    """The sampled rows' exact answers into the join's answer."""
    if isinstance(sink, KnnSink):
        assert exact_knn is not None
        sink.scores[truth.rows], sink.indices[truth.rows] = exact_knn
        return
    ids = truth.rows[truth.row]
    low, high = np.minimum(ids, truth.other), np.maximum(ids, truth.other)
    if isinstance(sink, (TopPairsSink, EdgesSink)) and len(low):
        sink.add(truth.score.astype(np.float32), low, high)
