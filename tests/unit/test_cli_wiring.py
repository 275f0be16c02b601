"""Every command goes through the service: each CLI command, run in-process, calls its verb on a
`Lookalike` that records the calls (a subclass of the real one, so the answers stay real)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import lookalike.service
from lookalike.cli import app

MODEL = "histogram"


class Recording(lookalike.service.Lookalike):
    calls: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        found = super().__getattribute__(name)
        if callable(found) and not name.startswith("_") and name in VERBS:
            Recording.calls.append(name)
        return found


VERBS = {"compare", "search", "pairs", "match", "duplicates", "index", "status", "export", "import_vectors",
         "remove", "distinct", "distinct_group", "calibrate", "models", "map", "undo", "evaluate", "bench_index",
         "train", "plan_actions", "apply_actions", "embed_files", "clusters", "outliers", "formats"}


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(lookalike.service, "Lookalike", Recording)
    Recording.calls = []
    return Recording.calls


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_each_command_calls_its_verb(recorded: list[str], image_folder: Path, tmp_path: Path) -> None:
    first, second = image_folder / "a" / "img_0.jpg", image_folder / "b" / "img_4.jpg"
    expected = [
        (["compare", str(first), str(second), "-m", MODEL], "compare"),
        (["search", str(first), str(image_folder), "-m", MODEL, "-q"], "search"),
        (["pairs", str(image_folder), "-m", MODEL, "-q"], "pairs"),
        (["match", str(image_folder / "a"), str(image_folder / "b"), "-m", MODEL, "-q"], "match"),
        (["duplicates", str(image_folder), "-m", MODEL, "-q"], "duplicates"),
        (["map", str(image_folder), "-m", MODEL, "--out", str(tmp_path / "map.png"), "-q"], "map"),
        (["index", str(image_folder), "-m", MODEL, "-q"], "index"),
        (["status", str(image_folder)], "status"),
        (["search", str(first), "--library", str(image_folder / ".lookalike"), "-q"], "search"),
        (["export", str(tmp_path / "out.parquet"), str(image_folder)], "export"),
        (["import", str(tmp_path / "out.parquet"), "--library", str(tmp_path / "copy")], "import_vectors"),
        (["distinct", str(first), str(second)], "distinct"),
        (["duplicates", "--library", str(image_folder / ".lookalike"), "-q"], "duplicates"),
        (["remove", str(first), "--folder", str(image_folder)], "remove"),
        (["models"], "models"),
        (["formats"], "formats"),
        (["embed", str(image_folder), "-m", MODEL, "--out", str(tmp_path / "v.parquet"), "-q"], "embed_files"),
        (["clusters", str(image_folder), "-m", MODEL, "--min-size", "2", "-q"], "clusters"),
        (["outliers", str(image_folder), "-m", MODEL, "-k", "2", "-q"], "outliers"),
    ]
    for args, verb in expected:
        before = len(recorded)
        _run(*args)
        assert verb in recorded[before:], (args, recorded[before:])


def test_calibrate_goes_through_the_service(recorded: list[str], image_folder: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    with open(pairs, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "label"])
        writer.writerow([image_folder / "a" / "img_0.jpg", image_folder / "a" / "img_0.jpg", "same"])
        writer.writerow([image_folder / "a" / "img_0.jpg", image_folder / "b" / "img_4.jpg", "different"])
    _run("calibrate", str(pairs), "-m", MODEL)
    assert recorded == ["calibrate"]
