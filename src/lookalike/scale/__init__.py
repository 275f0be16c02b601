"""Beyond one machine: embedding on a Ray cluster (Ray Data actors writing Parquet shards) and
building a library from shards without holding every vector in memory. Needs the `scale` extra."""

from __future__ import annotations

from .build_index import build_library
from .ray_engine import RayOptions, RayRun, embed_to_shards, ray_engine, ray_session
from .shards import read_sidecar, shard_files

__all__ = ["RayOptions", "RayRun", "embed_to_shards", "ray_engine", "ray_session", "read_sidecar", "shard_files",
           "build_library"]
