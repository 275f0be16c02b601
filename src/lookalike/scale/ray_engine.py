"""Embedding on Ray Data: the files a sync wants embedded become a dataset, actors that each hold
the model decode and embed them (`map_batches` with a callable class on an actor pool), and the
rows land in Parquet shards that the sync then ingests chunk by chunk (store.engine's seam).

Without an address a local Ray starts on 127.0.0.1 and is shut down after; `address="auto"` joins
the cluster this machine belongs to, `ray://HOST:PORT` a remote one (its workers must see the
folder and the shards folder at the same paths, e.g. on shared storage). A video's row holds every
sampled frame (scale.shards), so a sync stores what the in-process engine would."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..embedders import EmbeddingSpec
from ..errors import LookalikeError
from ..extras import require
from ..pipeline import EmbeddedBatch
from ..store.engine import EmbedEngine, FileFacts
from ..system import available_cores
from .actor import EmbedActor
from .shards import batches_from_shards, count_rows, write_sidecar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RayOptions:
    """Where Ray runs and how the work is spread: `address` None starts a local Ray (on 127.0.0.1,
    with `local_cpus` CPUs, default the usable cores); `actors` model-holding actors, each asking for
    `cpus_per_actor` CPUs (fractions allowed: two actors on two cores need 0.5 each, or they wait
    for each other) and `gpus_per_actor` GPUs; `batch_size` files per actor call; `shards` keeps
    the Parquet shards there (default: a temporary folder in the library, removed after ingest)."""

    address: str | None = None
    actors: int = 2
    cpus_per_actor: float = 0.5
    gpus_per_actor: float = 0.0
    batch_size: int = 64
    threads_per_actor: int = 1
    local_cpus: int | None = None
    shards: Path | None = None

    def check(self) -> None:
        if self.actors < 1:
            raise LookalikeError(f"the Ray engine needs at least 1 actor, not {self.actors}", argument="actors")
        if self.cpus_per_actor <= 0 or self.gpus_per_actor < 0:
            raise LookalikeError("CPUs per actor must be > 0 and GPUs per actor >= 0", argument="cpus-per-actor")
        if self.batch_size < 1:
            raise LookalikeError(f"the batch size must be at least 1, not {self.batch_size}", argument="batch-size")
        if self.address is not None and not (self.address == "auto" or self.address.startswith("ray://")
                                             or ":" in self.address):
            raise LookalikeError(f"'{self.address}' is not a Ray address: use auto, ray://HOST:PORT or HOST:PORT",
                                 argument="address")


@dataclass
class RayRun:
    """What the last Ray job did (the CLI prints it on stderr)."""

    files: int = 0
    embedded: int = 0
    failed: int = 0
    actors: int = 0
    seconds: float = 0.0
    shards: list[Path] = field(default_factory=list)


@contextmanager
def ray_session(options: RayOptions) -> Iterator[Any]:
    """Ray, connected: reuses a Ray this process already started (as tests do), else joins
    `options.address` or starts a local one on 127.0.0.1; shuts down only what it started."""
    ray = require("ray", "scale", "the Ray engine")
    require("ray.data", "scale", "the Ray engine")
    if ray.is_initialized():
        yield ray
        return
    quiet: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False, "configure_logging": True}
    # a local Ray's workers import lookalike from where this process does
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}}
    try:
        if options.address:
            ray.init(address=options.address, **quiet)
        else:
            ray.init(num_cpus=options.local_cpus or available_cores(), include_dashboard=False,
                     _node_ip_address="127.0.0.1", runtime_env=env, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise LookalikeError(f"cannot start or reach Ray ({first})", argument="address") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _dataset(ray: Any, files: list[FileFacts], blocks: int) -> Any:
    import pyarrow as pa

    table = pa.table({
        "path_bytes": pa.array([os.fsencode(f.rel) for f in files], pa.binary()),
        "hash": pa.array([f.hash for f in files], pa.string()),
        "size": pa.array([f.size for f in files], pa.int64()),
        "mtime_ns": pa.array([f.mtime_ns for f in files], pa.int64()),
        "ctime_ns": pa.array([f.ctime_ns for f in files], pa.int64()),
    })
    return ray.data.from_arrow(table).repartition(blocks)


def embed_to_shards(files: list[FileFacts], root: Path, model: str, spec: EmbeddingSpec, out: Path,
                    options: RayOptions, embed_options: dict[str, Any], max_pixels: int | None,
                    run: RayRun | None = None) -> RayRun:
    """Embed `files` on Ray into Parquet shards in `out` (a new or empty folder); returns the run."""
    options.check()
    run = run or RayRun()
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise LookalikeError(f"{out}: the shards folder must be new or empty", argument="shards")
    with ray_session(options) as ray:
        from ray.data import ActorPoolStrategy, DataContext

        DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        blocks = max(1, min(len(files), -(-len(files) // options.batch_size)))
        dataset = _dataset(ray, files, blocks).map_batches(
            EmbedActor, batch_size=options.batch_size, batch_format="pyarrow",
            compute=ActorPoolStrategy(size=options.actors),
            num_cpus=options.cpus_per_actor, num_gpus=options.gpus_per_actor or None,
            fn_constructor_kwargs={
                "model": model, "root": str(root), "spec": asdict(spec), "embed_options": embed_options,
                "batch_size": None, "workers": max(1, options.threads_per_actor), "max_pixels": max_pixels,
                "threads": options.threads_per_actor,
            },
        )
        try:
            dataset.write_parquet(str(out), min_rows_per_file=max(options.batch_size, 1024),
                                  ray_remote_args={"num_cpus": min(0.25, options.cpus_per_actor)})
        except Exception as exc:  # noqa: BLE001 - Ray wraps the actor's error; one line for the user
            text = str(exc).strip().splitlines()
            reason = next((line for line in reversed(text) if "Error" in line), text[-1] if text else repr(exc))
            raise LookalikeError(f"the Ray job failed ({reason.strip()[:300]})") from None
    write_sidecar(out, spec, root)
    run.files, run.actors = len(files), options.actors
    run.shards = sorted(out.glob("*.parquet"))
    run.seconds = time.perf_counter() - started
    return run


def ray_engine(model: str, spec: EmbeddingSpec, options: RayOptions, embed_options: dict[str, Any],
               max_pixels: int | None, library_dir: Path | None, run: RayRun) -> EmbedEngine:
    """A sync engine (store.engine) that embeds on Ray, then yields the shards in chunks; `run`
    is filled in as it goes. Unless `options.shards` keeps them, the shards go to a folder in
    `library_dir` (None, for a store that is not on disk: a new temporary folder), removed after."""

    def engine(root: Path, files: list[FileFacts]) -> Iterator[EmbeddedBatch]:
        keep = options.shards is not None
        if options.shards is not None:
            out = options.shards
        elif library_dir is None:  # a private (0700) folder of its own: never removed and made again
            out = Path(tempfile.mkdtemp(prefix="lookalike-ray-shards-"))
        else:
            out = library_dir / f".ray-shards-{os.getpid()}"
            if out.exists():  # left by a killed run of a process with the same id
                shutil.rmtree(out)
        try:
            embed_to_shards(files, root, model, spec, out, options, embed_options, max_pixels, run)
            written = count_rows(out)
            if written < len(files):  # workers on other machines wrote where this one cannot read
                raise LookalikeError(f"Ray's workers wrote {written} of {len(files)} rows where this process "
                                     f"can read them ({out}): the shards must be on storage both share",
                                     path=out)
            for batch in batches_from_shards(out, root, spec.dim):
                run.embedded += len(set(batch.paths))  # a video: one file, several frames
                run.failed += len(batch.failures)
                yield batch
        finally:
            if not keep:
                shutil.rmtree(out, ignore_errors=True)

    return engine
