"""The service's duplicate verbs: duplicate groups on a folder or a library (the one calibrated engine),
the safe actions on them and their undo, "not a duplicate" decisions, and calibration on labelled pairs."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..dedupe import actions
from ..dedupe.calibration import Calibration, best_f1_threshold, read_pairs
from ..dedupe.decisions import preferred_keepers, remembered_group
from ..dedupe.keepers import Preferred, parse_rule
from ..dedupe.partial import Found
from ..dedupe.run import SAVED_THRESHOLD_KEY, find_duplicates, same_bytes
from ..errors import InvalidArgumentError, LibraryError, LookalikeError
from ..join import Progress
from ..similarity.query import embed_image
from ..store.base import VectorStore
from ..store.folders import hash_folder
from ..store.library import Library
from ..store.scan import file_hash
from ..types import STATE_DIR, Cancel, DuplicateOptions, DuplicateReport, JoinChoice, Source, check_threshold
from .core import ServiceCore, Target
from .finding import join_options

ActionStep = actions.Step


class DuplicateVerbs(ServiceCore):
    """duplicates, plan/apply/undo actions, distinct, calibrate."""

    def duplicates(self, target: Target, options: DuplicateOptions | None = None, join: JoinChoice | None = None,
                   progress: Progress | None = None, join_progress: Progress | None = None,
                   max_checks: int | None = None, cancel: Cancel | None = None,
                   verify_progress: Progress | None = None, found: Found | None = None) -> DuplicateReport:
        """Duplicate groups: exact copies by hash, near copies among each image's nearest candidates,
        every one confirmed at photo level (keypoints + aligned pixels; verdicts kept in a library and
        reused) and checked against its group's keeper, with the library's "not a duplicate" decisions
        and calibration; a library remembers the groups for `distinct --group N`. More than
        `max_checks` pairs to check is refused (TooManyItemsError). `cancel` is asked between join
        cells and keypoint batches: when it returns True the run stops with `Cancelled` (the web
        server's jobs use it). `verify_progress` (default: `join_progress`) hears the checks; `found`
        hears the groups found so far (provisional: exact copies first, then after each chunk of
        checks). A keeper a person chose (`choose_keeper`, the page) beats the `keep` rule."""
        options = options or DuplicateOptions()
        parse_rule(options.keep)
        check_threshold(options.threshold)
        if options.same_bytes:
            return self._same_bytes(target, options.keep)
        store = self.store(target, progress, write=True)  # a library remembers the groups
        return find_duplicates(store, options, join_options(join, self.settings.recall), join_progress, max_checks,
                               cancel=cancel, verify_progress=verify_progress, found=found)

    def _same_bytes(self, target: Target, keep: str) -> DuplicateReport:
        """Byte-identical copies only: a folder is hashed (no model, no library needed), a library
        answers from the hashes it stores; the keepers a person chose in a library beat `keep`."""
        if isinstance(target, Source) and target.library is None and target.folder is not None:
            return same_bytes(*hash_folder(target.folder), keep=keep, preferred=self._folder_keepers(target))
        store = self.store(target)
        found = store.snapshot()
        return same_bytes(found.paths, found.hashes, found.failures, keep, preferred_keepers(store))

    def _folder_keepers(self, target: Source) -> Preferred | None:
        """The chosen keepers of the folder's library for the model (None when it has no library)."""
        assert target.folder is not None
        if not (target.folder / STATE_DIR).is_dir():
            return None
        try:
            return preferred_keepers(self.library(target.folder, model=target.model, readonly=True))
        except LookalikeError:
            return None

    def plan_actions(self, report: DuplicateReport, action: str, base: Path,
                     destination: Path | None = None) -> list[ActionStep]:
        """The steps an action would take (a dry run); `base` is the folder the layout is kept from."""
        trash = base / STATE_DIR / "trash" / time.strftime("%Y%m%d-%H%M%S")
        return actions.plan(report.groups, action, base, destination=destination, trash=trash)

    def usable_steps(self, steps: list[ActionStep]) -> tuple[list[ActionStep], list[str]]:
        """The steps that can run, and why each left-out member (a symlink, not a regular file, a taken
        target) or group (its keeper not a regular file) is left out: one odd member never stops a plan."""
        return actions.usable(steps)

    def apply_actions(self, steps: list[ActionStep], base: Path, log: Path | None = None) -> tuple[int, Path]:
        """Apply planned steps, writing an undo log first (default under `base`/.lookalike/undo, paths
        relative to `base` so the log survives moving the folder)."""
        chosen = log or actions.new_log_path(base)
        return actions.apply(steps, chosen, base), chosen

    def undo(self, log: Path | None = None, folder: Path | None = None) -> list[tuple[Path, int]]:
        """Reverse applied actions: every file back in place, byte-identical. Without a log, every
        unfinished log of `folder` (default: the working directory), newest first. Returns each log
        undone with how many files it restored."""
        if log is not None:
            return [(log, actions.undo(log, folder))]
        base = folder if folder is not None else Path.cwd()
        logs = actions.unfinished_logs(base)
        if not logs:
            raise LookalikeError(f"no unfinished undo logs in {base / actions.UNDO_DIR}: give the log, or the "
                                 "folder duplicates --apply ran on", argument="folder")
        return [(found, actions.undo(found, base)) for found in logs]

    # decisions -----------------------------------------------------------------------------------
    def nearest_library(self, start: Path, library: Path | None = None, model: str | None = None) -> Library:
        """The library given, or the nearest FOLDER/.lookalike at or above the folder `start`."""
        if library is not None:
            return self.library(library=library, model=model)
        for folder in [start.resolve(), *start.resolve().parents]:
            if (folder / STATE_DIR).is_dir():
                return self.library(folder, model=model)
        raise LibraryError("no library in this folder or above it; index the folder first", path=start,
                           missing=True)

    def distinct(self, files: list[Path], library: Path | None = None, model: str | None = None) -> int:
        """Remember that these files are not duplicates of each other (by content); returns how many
        pairs were new."""
        if len(files) < 2:
            raise InvalidArgumentError("distinct needs at least two files", argument="files")
        for file in files:
            if not file.is_file():
                raise LibraryError("not a file", path=file)
        store = self.nearest_library(files[0].parent, library, model)
        return store.record_distinct([file_hash(f) for f in files])

    def distinct_group(self, group: int, target: Target) -> int:
        """Mark group `group` of the last duplicates run on this library (by the id it printed)."""
        store = self._writable_library(target)
        return store.record_distinct(remembered_group(store, group))

    def _writable_library(self, target: Target) -> VectorStore:
        if not isinstance(target, Source):
            return target
        if target.library is not None:
            return self.library(library=target.library, model=target.model)
        assert target.folder is not None
        if not target.folder.is_dir():
            raise LibraryError("no such folder", path=target.folder)
        return self.library(target.folder, model=target.model)

    # calibration ---------------------------------------------------------------------------------
    def calibrate(self, pairs: Path, model: str | None = None, library: Path | None = None,
                  save: bool = False) -> tuple[Calibration, Path | None]:
        """The threshold that maximises F1 on labelled pairs (CSV a,b,same|different); with `save`, kept
        in the library for duplicates to use. Returns it and where it was saved."""
        if save and library is None:
            raise InvalidArgumentError("saving a calibration needs a library", argument="save")
        labelled, same = read_pairs(pairs)
        opened = self.library(library=library, model=model) if library else None
        embedder = opened.embedder() if opened is not None else self.embedder(self.model_for(None, model))
        vectors = {path: embed_image(path, embedder) for path in sorted({p for pair in labelled for p in pair})}
        scores = np.asarray([float(vectors[a] @ vectors[b]) for a, b in labelled])
        found = best_f1_threshold(scores, same)
        if save and opened is not None:
            opened.set_meta(SAVED_THRESHOLD_KEY, repr(found.threshold))
            return found, opened.location
        return found, None
