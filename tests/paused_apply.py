"""Runs the `lookalike` command with the standard library's shutil.move announcing each move on stderr
and pausing after the Nth, so a test can SIGKILL a `duplicates --apply` mid-way:

    python tests/paused_apply.py N lookalike-arguments...
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

_move = shutil.move


def main() -> None:
    pause_after, moves = int(sys.argv[1]), [0]

    def move(source: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
        result = _move(source, target, *args, **kwargs)
        moves[0] += 1
        if moves[0] == pause_after:
            print("lookalike-paused", file=sys.stderr, flush=True)
            time.sleep(300)
        return result

    shutil.move = move  # type: ignore[assignment]
    sys.argv = ["lookalike", *sys.argv[2:]]
    from lookalike.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
