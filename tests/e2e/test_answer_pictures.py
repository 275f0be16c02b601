"""`--grid` and `--report` on pairs, match and duplicates, through the command line: the PNGs open
and hold one tile per image of the answer; the reports load nothing from the network and embed one
thumbnail per image cell."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import pattern_image
from PIL import Image
from viz_html import Collected

MODEL = "histogram"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "lookalike", *args, "-m", MODEL, "-q"], capture_output=True,
                          text=True, cwd=cwd, timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert done.returncode == 0, done.stderr
    return done


def _report_images(path: Path) -> list[dict[str, str]]:
    parsed = Collected()
    parsed.feed(path.read_text())
    for tag in ("script", "link", "img", "iframe"):
        for attrs in parsed.of(tag):
            for key in ("src", "href"):
                assert not attrs.get(key, "").startswith(("http:", "https:", "//")), attrs
    return [attrs for attrs in parsed.of("img") if attrs.get("src", "").startswith("data:image/jpeg")]


def test_pairs_match_and_duplicates_draw_their_answers(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for seed in range(5):
        pattern_image(seed, (90, 60)).save(photos / f"img_{seed}.png")
    shutil.copy(photos / "img_0.png", photos / "copy_of_0.png")  # an exact duplicate
    pairs = json.loads(run("pairs", "photos", "--top", "3", "-f", "json", "--grid", "pairs.png", "--report",
                           "pairs.html", cwd=tmp_path).stdout)
    assert len(pairs) == 3 and Image.open(tmp_path / "pairs.png").size[0] > 0
    assert len(_report_images(tmp_path / "pairs.html")) == 2 * len(pairs)  # a and b of every row
    matches = json.loads(run("match", "photos", "photos", "-k", "2", "-f", "json", "--grid", "match.png",
                             "--report", "match.html", cwd=tmp_path).stdout)
    assert len(matches) == 12
    assert len(_report_images(tmp_path / "match.html")) == 2 * len(matches)
    pages = list(tmp_path.glob("match*.png"))  # 6 rows of A at 5 rows a page: two pages
    assert {p.name for p in pages} == {"match.png", "match-2.png"} and all(Image.open(p).width > 0 for p in pages)
    groups = json.loads(run("duplicates", "photos", "-f", "json", "--grid", "dup.png", "--report", "dup.html",
                            cwd=tmp_path).stdout)
    assert {row["path"] for row in groups} == {"photos/img_0.png", "photos/copy_of_0.png"}
    assert {row["kind"] for row in groups} == {"exact"}
    assert len(_report_images(tmp_path / "dup.html")) == 2
    assert "keeper" in (tmp_path / "dup.html").read_text()
    one_row = Image.open(tmp_path / "dup.png")
    assert one_row.width > one_row.height  # one group: one row of two tiles


def test_wrong_picture_names_are_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    pattern_image(1).save(tmp_path / "photos" / "a.png")
    done = subprocess.run([sys.executable, "-m", "lookalike", "pairs", "photos", "--grid", "pairs.jpg"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("error: --grid pairs.jpg")
    assert done.stderr.count("\n") == 1 and not (tmp_path / "photos" / ".lookalike").exists()
