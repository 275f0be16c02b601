"""The real `lookalike` command, with every library sync announcing each durable step on stderr
(`lookalike-checkpoint NAME`) and pausing there, so a test can SIGKILL or Ctrl-C it at a known point:

    python tests/reliability/paused_cli.py PAUSE_SECONDS index FOLDER [OPTIONS...]

The pause is injected through `Library.sync(checkpoint=...)`; nothing in the product reads a test hook.
"""

from __future__ import annotations

import functools
import sys
import time
from typing import Any

from lookalike import cli
from lookalike.store.library import Library


def announce(pause: float):  # type: ignore[no-untyped-def]
    def checkpoint(name: str) -> None:
        print(f"lookalike-checkpoint {name}", file=sys.stderr, flush=True)
        time.sleep(pause)

    return checkpoint


def main() -> None:
    pause = float(sys.argv[1])
    original = Library.sync

    @functools.wraps(original)
    def sync(self: Library, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("checkpoint", announce(pause))
        return original(self, *args, **kwargs)

    Library.sync = sync  # type: ignore[method-assign]
    sys.argv = ["lookalike", *sys.argv[2:]]
    cli.main()


if __name__ == "__main__":
    main()
