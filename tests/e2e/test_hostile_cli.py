"""Issue 19's CLI findings end to end, in a subprocess, with the classical histogram model (no torch):
labels that cannot be drawn as they are, partial undo logs, symlinked group members."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import pattern_image
from conftest import run_cli as run
from PIL import Image


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink() and ".lookalike" not in p.parts}


@pytest.fixture
def copies(tmp_path: Path) -> Path:
    """Four pictures, each with an exact copy in sub/ (four groups of two)."""
    root = tmp_path / "copies"
    (root / "sub").mkdir(parents=True)
    for seed in range(4):
        pattern_image(seed, (96, 72)).save(root / f"img_{seed}.png")
        (root / "sub" / f"img_{seed}.png").write_bytes((root / f"img_{seed}.png").read_bytes())
    return root


def test_grid_and_report_draw_a_file_name_with_a_newline(tmp_path: Path) -> None:
    root = tmp_path / "odd"
    root.mkdir()
    pattern_image(1, (96, 72)).save(root / "a.png")
    (root / "b\nc.png").write_bytes((root / "a.png").read_bytes())
    (root / ("long" * 60 + ".png")).write_bytes((root / "a.png").read_bytes())
    grid, report = tmp_path / "g.png", tmp_path / "r.html"
    done = run("duplicates", str(root), "-m", "histogram", "--grid", str(grid), "--report", str(report))
    assert Image.open(grid).size[0] > 0
    assert "b\\nc.png" in done.stdout
    assert "Duplicate groups" in report.read_text()
    assert f"wrote {report}" in done.stderr and f"wrote {grid}" in done.stderr
    report.unlink()
    blocked = tmp_path / "blocked.png"
    blocked.mkdir()  # the grid cannot be written there, the report still is
    failed = run("duplicates", str(root), "-m", "histogram", "--grid", str(blocked), "--report", str(report),
                 check=False)
    assert failed.returncode != 0 and "Duplicate groups" in report.read_text()
    assert failed.stderr.strip().splitlines()[-1].startswith("error:")
