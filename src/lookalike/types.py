"""The result and option types every verb speaks: what a query is, what a hit, a pair, a match row and
a duplicate group are. The CLI, the web server and Python callers format these same objects; each
result carries library ids (None outside a library) and paths.

Light on purpose (no numpy, no torch): the interfaces import it at start-up."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .errors import ImageReadError, InvalidArgumentError

ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO
"""An image as a path, its bytes, or an open binary file."""

STATE_DIR = ".lookalike"  # the folder a library keeps inside the folder it indexes
KIND_ORDER = {"exact": 0, "near": 1, "similar": 2}
Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]
"""Asked between steps of long work (join cells, keypoint batches): True stops it with `Cancelled`."""
"""Called with (done, total) as work advances (the CLI draws a bar with it)."""
DEFAULT_MIN_INLIERS = 15  # keypoint inliers that confirm a near duplicate


# argument checks -------------------------------------------------------------------------------------
def check_unit_interval(value: float, argument: str) -> float:
    """`value` when it is a number in [0, 1], else an `InvalidArgumentError` naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InvalidArgumentError(f"{argument} must be between 0 and 1, not {value}", argument=argument)
    return float(value)


def check_threshold(value: float | None, argument: str = "threshold") -> float | None:
    """A cosine threshold in [-1, 1] (or None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) \
            or not -1.0 <= value <= 1.0:
        raise InvalidArgumentError(f"{argument} must be a cosine similarity between -1 and 1, not {value}",
                                   argument=argument)
    return float(value)


def check_count(value: int, argument: str = "k", minimum: int = 1) -> int:
    """A positive count (k, top)."""
    if isinstance(value, bool) or not hasattr(value, "__index__") or int(value) < minimum:
        raise InvalidArgumentError(f"{argument} must be an integer >= {minimum}, not {value}", argument=argument)
    return int(value)


# what is asked -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """An image (path, bytes or file object), a text, or both; `text_weight` is the text's share."""

    image: ImageSource | None = None
    text: str | None = None
    text_weight: float = 0.5
    name: str | None = None  # what errors call an image given as bytes
    invariant: bool = False  # also match the image's mirror and 90/180/270 rotations (best score kept)

    def __post_init__(self) -> None:
        if self.image is None and not self.text:
            raise InvalidArgumentError("a query needs an image, a text, or both", argument="query")
        check_unit_interval(self.text_weight, "text_weight")


@dataclass(frozen=True)
class Source:
    """Where a verb's images come from: a folder (answered from its library for the model when it has
    one, else embedded for the call, nothing written), a library directory, or both for a library kept
    elsewhere (`--library`). `model` None: the only library's model, else the configured default."""

    folder: Path | None = None
    library: Path | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if self.folder is None and self.library is None:
            raise InvalidArgumentError("name a folder of images or a library", argument="folder")


@dataclass(frozen=True)
class JoinChoice:
    """How a join over many vectors runs: `exact` forces the exact blocked join; `recall` is the target
    for the approximate one."""

    exact: bool = False
    recall: float | None = None


@dataclass(frozen=True)
class DuplicateOptions:
    """How `duplicates` decides; None fields come from the library or the model's calibration."""

    threshold: float | None = None
    verify: bool = False
    invariant: bool = False
    similar: float | None = None  # also keep unconfirmed candidates scoring this much (never below candidate)
    keep: str = "best"
    min_inliers: int = DEFAULT_MIN_INLIERS
    check: bool = True
    neighbours: int = 10  # candidates each image proposes (work grows as N x neighbours)
    same_bytes: bool = False  # only byte-identical copies, by content hash: no model, no vectors
    max_checks: int = 100_000  # pairs verified per run at most (the strongest first); the rest are unverified
    similar_cap: int = 24  # a similar group larger than this is split into communities


# what comes back -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Match:
    """A search hit: a file, its cosine similarity to the query, its library id (None outside a
    library), and for a video the moment in seconds (None for a photo)."""

    path: Path
    score: float
    id: int | None = None
    time: float | None = None


@dataclass(frozen=True)
class Pair:
    """Two files and their cosine similarity (with library ids when they come from one, and each
    side's moment in seconds when it is a video's frame)."""

    a: Path
    b: Path
    score: float
    a_id: int | None = None
    b_id: int | None = None
    a_time: float | None = None
    b_time: float | None = None


@dataclass(frozen=True)
class MatchRow:
    """A file of A, its rank-th best match in B, and their cosine similarity."""

    a: Path
    b: Path
    score: float
    rank: int


@dataclass
class SearchResult:
    """Hits best first, plus the files that could not be read."""

    matches: list[Match]
    failures: list[ImageReadError] = field(default_factory=list)


@dataclass
class PairsResult:
    """Pairs best first, the files that could not be read, how many were compared, and the join's report
    (None for every pair of a small set)."""

    pairs: list[Pair]
    failures: list[ImageReadError] = field(default_factory=list)
    count: int = 0
    join: Any = None  # a lookalike.join.JoinReport: .path() says which join answered


@dataclass
class MatchResult:
    rows: list[MatchRow]
    failures: list[ImageReadError] = field(default_factory=list)
    join: Any = None


@dataclass(frozen=True)
class Thresholds:
    """The duplicate decision in force: candidate <= score < accept needs a check; `similar` (when
    set) keeps unconfirmed candidates above it as similar pairs."""

    candidate: float
    accept: float
    similar: float | None = None
    verify_all: bool = False
    source: str = ""


@dataclass(frozen=True)
class DuplicateEdge:
    """One link of a group: kind exact / near / similar, cosine score, inliers (None: not checked)."""

    a: Path
    b: Path
    kind: str
    score: float
    inliers: int | None = None


@dataclass
class DuplicateGroup:
    """A group of files, the suggested keeper, and the links that hold it together."""

    id: int
    members: list[Path]
    keeper: Path
    edges: list[DuplicateEdge]
    kinds: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)  # content hash per member, same order

    def kind(self) -> str:
        """The weakest kind among the group's links."""
        return max(self.kinds, key=KIND_ORDER.__getitem__) if self.kinds else "exact"

    def member_links(self) -> dict[Path, DuplicateEdge]:
        """Each member's strongest link in the group (strongest kind, then highest score)."""
        best: dict[Path, DuplicateEdge] = {}
        for edge in self.edges:
            for member in (edge.a, edge.b):
                current = best.get(member)
                if current is None or (KIND_ORDER[edge.kind], -edge.score) < (KIND_ORDER[current.kind], -current.score):
                    best[member] = edge
        return best


@dataclass
class GroupingStats:
    """What the run did: candidates, checks, and what the check cost."""

    candidates: int = 0
    accepted: int = 0
    checked: int = 0
    confirmed: int = 0
    rejected: int = 0
    refused_distinct: int = 0
    check_images: int = 0
    check_seconds: float = 0.0
    reused: int = 0  # verdicts taken from the store (no keypoints computed for them)
    keeper_checks: int = 0  # extra pairs checked against a group's keeper
    refused_keeper: int = 0  # joins refused because a member is not the keeper's photo
    unchecked: int = 0  # candidate pairs left unverified by the max_checks budget
    similar_split: int = 0  # similar components split into communities (larger than similar_cap)
    unsaved: str = ""  # why new verdicts could not be kept in the store (another writer held it)


@dataclass
class DuplicateReport:
    """Groups largest first, the thresholds used, what the run cost, and unreadable files; `saved`:
    the groups were remembered in the library (for `distinct --group N`)."""

    groups: list[DuplicateGroup]
    thresholds: Thresholds
    stats: GroupingStats
    failures: list[ImageReadError] = field(default_factory=list)
    count: int = 0
    joins: list[Any] = field(default_factory=list)  # the joins' reports
    saved: bool = False
    model: str = ""
    unsaved: str = ""  # why the groups could not be remembered (another writer held the library)


@dataclass(frozen=True)
class PairVerdict:
    """Stored photo-level evidence for two contents (hash_a < hash_b) measured by one method: keypoint
    inliers (-1: a file was unreadable) and the aligned pixels' agreement (NCC, -1: no alignment)."""

    hash_a: str
    hash_b: str
    method: str
    inliers: int
    agreement: float


@dataclass(frozen=True)
class AddedDuplicate:
    """A newly indexed file that duplicates one already in the library."""

    path: Path
    existing: Path
    kind: str
    score: float
