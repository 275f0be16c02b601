"""How the command line words the core's errors: the core says what went wrong; this adds which flag
or command fixes it, from the error's structured fields."""

from __future__ import annotations

from ..errors import (
    CorruptLibraryError,
    ImageReadError,
    InvalidArgumentError,
    LibraryError,
    LookalikeError,
    ModelLoadError,
    SpecMismatchError,
    TooManyItemsError,
)

FLAGS = {
    "k": "-k", "top": "--top", "threshold": "--threshold", "text_weight": "--text-weight",
    "holdout": "--holdout", "folder": "FOLDER", "library": "--library", "query": "QUERY or --text",
    "with_text": "--with-text", "finetune_last": "--finetune-last", "split_by": "--split-by", "out": "--out",
    "epochs": "--epochs", "dim": "--dim", "hidden": "--hidden", "patience": "--patience", "lr": "--lr",
}
USAGE_ERRORS = (InvalidArgumentError,)


def hint(error: LookalikeError) -> str | None:
    """The flag or command that fixes `error`, as a clause to append (None when there is none)."""
    details = error.details
    if isinstance(error, SpecMismatchError) and details.get("expected"):
        fix = f"pass --model {details['expected']}"
        return f"{fix} or index the folder with --model {details['given']}" if details.get("given") else fix
    if isinstance(error, ModelLoadError) and details.get("offline"):
        return "--model efficientnet-lite0 works offline"
    if isinstance(error, CorruptLibraryError) and details.get("repair"):
        return "`lookalike index FOLDER --rebuild-index` rebuilds it from the catalog"
    if isinstance(error, LibraryError):
        if details.get("missing"):
            return "create one with `lookalike index FOLDER`"
        if details.get("choose_model"):
            return "pick one with --model"
        if details.get("unwritable"):
            return "put it elsewhere with --library DIR"
        if details.get("indexes"):
            return f"run it on {details['indexes']} or use another --library"
    if isinstance(error, TooManyItemsError) and details.get("limit"):
        return "use --top K for the K most similar pairs"
    if isinstance(error, ImageReadError) and details.get("limit") == "max_pixels":
        return "raise the limit with --max-megapixels"
    return None


def with_hint(error: LookalikeError) -> str:
    """The error's line with its fix, and its argument named as the flag the user typed."""
    text = str(error)
    if isinstance(error, InvalidArgumentError):
        argument = error.details.get("argument")
        flag = FLAGS.get(str(argument))
        if flag and text.startswith(f"{argument} "):
            text = flag + text[len(str(argument)):]
    extra = hint(error)
    return f"{text}; {extra}" if extra else text


def exit_code(error: LookalikeError) -> int:
    """2 for usage errors (a bad flag value), 1 for everything else."""
    return 2 if isinstance(error, USAGE_ERRORS) else 1


def database_error(error: Exception) -> str | None:
    """The line for an error the PostgreSQL store's server or driver raised (psycopg's), else None:
    which it was (refused: a rule of the server such as a permission; failed: anything else) and the
    server's first line (its detail lines and statement excerpt left out)."""
    if not type(error).__module__.startswith("psycopg"):
        return None
    state = str(getattr(error, "sqlstate", "") or "")
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return f"the PostgreSQL store {'refused' if state.startswith('42') else 'failed'}: {first}"
