"""The `lookalike` command end to end, in a subprocess, on generated images."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from conftest import pattern_image
from conftest import run_cli as run


@pytest.fixture
def folder(image_folder: Path) -> Path:
    (image_folder / "broken.jpg").write_text("not an image")
    return image_folder


def test_pairs_json_csv_table(folder: Path, tiny_siglip_dir: Path) -> None:
    model = str(tiny_siglip_dir)
    as_json = json.loads(run("pairs", str(folder), "-m", model, "--top", "3", "-f", "json").stdout)
    assert len(as_json) == 3 and set(as_json[0]) == {"a", "b", "score"}
    assert [r["score"] for r in as_json] == sorted((r["score"] for r in as_json), reverse=True)
    as_csv = list(csv.DictReader(io.StringIO(run("pairs", str(folder), "-m", model, "--top", "3",
                                                 "-f", "csv").stdout)))
    assert [(r["a"], r["b"]) for r in as_csv] == [(r["a"], r["b"]) for r in as_json]
    table = run("pairs", str(folder), "-m", model).stdout.splitlines()
    assert table[0].split() == ["a", "b", "score"] and len(table) == 2


def test_pairs_all_lists_every_pair_and_reports_skips(folder: Path, tiny_siglip_dir: Path) -> None:
    done = run("pairs", str(folder), "-m", str(tiny_siglip_dir), "--all", "-f", "json")
    assert len(json.loads(done.stdout)) == 15  # 6 good images
    assert "broken.jpg: not an image" in done.stderr
    assert "1 file(s) skipped" in done.stderr


def test_search_excludes_query_and_text_search(folder: Path, tiny_siglip_dir: Path) -> None:
    query = folder / "a" / "img_1.jpg"
    hits = json.loads(run("search", str(query), str(folder), "-m", str(tiny_siglip_dir), "-k", "3",
                          "-f", "json").stdout)
    assert len(hits) == 3 and all(h["path"] != str(query) for h in hits)
    text_hits = json.loads(run("search", "--text", "a red car", str(folder), "-m", str(tiny_siglip_dir),
                               "-k", "2", "-f", "json").stdout)
    assert len(text_hits) == 2 and -1 <= text_hits[0]["score"] <= 1


def test_compare_and_side_by_side(folder: Path, tiny_siglip_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "pair.png"
    done = run("compare", str(folder / "a" / "img_0.jpg"), str(folder / "a" / "img_0.jpg"),
               "-m", str(tiny_siglip_dir), "--show", str(out), "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert float(rows[0]["score"]) == pytest.approx(1.0, abs=1e-3)
    assert out.stat().st_size > 1000 and out.read_bytes()[:4] == b"\x89PNG"


def test_duplicates_groups_a_copy(folder: Path, tiny_siglip_dir: Path) -> None:
    pattern_image(2).save(folder / "b" / "copy_of_2.png")
    groups = json.loads(run("duplicates", str(folder), "-m", str(tiny_siglip_dir), "--threshold", "0.99",
                            "-f", "json").stdout)
    assert {Path(g["path"]).name for g in groups} == {"img_2.jpg", "copy_of_2.png"}


def test_errors_are_one_line_with_exit_code_1(folder: Path, tiny_siglip_dir: Path) -> None:
    unknown = run("pairs", str(folder), "-m", "nope", check=False)
    assert unknown.returncode == 1 and unknown.stderr.startswith("error: unknown model 'nope'")
    assert "Traceback" not in unknown.stderr
    missing = run("pairs", str(folder / "nowhere"), "-m", str(tiny_siglip_dir), check=False)
    assert missing.returncode == 1 and "no such file or folder" in missing.stderr
    text_only = run("search", str(folder / "a" / "img_0.jpg"), str(folder), "-m", "efficientnet-lite0",
                    "--text", "a dog", check=False)
    assert text_only.returncode == 1 and "no text tower" in text_only.stderr


def test_models_lists_offline_model() -> None:
    rows = json.loads(run("models", "-f", "json").stdout)
    by_name = {row["name"]: row for row in rows}
    assert by_name["efficientnet-lite0"]["offline"] == "yes" and by_name["efficientnet-lite0"]["dim"] == 1280
    assert by_name["siglip-base"]["text"] == "yes"
