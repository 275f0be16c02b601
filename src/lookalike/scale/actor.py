"""The Ray Data actor that holds one model: it decodes its batch's files (threads, as the local
pipeline does) and embeds them, and returns every row with its vector (a video's every sampled frame
with its moment) or its failure reason."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


class EmbedActor:
    """A callable class for `Dataset.map_batches`: built once per actor, then called per batch."""

    def __init__(self, model: str, root: str, spec: dict[str, Any], embed_options: dict[str, Any],
                 batch_size: int | None, workers: int, max_pixels: int | None, threads: int) -> None:
        from ..embedders import EmbeddingSpec, create_embedder
        from ..pipeline import Pipeline, PipelineOptions

        self.embedder = create_embedder(model, **embed_options)
        if threads > 0 and "torch" in __import__("sys").modules:
            import torch

            torch.set_num_threads(threads)
        EmbeddingSpec.from_dict(spec).check_compatible(self.embedder.spec, f"the library's model {model}")
        self.root = Path(root)
        self.pipeline = Pipeline(self.embedder, PipelineOptions(batch_size=batch_size, workers=workers,
                                                                max_pixels=max_pixels))

    def __call__(self, batch: Any) -> Any:
        """A `pyarrow.Table` of files in (path_bytes, hash, size, mtime_ns, ctime_ns), the same rows
        out with path, width, height, error, vector (a video's first frame), times and frames (a
        video's every frame time, and its frames 1.. vectors; null for a photo)."""
        import pyarrow as pa

        from .shards import frames_type

        raw = [bytes(b) for b in batch.column("path_bytes").to_pylist()]
        paths = [self.root / os.fsdecode(b) for b in raw]
        where = {path: row for row, path in enumerate(paths)}
        dim = self.embedder.spec.dim
        vectors = np.zeros((len(paths), dim), np.float32)
        widths: list[int | None] = [None] * len(paths)
        heights: list[int | None] = [None] * len(paths)
        errors: list[str | None] = [None] * len(paths)
        times: list[list[float] | None] = [None] * len(paths)
        frames: list[list[np.ndarray] | None] = [None] * len(paths)
        for done in self.pipeline.iter_batches(paths):
            moments = done.times or [None] * len(done.paths)
            for path, vector, size, moment in zip(done.paths, done.vectors, done.sizes, moments, strict=True):
                row, first = where[path], True
                if moment is not None:  # a video: one vector per sampled frame, in order
                    seen = times[row] = [*(times[row] or []), float(moment)]
                    first = len(seen) == 1
                if first:
                    vectors[row] = vector
                    widths[row], heights[row] = size
                else:
                    frames[row] = [*(frames[row] or []), vector]
            for failure in done.failures:
                errors[where[Path(failure.path or "")]] = str(failure.reason)
        texts = [b.decode("utf-8", "replace") for b in raw]
        more = [None if times[row] is None else [v.tolist() for v in frames[row] or []] for row in range(len(paths))]
        return batch.append_column("path", pa.array(texts, pa.string())) \
            .append_column("width", pa.array(widths, pa.int32())) \
            .append_column("height", pa.array(heights, pa.int32())) \
            .append_column("error", pa.array(errors, pa.string())) \
            .append_column("vector", pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), dim)) \
            .append_column("times", pa.array(times, pa.list_(pa.float64()))) \
            .append_column("frames", pa.array(more, frames_type(dim)))
