"""The service: the only door to lookalike. Every verb the command line and the web server offer is a
typed method of `Lookalike`, and works on a folder (answered from its library when it has one, else
embedded for the call) and on a library alike; results are the types of `lookalike.types`.

    from lookalike import Lookalike, Query, Source

    with Lookalike() as service:                      # settings: defaults < lookalike.toml < env
        hits = service.search(Source(Path("photos")), Query("query.jpg"), k=10).matches
        library = service.library("photos", create=True)
        service.sync(library)
        twins = service.similar(library, hits[0].id, k=5)
        groups = service.duplicates(library).groups

Models load lazily: answering from stored vectors (an image already in a library, pairs and
duplicates over a library) never builds one. One object may be called from any number of threads.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ..dedupe.calibration import Calibration
from ..dedupe.partial import PartialGroups
from ..scale.ray_engine import RayOptions, RayRun
from ..store.base import LibraryStats, Snapshot, StoredFile, SyncReport, VectorStore
from ..store.library import Library
from .collections import CollectionVerbs
from .core import Target, require_folder
from .duplicates import ActionStep, DuplicateVerbs
from .finding import FindingVerbs
from .learning import EvalOutcome, LearningVerbs, MapOutcome
from .library_verbs import IndexOutcome, LibraryVerbs
from .review import ReviewVerbs, TrashOutcome


class Lookalike(FindingVerbs, DuplicateVerbs, LibraryVerbs, LearningVerbs, CollectionVerbs, ReviewVerbs):
    """Loaded models and open libraries, shared safely between threads; every verb of lookalike."""

    def __enter__(self) -> Lookalike:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_HEAVY = {  # option and result types of the verbs that need torch: imported when first named
    "TrainConfig": "..training.trainer", "EpochReport": "..training.trainer", "TrainOutcome": "..training.run",
    "EvalResult": "..evaluation.evaluator", "BenchRow": "..evaluation.index_bench",
}


def __getattr__(name: str) -> Any:
    if name not in _HEAVY:
        raise AttributeError(f"module 'lookalike.service' has no attribute {name!r}")
    return getattr(import_module(_HEAVY[name], __name__), name)


__all__ = ["ActionStep", "BenchRow", "Calibration", "EpochReport", "EvalOutcome", "EvalResult", "IndexOutcome",
           "Library", "LibraryStats", "Lookalike", "MapOutcome", "PartialGroups", "RayOptions", "RayRun", "Snapshot",
           "StoredFile", "SyncReport", "Target", "TrainConfig", "TrainOutcome", "TrashOutcome", "VectorStore",
           "require_folder"]
