"""Snapshot tests of the command line: `--help` of every command, and the answers on
../shared/data/samples. Regenerate after an intended change with `make snapshots`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
REPO = Path(__file__).resolve().parents[2]
ENV = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb", "PYTHONIOENCODING": "utf-8", "HF_HUB_OFFLINE": "1"}


def _commands() -> list[str]:
    """Every command and sub-command of the CLI, as the words after `lookalike`."""
    import typer

    from lookalike.cli import app

    def walk(command: object, prefix: list[str]) -> list[str]:
        found = [" ".join(prefix)]
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            found += walk(sub, [*prefix, name])
        return found

    return walk(typer.main.get_command(app), [])


def run_cli(args: list[str], cwd: Path = REPO) -> str:
    env = dict(os.environ, **ENV)
    done = subprocess.run([sys.executable, "-m", "lookalike", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)
    return done.stdout + (f"[stderr]\n{done.stderr}" if done.stderr else "") + f"[exit {done.returncode}]\n"


def check(name: str, actual: str, update: bool) -> None:
    actual = re.sub(r"\bin \d+(\.\d+)? s\b", "in <seconds> s", actual)  # timings vary run to run
    target = SNAPSHOTS / name
    if update:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(actual)
        return
    assert target.exists(), f"no snapshot {target.relative_to(REPO)}: run `make snapshots`"
    assert actual == target.read_text(), f"{name} changed: review, then run `make snapshots`"


@pytest.mark.parametrize("command", _commands())
def test_help(command: str, update_snapshots: bool) -> None:
    words = command.split()
    check(f"help/{'-'.join(words) or 'lookalike'}.txt", run_cli([*words, "--help"]), update_snapshots)


SAMPLE_RUNS = {
    "pairs": ["pairs", "{samples}/Images", "-m", "efficientnet-lite0", "--precision", "fp32",
              "--top", "3", "-q"],
    "search": ["search", "{samples}/Query_Image.jpg", "{samples}", "-m", "efficientnet-lite0",
               "--precision", "fp32", "-k", "3", "-q", "-f", "json"],
    "compare": ["compare", "{samples}/Images/Dog_2.jpg", "{samples}/Images/Dog_3.jpg", "-m", "efficientnet-lite0",
                "--precision", "fp32"],
    "duplicates": ["duplicates", "{samples}/Images", "-m", "efficientnet-lite0", "--precision", "fp32",
                   "--threshold", "0.6", "-q", "-f", "csv"],
    "search-bad-threshold": ["search", "{samples}/Query_Image.jpg", "{samples}", "--precision", "fp32",
                             "--threshold", "2"],
}


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(SAMPLE_RUNS))
def test_outputs_on_samples(name: str, shared_data: Path, update_snapshots: bool, tmp_path: Path) -> None:
    """Run from a scratch copy's parent, so the printed paths are the same on every machine."""
    (tmp_path / "samples").symlink_to(shared_data / "samples")
    args = [a.format(samples="samples") for a in SAMPLE_RUNS[name]]
    check(f"samples/{name}.txt", run_cli(args, cwd=tmp_path), update_snapshots)
