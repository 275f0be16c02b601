"""The seam between a sync and whatever embeds its files: the sync decides what is new or changed
and commits what comes back chunk by chunk; an engine turns those files into `EmbeddedBatch`es.
The default engine is the in-process `Pipeline`; `lookalike.scale` supplies a Ray Data one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..embedders import Embedder
from ..pipeline import EmbeddedBatch, Pipeline, PipelineOptions


@dataclass(frozen=True)
class FileFacts:
    """One file a sync wants embedded: where it is, its path relative to the root and the facts the
    scan recorded (the content hash, size and times)."""

    path: Path
    rel: str
    hash: str
    size: int
    mtime_ns: int
    ctime_ns: int = 0


EmbedEngine = Callable[[Path, list[FileFacts]], Iterator[EmbeddedBatch]]
"""`engine(root, files)`: every file comes back once, in a batch's `paths` (with its vector and
size) or in its `failures` (with the reason); batches may come in any order."""


def local_engine(embedder: Callable[[], Embedder], options: PipelineOptions | None) -> EmbedEngine:
    """The in-process engine: decode threads and the model in this process."""

    def run(root: Path, files: list[FileFacts]) -> Iterator[EmbeddedBatch]:
        yield from Pipeline(embedder(), options).iter_batches([f.path for f in files])

    return run
