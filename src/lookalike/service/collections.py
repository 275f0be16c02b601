"""The service's verbs over a whole collection: clusters by content and outliers (both on the join's
k-nearest-neighbour graph, on a folder or a library alike), vectors for any files without a library
(in the export's schema), and the image formats this install reads."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..corpus import cluster_vectors, outlier_scores
from ..corpus.clusters import DEFAULT_MIN_SIZE, check_min_size
from ..corpus.formats import ImageFormat, readable_formats
from ..corpus.outliers import DEFAULT_K, most_unusual
from ..corpus.vectorfile import Chunk, check_output, embed_chunks, text_chunk, write_lines, write_npy, write_parquet
from ..embedders import EmbeddingSpec
from ..errors import ImageReadError, InvalidArgumentError, LookalikeError, check_cancel, display_path
from ..images import find_images
from ..join import JoinReport, Progress
from ..types import Cancel, JoinChoice, check_count
from .core import ServiceCore, Target
from .finding import join_options


@dataclass
class Cluster:
    """One cluster (numbered from 0, largest first): its members (sorted) and its medoid."""

    number: int
    representative: Path
    members: list[Path]

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass
class ClusterMember:
    """One image: its cluster (-1: in none) and whether it is its cluster's representative."""

    path: Path
    cluster: int
    representative: bool


@dataclass
class ClusterReport:
    """Every image with its cluster, the clusters, unreadable files and which join built the graph."""

    members: list[ClusterMember]
    clusters: list[Cluster]
    failures: list[ImageReadError] = field(default_factory=list)
    join: JoinReport | None = None


@dataclass
class Outlier:
    """An image and its mean similarity to its k nearest others (lower: more unusual)."""

    path: Path
    score: float


@dataclass
class OutlierReport:
    """The images, most unusual first, unreadable files and which join answered."""

    outliers: list[Outlier]
    failures: list[ImageReadError] = field(default_factory=list)
    join: JoinReport | None = None


@dataclass
class EmbedOutcome:
    """What `embed_files` wrote: how many vectors (rows: a video gives one per sampled frame), the files
    written, the spec, the skipped files."""

    count: int
    written: list[Path]
    spec: EmbeddingSpec
    failures: list[ImageReadError] = field(default_factory=list)


class CollectionVerbs(ServiceCore):
    """clusters, outliers, embed_files, formats."""

    def clusters(self, target: Target, min_size: int = DEFAULT_MIN_SIZE, k: int | None = None,
                 join: JoinChoice | None = None, progress: Progress | None = None,
                 join_progress: Progress | None = None, cancel: Cancel | None = None) -> ClusterReport:
        """Groups of images by content: HDBSCAN on the k-nearest-neighbour graph (k: 10, at least
        `min_size`), clusters of at least `min_size` images numbered largest first, each with its
        medoid; the same collection gives the same answer. `cancel` is asked between the steps and
        after every join cell: True stops the run with `Cancelled` (the web server's jobs use it)."""
        check_min_size(min_size)
        if k is not None:
            check_count(k, "k")
        store = self.store(target, progress)
        snap = store.snapshot()
        check_cancel(cancel)
        keys = [display_path(path) for path in snap.paths]
        found = cluster_vectors(snap.vectors, min_size, k, keys, join_options(join, self.settings.recall),
                                join_progress, cancel)
        chosen = set(found.representatives)
        members = [ClusterMember(path, int(found.labels[i]), i in chosen) for i, path in enumerate(snap.paths)]
        members.sort(key=lambda m: (m.cluster < 0, m.cluster, not m.representative, display_path(m.path)))
        clusters = [Cluster(number, snap.paths[row], [m.path for m in members if m.cluster == number])
                    for number, row in enumerate(found.representatives)]
        return ClusterReport(members, clusters, snap.failures, found.report)

    def outliers(self, target: Target, k: int = DEFAULT_K, top: int | None = None,
                 join: JoinChoice | None = None, progress: Progress | None = None,
                 join_progress: Progress | None = None, cancel: Cancel | None = None) -> OutlierReport:
        """The images least like their neighbours (score: mean similarity to the k nearest others),
        most unusual first; `top` keeps that many. `cancel` as in `clusters`."""
        check_count(k, "k")
        if top is not None:
            check_count(top, "top")
        store = self.store(target, progress)
        snap = store.snapshot()
        check_cancel(cancel)
        scores, report = outlier_scores(snap.vectors, k, join_options(join, self.settings.recall), join_progress,
                                        cancel)
        order = most_unusual(scores, [display_path(path) for path in snap.paths])[:top]
        return OutlierReport([Outlier(snap.paths[i], float(scores[i])) for i in order], snap.failures, report)

    def embed_files(self, inputs: list[Path], out: Path | None, model: str | None = None,
                    texts: list[str] | None = None, progress: Progress | None = None,
                    lines: Callable[[str], None] | None = None) -> EmbedOutcome:
        """Vectors for files and folders (searched recursively), or for `texts` with the model's text
        tower, without a library: to `out` (.parquet, or .npy with a .json sidecar: the export's
        schema, so `import` reads it; a video one row per sampled frame with its `time`) or, with `out`
        None, as JSON lines handed to `lines`. Written in chunks of 1,024 files (bounded memory);
        unreadable files are skipped and reported."""
        check_output(out)
        if out is None and lines is None:
            raise InvalidArgumentError("name an output file or a place for the JSON lines", argument="out")
        if inputs and texts:
            raise InvalidArgumentError("give files or --text, not both", argument="text")
        if not inputs and not texts:
            raise InvalidArgumentError("name files or folders to embed, or give --text", argument="files")
        embedder = self.embedder(self.model_for(None, model))
        spec = embedder.spec
        if texts:
            embedder.embed_texts(texts[:1])  # refuses a model without a text tower before any writing
            files, root = list[Path](), Path.cwd()
            chunks: Iterator[Chunk] = iter([text_chunk(texts, embedder)])
        else:
            files, root = _expand(inputs)
            chunks = embed_chunks(files, root, embedder, self.pipeline_options(progress))
        capacity = len(texts) if texts else len(files)
        if out is None:
            assert lines is not None
            written: list[Path] = []
            chunks = write_lines(chunks, lines)
        elif out.suffix.lower() == ".parquet":
            written, chunks = [out], write_parquet(out, chunks, spec, root)
        else:
            written = [out, out.with_suffix(".json")]
            chunks = write_npy(out, chunks, spec, root, capacity)
        count, failures = 0, []
        for chunk in chunks:
            count += len(chunk.rows)
            failures.extend(chunk.failures)
        return EmbedOutcome(count, written, spec, failures)

    def formats(self) -> list[ImageFormat]:
        """The image formats this install reads (and what to install for the others)."""
        return readable_formats()


def _expand(inputs: list[Path]) -> tuple[list[Path], Path]:
    """The image and video files named or found below the folders named (each once, in the order given), and the
    folder their paths are written relative to (the one folder given, else their common folder)."""
    files: list[Path] = []
    for item in inputs:
        if not item.exists():
            raise LookalikeError(f"{display_path(item)}: no such file or folder")
        files.extend(path.resolve() for path in (find_images(item, videos=True) if item.is_dir() else [item]))
    unique = list(dict.fromkeys(files))
    if len(inputs) == 1 and inputs[0].is_dir():
        return unique, inputs[0].resolve()
    parents = {str(path.parent) for path in unique}
    return unique, Path(os.path.commonpath(sorted(parents))) if parents else Path.cwd()
