"""A person's decisions on duplicate groups, by catalog id: "not a duplicate" (kept by the library, so
every later duplicates run honours it), the keeper to prefer, and moving a group's duplicates to the
library folder's trash with an undo log (the CLI's undoable move), and undoing that. All are POSTs:
cross-site browser requests are refused, and the token applies as everywhere under /api."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from .context import WebContext
from .dependencies import get_context
from .schemas import (
    ErrorOut,
    KeeperIn,
    KeeperOut,
    NotDuplicateIn,
    NotDuplicateOut,
    TrashIn,
    TrashOut,
    UndoIn,
    UndoOut,
)

router = APIRouter(prefix="/duplicates", tags=["review"])
Context = Annotated[WebContext, Depends(get_context)]
REVIEW_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "The library cannot be written now (read-only storage, or another "
                                            "process is updating it)."}}


@router.post("/not-duplicate", response_model=NotDuplicateOut, responses=REVIEW_ERRORS,
             summary="Mark images as not duplicates of each other")
def not_duplicate(context: Context, body: NotDuplicateIn) -> NotDuplicateOut:
    """Remember (by content, in the library) that these images are not duplicates: every pair of them,
    or with `member` that one against each of the others. Later duplicates runs never group them."""
    return NotDuplicateOut(pairs=context.service.mark_not_duplicate(context.library, body.ids, body.member))


@router.post("/keeper", response_model=KeeperOut, responses=REVIEW_ERRORS,
             summary="Prefer an image as the keeper of its duplicate group")
def keeper(context: Context, body: KeeperIn) -> KeeperOut:
    """Whenever this image's content is in a duplicate group the page shows, it is the suggested keeper."""
    context.service.choose_keeper(context.library, body.keeper)
    return KeeperOut(keeper=body.keeper)


@router.post("/trash", response_model=TrashOut, responses=REVIEW_ERRORS,
             summary="Move a group's duplicates to the library's trash (undoable)")
def trash(context: Context, body: TrashIn) -> TrashOut:
    """Move every image of the group but the keeper into the folder's .lookalike/trash, keeping their
    layout, with an undo log first (as `lookalike duplicates --apply --action move-to`). Only a group
    the last duplicates job of this server found (or part of one) is accepted."""
    context.found.check(body.ids)
    done = context.service.trash_duplicates(context.library, body.ids, body.keeper)
    root = f"{context.library.root}/"  # reasons name files as the page does: relative to the folder
    return TrashOut(moved=done.moved, log=done.log, skipped=[line.replace(root, "") for line in done.skipped],
                    synced=done.synced)


@router.post("/undo", response_model=UndoOut, responses=REVIEW_ERRORS,
             summary="Put back the files a trash answer moved")
def undo(context: Context, body: UndoIn) -> UndoOut:
    """Reverse the undo log a trash answer named: every file back in place, byte-identical."""
    restored, synced = context.service.undo_trash(context.library, body.log)
    return UndoOut(restored=restored, synced=synced)
