"""Paths in, vectors out: decode and preprocess in worker threads (Pillow and the processors release
the GIL for the heavy parts) while the model runs on the previous batch. Bad files are collected as
failures, never raised. A video gives one vector per sampled frame: its path comes back once per
frame, with the frame's time (None for a photo)."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .embedders.base import Embedder
from .errors import ImageReadError
from .images import DecodeOptions, check_regular, decode_image
from .system import available_cores
from .video import VideoOptions, is_video, sample_frames

log = logging.getLogger(__name__)


@dataclass
class EmbeddedBatch:
    """One model batch: the paths that decoded, their vectors (same order) and the ones that did not;
    `times` holds each vector's time in seconds in its video (None for a photo)."""

    paths: list[Path]
    vectors: np.ndarray
    failures: list[ImageReadError]
    sizes: list[tuple[int, int]] = field(default_factory=list)
    times: list[float | None] = field(default_factory=list)


@dataclass
class EmbedResult:
    """Every good path with its vector (a video once per sampled frame, `times` saying which moment;
    None for photos), and every failure with its reason."""

    paths: list[Path]
    vectors: np.ndarray
    failures: list[ImageReadError] = field(default_factory=list)
    times: list[float | None] = field(default_factory=list)


Progress = Callable[[int, int], None]
"""A progress callback: `progress(done, total)`; the API is silent unless one is given."""


@dataclass(frozen=True)
class PipelineOptions:
    """Batch size (None: the model's own), decode worker count (None: one per core), the pixel limit,
    an optional progress callback called after each batch, and how videos are sampled."""

    batch_size: int | None = None
    workers: int | None = None
    max_pixels: int | None = None
    progress: Progress | None = None
    video: VideoOptions | None = None


Prepared = list[tuple[Any, tuple[int, int], float | None]]
"""What one file gives the model: (prepared input, full size, time) per picture (several for a video)."""


def _decode_and_prepare(path: Path, embedder: Embedder, options: DecodeOptions,
                        video: VideoOptions | None = None) -> Prepared:
    """Decode and preprocess one file (every sampled frame of a video); any failure becomes an
    `ImageReadError` naming the file, so one odd image (a decoder or processor error nobody foresaw)
    never stops a run."""
    try:
        if is_video(path):
            check_regular(path)
            frames = sample_frames(path, video or VideoOptions(max_pixels=options.max_pixels))
            return [(embedder.prepare(frame.picture), frame.size, frame.time) for frame in frames]
        picture, full_size = decode_image(path, options)
        return [(embedder.prepare(picture), full_size, None)]
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported per file, by design
        raise ImageReadError(path, f"cannot decode or preprocess ({type(exc).__name__}: {exc})") from None


class Pipeline:
    """Embeds files with one embedder, overlapping decoding with the model."""

    def __init__(self, embedder: Embedder, options: PipelineOptions | None = None) -> None:
        self.embedder = embedder
        self.options = options or PipelineOptions()
        decode = embedder.decode_options
        if self.options.max_pixels:
            decode = DecodeOptions(decode.draft_short_side, self.options.max_pixels, decode.min_side)
        self.decode = decode

    def iter_batches(self, paths: Sequence[Path]) -> Iterator[EmbeddedBatch]:
        """Yield one `EmbeddedBatch` per model batch, in input order."""
        batch_size = self.options.batch_size or self.embedder.default_batch_size
        workers = self.options.workers or max(1, available_cores())
        look_ahead = batch_size * 2 + workers
        done = 0
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookalike-decode") as pool:
            pending: deque[tuple[Path, Future[Any]]] = deque()
            queue = iter(paths)

            def refill() -> None:
                while len(pending) < look_ahead:
                    path = next(queue, None)
                    if path is None:
                        return
                    pending.append((path, pool.submit(_decode_and_prepare, path, self.embedder, self.decode,
                                                      self.options.video)))

            refill()
            while pending:
                good_paths: list[Path] = []
                items: list[Any] = []
                sizes: list[tuple[int, int]] = []
                times: list[float | None] = []
                failures: list[ImageReadError] = []
                files = 0
                while pending and len(items) < batch_size:
                    path, future = pending.popleft()
                    refill()
                    files += 1
                    try:
                        prepared = future.result()
                    except ImageReadError as exc:
                        log.warning("skipped %s", exc)
                        failures.append(exc)
                        continue
                    for item, size, moment in prepared:  # a video's frames stay in one batch
                        items.append(item)
                        sizes.append(size)
                        times.append(moment)
                        good_paths.append(path)
                vectors = self.embedder.embed_prepared(items)
                done += files
                if self.options.progress is not None:
                    self.options.progress(done, len(paths))
                yield EmbeddedBatch(good_paths, vectors, failures, sizes, times)

    def run(self, paths: Sequence[Path]) -> EmbedResult:
        """Embed every path; the result keeps input order for the good ones."""
        result = EmbedResult([], np.zeros((0, self.embedder.spec.dim), np.float32), [])
        chunks = []
        for batch in self.iter_batches(paths):
            result.paths.extend(batch.paths)
            result.times.extend(batch.times)
            result.failures.extend(batch.failures)
            chunks.append(batch.vectors)
        if chunks:
            result.vectors = np.concatenate(chunks)
        return result


def embed_paths(embedder: Embedder, paths: Sequence[Path], options: PipelineOptions | None = None) -> EmbedResult:
    """Convenience wrapper: `Pipeline(embedder, options).run(paths)`."""
    return Pipeline(embedder, options).run(paths)
