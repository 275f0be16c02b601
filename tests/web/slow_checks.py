"""Photo-level pair checks made slow on purpose, as on a slow machine: each pair check first burns
`delay` seconds of CPU (a busy loop, so the process looks busy, not idle). Tests of jobs that must
still be running when they are cancelled or abandoned use it, so they do not depend on how fast this
machine checks pairs. In this process (`slowed_pair_checks`), or for a `lookalike` child process:

    python tests/web/slow_checks.py DELAY lookalike-arguments...
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()


def _slowed(original: Any, delay: float) -> Any:
    def pair(self: Any, i: int, j: int) -> Any:
        end = time.perf_counter() + delay
        while time.perf_counter() < end:
            pass
        return original(self, i, j)

    return pair


@contextlib.contextmanager
def slowed_pair_checks(delay: float) -> Iterator[None]:
    """Every `Verifier.pair` in this process costs `delay` more seconds of CPU while inside."""
    from lookalike.dedupe.verifier import Verifier

    original = Verifier.pair
    Verifier.pair = _slowed(original, delay)  # type: ignore[method-assign]
    try:
        yield
    finally:
        Verifier.pair = original  # type: ignore[method-assign]


def command(delay: float) -> list[str]:
    """The start of a command line running `lookalike` with pair checks slowed by `delay` seconds."""
    return [sys.executable, str(SCRIPT), str(delay)]


def main() -> None:
    from lookalike.dedupe.verifier import Verifier

    Verifier.pair = _slowed(Verifier.pair, float(sys.argv[1]))  # type: ignore[method-assign]
    sys.argv = ["lookalike", *sys.argv[2:]]
    from lookalike.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
