"""The README is a promise: every ```console block is run as written (in a scratch directory beside
../shared, so its relative paths work) and what the program prints must be what the README shows.
Timing columns (`seconds`, `images_per_s`) are compared by position only. `make snapshots` rewrites
the blocks from what the program prints now."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
VOLATILE = {"seconds", "images_per_s"}
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


@dataclass
class Step:
    command: list[str]  # the lines as written (continuations included)
    output: list[str] = field(default_factory=list)


def parse(block: str) -> list[Step]:
    steps: list[Step] = []
    continuing = False
    for line in block.splitlines():
        if line.startswith("$ ") or continuing:
            if not continuing:
                steps.append(Step([line]))
            else:
                steps[-1].command.append(line)
            continuing = line.endswith("\\")
        elif steps:
            steps[-1].output.append(line)
    return steps


def _same(expected: list[list[str]], actual: list[list[str]]) -> bool:
    """Rows equal word by word, numbers included: the blocks pin `--precision fp32`, so every CPU
    prints the same digits."""
    return expected == actual


def normalise(lines: list[str]) -> list[list[str]]:
    """Whitespace-insensitive rows; values under a volatile column header become '#'."""
    rows, masked = [], set()
    for line in lines:
        words = line.split()
        if VOLATILE & set(words):
            masked = {i for i, w in enumerate(words) if w in VOLATILE}
        elif not words:
            masked = set()
        elif masked:
            words = ["#" if i in masked else w for i, w in enumerate(words)]
        rows.append(words)
    while rows and not rows[-1]:
        rows.pop()
    return rows


def run_block(steps: list[Step], workdir: Path) -> list[list[str]]:
    env = dict(os.environ, COLUMNS="100", NO_COLOR="1", HF_HUB_OFFLINE="1", PYTHONIOENCODING="utf-8",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    outputs = []
    for step in steps:
        command = "\n".join(step.command)[2:]
        done = subprocess.run(["bash", "-c", command + " 2>&1"], capture_output=True, text=True, cwd=workdir,
                              env=env, timeout=900)
        outputs.append(done.stdout.rstrip("\n").splitlines())
    return outputs


def blocks() -> list[str]:
    return BLOCK.findall(README.read_text())


@pytest.mark.shared_data
@pytest.mark.parametrize("number", range(len(blocks())))
def test_console_block(number: int, shared_data: Path, tmp_path: Path, update_snapshots: bool) -> None:
    (tmp_path / "shared").symlink_to(shared_data.parent)
    workdir = tmp_path / "work"
    workdir.mkdir()
    block = blocks()[number]
    steps = parse(block)
    outputs = run_block(steps, workdir)
    if update_snapshots:
        text = README.read_text()
        rebuilt = "".join("\n".join([*s.command, *o]) + "\n" + ("\n" if i < len(steps) - 1 else "")
                          for i, (s, o) in enumerate(zip(steps, outputs, strict=True)))
        README.write_text(text.replace(f"```console\n{block}```", f"```console\n{rebuilt}```", 1))
        return
    for step, output in zip(steps, outputs, strict=True):
        assert _same(normalise(step.output), normalise(output)), (
            f"README block {number}, `{step.command[0]}` prints:\n" + "\n".join(output) + "\n(run `make snapshots`)")


PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def python_blocks() -> list[str]:
    return PYTHON_BLOCK.findall(README.read_text())


@pytest.mark.shared_data
@pytest.mark.parametrize("number", range(len(python_blocks())))
def test_python_block_runs(number: int, shared_data: Path, tmp_path: Path) -> None:
    """Each ```python block runs as written in a folder holding `photos/` (the sample images) and
    `query.jpg`, as the README says."""
    import shutil

    (tmp_path / "shared").symlink_to(shared_data.parent)
    workdir = tmp_path / "work"
    shutil.copytree(shared_data / "samples" / "Images", workdir / "photos")
    shutil.copy(shared_data / "samples" / "Query_Image.jpg", workdir / "query.jpg")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", python_blocks()[number]], capture_output=True, text=True,
                          cwd=workdir, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
