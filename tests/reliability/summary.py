"""Reliability suite plumbing, a plugin that tests/conftest.py loads: counters of inputs tried and
faults injected, and the web section's figures (peak RSS, time to idle), printed as summary lines at
the end of the run (`make stress` and `make test` print them). Under pytest-xdist each worker hands its
counts to the controller, which adds them up and prints the lines once (the controller collects no
tests, so only a plugin loaded from the top conftest runs there)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

_COUNTS = pytest.StashKey["StressCounts"]()
_OUTPUT_KEY = "lookalike_stress"  # the worker's counts in xdist's workeroutput


@dataclass
class StressCounts:
    """What the suite tried: inputs (files, mutated byte strings, corrupted library files, uploads),
    faults, and what the web section measured (name -> number)."""

    inputs: int = 0
    faults: int = 0
    failures: int = 0
    web: dict[str, float] = field(default_factory=dict)

    def add(self, other: dict[str, Any]) -> None:
        self.inputs += int(other.get("inputs", 0))
        self.faults += int(other.get("faults", 0))
        self.web.update(other.get("web", {}))

    def lines(self) -> list[str]:
        found = []
        if self.inputs or self.faults:
            found.append(f"reliability summary: inputs tried {self.inputs}, faults injected {self.faults}, "
                         f"failures {self.failures}")
        web = self.web
        if web:
            found.append(f"web stress summary: {web['uploads']:.0f} concurrent 99.8 MP uploads: peak RSS "
                         f"{web['peak_mb']:.0f} MB (warm {web['baseline_mb']:.0f} MB, after {web['after_mb']:.0f} "
                         f"MB); abandoned work: idle {web['idle_s']:.1f} s after the clients left (job idle "
                         f"limit {web['job_idle_s']:g} s); SIGTERM under load: ended in {web['sigterm_s']:.1f} s")
        return found


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_COUNTS] = StressCounts()


@pytest.fixture
def stress(request: pytest.FixtureRequest) -> StressCounts:
    return request.config.stash[_COUNTS]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand the counts to the controller."""
    output = getattr(session.config, "workeroutput", None)
    counts = session.config.stash.get(_COUNTS, None)
    if output is not None and counts is not None:
        output[_OUTPUT_KEY] = asdict(counts)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the xdist controller: add a finished worker's counts."""
    counts = node.config.stash.get(_COUNTS, None)
    found = getattr(node, "workeroutput", {}).get(_OUTPUT_KEY)
    if counts is not None and found:
        counts.add(found)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    counts = config.stash.get(_COUNTS, None)
    if counts is None:
        return
    counts.failures = len(terminalreporter.stats.get("failed", [])) + len(terminalreporter.stats.get("error", []))


def pytest_unconfigure(config: pytest.Config) -> None:
    """The summary as the very last lines of the run (only once: not on xdist workers)."""
    counts = config.stash.get(_COUNTS, None)
    if counts is not None and not hasattr(config, "workeroutput"):
        for line in counts.lines():
            print(line, flush=True)
