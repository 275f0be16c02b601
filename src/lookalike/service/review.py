"""The service's review verbs: what a person decides about duplicate groups found on a library, by
catalog id (the web page's Duplicates tab uses them). "Not a duplicate" goes to the store's own
decisions (every later `duplicates` run honours it); a chosen keeper is kept in the library (by
content, with the file chosen among byte-identical copies) and every later run, CLI or page, keeps it
whatever its `--keep` rule (dedupe/decisions.py); moving a group's duplicates to the library's
trash is the CLI's undoable `move-to` action (an undo log below the folder) followed by a sync."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from ..dedupe import actions
from ..dedupe.decisions import chosen_keepers, record_keeper
from ..errors import InvalidArgumentError, LibraryError, LibraryLockedError, LookalikeError
from ..store.base import StoredFile, VectorStore
from ..store.library import Library
from ..types import STATE_DIR, DuplicateGroup
from .core import ServiceCore

TRASH_DIR = Path(STATE_DIR) / "trash"  # below the library's folder


@dataclasses.dataclass(frozen=True)
class TrashOutcome:
    """What moving duplicates to the trash did: files moved, the undo log (its name below the folder's
    undo directory), members left out with their reasons, and whether the library was brought up to date."""

    moved: int
    log: str
    skipped: list[str]
    synced: bool


class ReviewVerbs(ServiceCore):
    """not-duplicate decisions, chosen keepers, trash and undo, by catalog id."""

    def writable_store(self, store: VectorStore) -> VectorStore:
        """The same library opened for writing (a server opens its library read-only); a store that
        cannot be written (read-only storage) is refused with the reason."""
        if store.writable:
            return store
        if isinstance(store, Library):
            try:
                opened = self.library(library=store.location, model=store.spec.model)
            except LookalikeError as exc:
                raise LibraryError(f"decisions cannot be saved: {exc.reason or exc}", path=store.location,
                                   conflict=True) from None
            if opened.writable:
                return opened
        raise LibraryError("decisions cannot be saved: this library cannot be written", path=store.root,
                           conflict=True)

    def files_by_id(self, store: VectorStore, ids: list[int], least: int = 1) -> list[StoredFile]:
        """The library files of these ids, in order (each once); an unknown id is refused."""
        unique = list(dict.fromkeys(ids))
        if len(unique) < least:
            raise InvalidArgumentError(f"give at least {least} different image ids", argument="ids")
        found = store.files(unique)
        for image_id in unique:
            if image_id not in found:
                raise LibraryError(f"no image with id {image_id} in this library", unknown_id=image_id)
        return [found[image_id] for image_id in unique]

    def mark_not_duplicate(self, store: VectorStore, ids: list[int], member: int | None = None) -> int:
        """Remember that these images are not duplicates of each other (by content, as `distinct`);
        with `member`, only that one against each of the others. Returns how many pairs were new."""
        files = self.files_by_id(store, ids, least=2)
        target = self.writable_store(store)
        if member is None:
            return target.record_distinct([f.hash for f in files])
        chosen = next((f for f in files if f.id == member), None)
        if chosen is None:
            raise InvalidArgumentError(f"member {member} is not one of the ids", argument="member")
        return sum(target.record_distinct([chosen.hash, other.hash]) for other in files
                   if other.id != member and other.hash != chosen.hash)

    def chosen_keepers(self, store: VectorStore) -> list[str]:
        """The content hashes a person chose as keepers, oldest first."""
        return [digest for digest, _ in chosen_keepers(store)]

    def choose_keeper(self, store: VectorStore, keeper: int) -> None:
        """Keep this image (its content, and this file among byte-identical copies) whenever it is in a
        duplicate group: later runs keep it whatever their keeper rule (the latest choice wins)."""
        chosen = self.files_by_id(store, [keeper])[0]
        target = self.writable_store(store)
        try:
            where: str | None = Path(chosen.path).resolve().relative_to(Path(target.root).resolve()).as_posix()
        except ValueError:
            where = None
        record_keeper(target, chosen.hash, where)

    def trash_duplicates(self, store: VectorStore, ids: list[int], keeper: int) -> TrashOutcome:
        """Move every image of `ids` but `keeper` into the library folder's trash (.lookalike/trash/<time>,
        the layout kept), with an undo log, as `duplicates --apply --action move-to` does; then the
        library drops the moved files. A member that is a symlink or no regular file is left out."""
        files = self.files_by_id(store, ids, least=2)
        keep = next((f for f in files if f.id == keeper), None)
        if keep is None:
            raise InvalidArgumentError(f"the keeper {keeper} is not one of the ids", argument="keeper")
        target = self.writable_store(store)
        base = target.root
        group = DuplicateGroup(1, [f.path for f in files], keep.path, [], hashes=[f.hash for f in files])
        trash = base / TRASH_DIR / time.strftime("%Y%m%d-%H%M%S")
        steps, skipped = actions.usable(actions.plan([group], "move-to", base, destination=trash))
        if not steps:
            raise InvalidArgumentError("nothing to move: " + ("; ".join(skipped) or "no duplicates"), argument="ids")
        log = actions.new_log_path(base)
        moved = actions.apply(steps, log, base)
        return TrashOutcome(moved, log.name, skipped, self._synced(target))

    def undo_trash(self, store: VectorStore, log: str) -> tuple[int, bool]:
        """Put back what the undo log `log` (a name `trash_duplicates` gave) moved; returns how many
        files came back and whether the library was brought up to date."""
        target = self.writable_store(store)
        folder = target.root / actions.UNDO_DIR
        if Path(log).name != log or not log.endswith(".jsonl") or not (folder / log).is_file():
            raise LibraryError(f"no undo log {log[:80]!r} in this library's folder (already undone?)",
                               argument="log", unknown_id=log[:80])
        restored = actions.undo(folder / log, target.root)
        return restored, self._synced(target)

    def _synced(self, store: VectorStore) -> bool:
        """Bring the library up to date after files moved (False while another writer holds it)."""
        try:
            store.sync(options=self.pipeline_options())
        except LibraryLockedError:
            return False
        return True
