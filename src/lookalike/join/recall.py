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
HOT_SHIFTS = 10  # the hottest 1/2 ... 1/1024 of the rows are the partial widenings tried


@dataclass(frozen=True)
class Plan:
    """How far the join widens: rows whose heat is at least `floor` (-inf: every row) go on to
    `nprobe` probes; `rows` is how many rows that is."""

    floor: float
    nprobe: int
    rows: int


@dataclass
class Truth:
    """The sampled rows' exact answers as (sampled row, partner) incidences, each with the probes the
    partition needs to find it from the sampled row (`fwd`) and from the partner (`back`, pairs
    only) and both ends' heat; `weights[row]` is 1 / the row's chance of being drawn."""

    rows: np.ndarray  # (S,) global ids of the sampled rows, ascending
    weights: np.ndarray  # (S,)
    row: np.ndarray  # (m,) index into rows
    other: np.ndarray  # (m,) global id of the partner (in the base, for cross joins)
    score: np.ndarray  # (m,)
    fwd: np.ndarray | None = None  # (m,) the fewest probes from the sampled row that find the incidence
    back: np.ndarray | None = None  # (m,) the same from the partner (pairs: found from either end)
    heat_row: np.ndarray | None = None  # (m,) the sampled row's heat
    heat_other: np.ndarray | None = None  # (m,) the partner's heat

    def found(self, first: int, plan: Plan) -> np.ndarray:
        """Which incidences the first pass at `first` probes and then `plan` find."""
        assert self.fwd is not None and self.heat_row is not None
        hit = (self.fwd < first) | ((self.heat_row >= plan.floor) & (self.fwd < plan.nprobe))
        if self.back is not None and self.heat_other is not None:
            hit |= (self.back < first) | ((self.heat_other >= plan.floor) & (self.back < plan.nprobe))
        return hit

    def recall(self, kind: str, found: np.ndarray, want: int) -> float:
        """The estimate for `kind`. Top pairs: the share of the true top `want` found (each missed
        pair above the cut-off displaces a found one; a pair seen from both sampled ends counts half
        from each); edges: the share of the true edges; kNN: the mean share of each row's k."""
        if kind == "pairs":
            missed = 0.5 * float(self.weights[self.row[~found]].sum())
            return max(0.0, 1.0 - missed / want)
        if kind == "edges":
            total = float(self.weights[self.row].sum())
            return 1.0 - float(self.weights[self.row[~found]].sum()) / total if total else 1.0
        wanted = np.bincount(self.row, minlength=len(self.rows))
        hits = np.bincount(self.row[found], minlength=len(self.rows))
        rows = wanted > 0
        return float(np.mean(hits[rows] / wanted[rows])) if np.any(rows) else 1.0


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


def _needs(truth: Truth, sample: np.ndarray, base: np.ndarray, part: Partition, both: bool) -> None:
    """Probes that find each incidence: the rank of the partner's cell among the sampled row's
    nearest cells (`fwd`) and (`both`: pairs, found from either end) the reverse (`back`)."""
    own = part.labels[:, 0]
    fwd = np.empty(len(truth.row), np.int64)
    back = np.empty(len(truth.row), np.int64) if both else None
    for start in range(0, len(truth.row), PAIR_CHUNK):
        row, other = truth.row[start : start + PAIR_CHUNK], truth.other[start : start + PAIR_CHUNK]
        fwd[start : start + PAIR_CHUNK] = ranks(sample[row], part.centroids, own[other])
        if back is not None:
            order = np.argsort(other, kind="stable")  # a memory map reads ascending rows best
            found = np.empty(len(row), np.int64)
            found[order] = ranks(gather(base, other[order]), part.centroids, own[truth.rows[row[order]]])
            back[start : start + PAIR_CHUNK] = found
    truth.fwd, truth.back = fwd, back


def widen(rows_source: np.ndarray, base: np.ndarray, part: Partition, sink: Sink, start: int, stop: int,
          pairs: bool, budget: int, rows: np.ndarray | None = None) -> int:
    """Compare every row (or only `rows`, ascending) with the members of its nearest cells ranked
    `start` to `stop - 1` (the cells it has not probed yet); returns the tasks run."""
    local = Cells.from_labels(assign(rows_source, part.centroids, stop, skip=start, rows=rows), part.nlist)
    probers = local if rows is None else Cells(rows[local.order], local.starts)
    tasks: Iterator[Task] = (
        (part.own.members(cell), probers.members(cell), 0)
        for cell in range(part.nlist) if part.own.size(cell) and probers.size(cell)
    ) if pairs else knn_tasks(probers, part.own, part.nlist)
    return run(tasks, 0, base if pairs else rows_source, base, sink, budget, None)


def plans(heat: np.ndarray, steps: np.ndarray) -> Iterator[Plan]:
    """Candidate plans, cheapest first within each floor: the hottest 1/1024, 1/512, ... 1/2 of the
    rows and then every row, each at every probe count in `steps`."""
    ordered = np.sort(heat)[::-1]
    floors = {float(ordered[max(0, -(-len(heat) // 2**shift) - 1)]) for shift in range(1, HOT_SHIFTS + 1)}
    for floor in sorted(floors, reverse=True):
        chosen = int(np.count_nonzero(heat >= floor))
        for nprobe in steps.tolist():
            yield Plan(floor, int(nprobe), chosen)
    for nprobe in steps.tolist():
        yield Plan(-np.inf, int(nprobe), len(heat))


def choose(estimate: Callable[[Plan], float], truth: Truth, heat: np.ndarray, first: int, cap: int,
           target: float) -> Plan:
    """The cheapest plan (rows widened x probes added) whose estimate reaches halfway past `target`
    (a margin for the sample), else the cheapest that reaches `target`, else every row to `cap`.
    Widening only the rows that need it is what keeps a hard set's cost near the fixed search's."""
    stay = Plan(np.inf, first, 0)
    if estimate(stay) >= target:
        return stay
    assert truth.fwd is not None
    needs = truth.fwd if truth.back is None else np.concatenate([truth.fwd, truth.back])
    steps = np.unique(needs[(needs >= first) & (needs < cap)]) + 1
    widest = Plan(-np.inf, cap, len(heat))
    goal = 1.0 - (1.0 - target) / 2
    best: dict[float, Plan] = {}
    for plan in plans(heat, steps):
        value = estimate(plan)
        cost = plan.rows * (plan.nprobe - first)
        for wanted in (goal, target):
            held = best.get(wanted)
            if value >= wanted and (held is None or cost < held.rows * (held.nprobe - first)):
                best[wanted] = plan
    return best.get(goal) or best.get(target) or widest


def meet_target(kind: str, rows_source: np.ndarray, base: np.ndarray, part: Partition, sink: Sink,
                options: JoinOptions, report: JoinReport, want: int, heat: np.ndarray | None = None) -> None:
    """After the first pass at `part.nprobe`: estimate the recall of `kind` ("pairs", "edges", "knn"
    or "cross"; `want` is the pair count or k), widen the search of the rows that need it until the
    estimate meets `options.recall`, put the sampled rows' exact answers in `sink`, and fill in
    `report`. `heat` ranks the rows by how likely they are to miss answers (default: for pairs and
    edges the best score each row found, else how close its nearest cells' scores are)."""
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
    _needs(truth, sample, base, part, pairs)
    heat = _heat(sink, part, len(rows_source)) if heat is None else heat
    truth.heat_row = heat[rows[truth.row]]
    truth.heat_other = heat[truth.other] if pairs else None

    def estimate(plan: Plan) -> float:
        return truth.recall(kind, truth.found(part.nprobe, plan), want)

    report.sample_seconds = time.perf_counter() - began
    plan = choose(estimate, truth, heat, part.nprobe, cap, target)
    if plan.nprobe > part.nprobe:
        widened = None if plan.rows >= len(heat) else np.flatnonzero(heat >= plan.floor)
        report.cells += widen(rows_source, base, part, sink, part.nprobe, plan.nprobe, pairs, options.budget,
                              widened)
        if widened is not None:
            report.first_nprobe, report.widened_rows = part.nprobe, plan.rows
    _merge(sink, truth, exact_knn)
    report.nprobe, report.recall, report.sampled_rows = plan.nprobe, estimate(plan), len(rows)


def _heat(sink: Sink, part: Partition, count: int) -> np.ndarray:
    """How likely each row is to miss answers: for pairs and edges the best score it found (a row
    far below the cut-off has no missed pair above it), else minus the gap between its nearest and
    its last probed cell's score (a row among many near cells finds its neighbours in few of them)."""
    best = getattr(sink, "best", None)
    if best is not None:
        return np.asarray(best)
    if part.gaps is not None and len(part.gaps) == count:
        return -part.gaps
    return np.zeros(count, np.float32)


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
