"""Reliability suite plumbing: counters of inputs tried and faults injected, printed as one summary
line at the end of the run (`make stress` prints it)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

_COUNTS = pytest.StashKey["StressCounts"]()


@dataclass
class StressCounts:
    """What the suite tried: inputs (files, mutated byte strings, corrupted library files) and faults."""

    inputs: int = 0
    faults: int = 0
    failures: int = 0


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_COUNTS] = StressCounts()


@pytest.fixture
def stress(request: pytest.FixtureRequest) -> StressCounts:
    return request.config.stash[_COUNTS]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    counts = config.stash.get(_COUNTS, None)
    if counts is None or (counts.inputs == 0 and counts.faults == 0):
        return
    counts.failures = len(terminalreporter.stats.get("failed", [])) + len(terminalreporter.stats.get("error", []))


def pytest_unconfigure(config: pytest.Config) -> None:
    """The summary as the very last line of the run."""
    counts = config.stash.get(_COUNTS, None)
    if counts is not None and (counts.inputs or counts.faults):
        print(f"reliability summary: inputs tried {counts.inputs}, faults injected {counts.faults}, "
              f"failures {counts.failures}", flush=True)
