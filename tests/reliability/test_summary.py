"""The summary lines are printed once at the end of a run, also when pytest-xdist spreads the tests
over worker processes: the controller, which collects no tests (so no conftest below the top one),
adds up what each worker counted. A run of two small test files, as tests/conftest.py wires it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("xdist")
TESTS = Path(__file__).resolve().parents[1]
COUNTING = '''
def test_{name}(stress):
    stress.inputs += {inputs}
    stress.faults += 1
    stress.web.update(uploads=16, peak_mb=1000, baseline_mb=800, after_mb=850, idle_s=31.5, job_idle_s=30,
                      sigterm_s=3.2)
'''


def test_the_summary_lines_are_printed_once_under_xdist(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ("reliability.summary",)\n')
    (tmp_path / "suite").mkdir()
    for name, inputs in (("a", 3), ("b", 4)):
        (tmp_path / "suite" / f"test_{name}.py").write_text(COUNTING.format(name=name, inputs=inputs))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist",
                           "loadfile", "suite"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), *sys.path])))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines.count("reliability summary: inputs tried 7, faults injected 2, failures 0") == 1, done.stdout
    web = [line for line in lines if line.startswith("web stress summary:")]
    assert web == ["web stress summary: 16 concurrent 99.8 MP uploads: peak RSS 1000 MB (warm 800 MB, after 850 MB); "
                   "abandoned work: idle 31.5 s after the clients left (job idle limit 30 s); SIGTERM under load: "
                   "ended in 3.2 s"], done.stdout
