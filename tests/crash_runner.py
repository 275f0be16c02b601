"""Runs one `Library.sync` with a checkpoint hook that announces each durable step on stderr and
pauses there, so a test can SIGKILL the process at a known point:

    python tests/crash_runner.py FOLDER MODEL BATCH PAUSE_SECONDS
"""

from __future__ import annotations

import sys
import time

from lookalike.pipeline import PipelineOptions
from lookalike.store import Library


def announce(pause: float):  # type: ignore[no-untyped-def]
    def checkpoint(name: str) -> None:
        print(f"lookalike-checkpoint {name}", file=sys.stderr, flush=True)
        time.sleep(pause)

    return checkpoint


def main() -> None:
    folder, model, batch, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    with Library.open(folder, model=model, create=True, precision="fp32") as library:
        library.sync(options=PipelineOptions(batch_size=batch), checkpoint=announce(pause))


if __name__ == "__main__":
    main()
