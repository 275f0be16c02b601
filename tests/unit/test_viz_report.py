"""Self-contained HTML reports: they parse, load nothing from elsewhere, embed one thumbnail per image
cell, show the command and date, escape file names, and sort."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import pattern_image
from viz_html import network_loads, parse

from lookalike.errors import LookalikeError
from lookalike.viz.charts import precision_curves
from lookalike.viz.report import duplicates_report, pairs_report, search_report, write_report


@pytest.fixture
def pictures(tmp_path: Path) -> list[Path]:
    paths = []
    for seed in range(5):
        path = tmp_path / f"p{seed} <&>.jpg"
        pattern_image(seed).save(path)
        paths.append(path)
    return paths


def jpeg_thumbnails(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [a["src"] for a in page.of("img") if a.get("src", "").startswith("data:image/jpeg;base64,")]


def test_search_report_is_self_contained(pictures: list[Path], tmp_path: Path) -> None:
    hits = [(p, 0.9 - i / 10) for i, p in enumerate(pictures[1:])]
    out = search_report(pictures[0], hits, tmp_path / "r.html", command="lookalike search q.jpg photos/",
                        relative_to=tmp_path)
    page = parse(out)
    assert network_loads(page) == []
    assert len(jpeg_thumbnails(page)) == len(hits) + 1  # the query and one per result
    assert len(page.of("tr")) == len(hits) + 1  # heading row + one per result
    text = out.read_text()
    assert "lookalike search q.jpg photos/" in text
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", text)
    assert '<div class="path">p1 &lt;&amp;&gt;.jpg</div>' in text and "p1 <&>.jpg" not in text  # relative, escaped
    assert 'class="sortable"' in text and "addEventListener(\"click\"" in text


def test_pairs_and_duplicates_reports(pictures: list[Path], tmp_path: Path) -> None:
    pairs = pairs_report([(pictures[0], pictures[1], 0.99), (pictures[2], pictures[3], 0.5)], tmp_path / "p.html")
    page = parse(pairs)
    assert len(jpeg_thumbnails(page)) == 4 and network_loads(page) == []
    assert [th for th in page.of("th")] and "0.9900" in pairs.read_text()
    groups = [[pictures[0], pictures[1]], [pictures[2], pictures[3], pictures[4]]]
    dups = duplicates_report(groups, tmp_path / "d.html", labels=[["keeper", "exact"], ["keeper", "0.97", "0.96"]])
    page = parse(dups)
    assert len(jpeg_thumbnails(page)) == 5
    assert "2 group(s), 5 image(s)." in dups.read_text()


def test_report_with_a_chart_and_plain_columns(tmp_path: Path) -> None:
    chart = precision_curves({"a": {"precision@1": 0.9, "precision@5": 0.7}, "b": {"precision@1": 0.5}},
                             tmp_path / "c.png")
    out = write_report(tmp_path / "eval.html", "Evaluation", ["model", "map"], [["a", 0.5], ["b", 0.25]],
                       figures=[chart], notes=["two models"])
    page = parse(out)
    assert [a["src"][:22] for a in page.of("img")] == ["data:image/png;base64,"]
    assert network_loads(page) == [] and "two models" in out.read_text()


def test_bad_arguments(pictures: list[Path], tmp_path: Path) -> None:
    with pytest.raises(LookalikeError, match="name ending in .html"):
        write_report(tmp_path / "r.pdf", "t", ["a"], [])
    with pytest.raises(LookalikeError, match="not among the columns"):
        write_report(tmp_path / "r.html", "t", ["a"], [[pictures[0]]], image_columns=["image"])
    with pytest.raises(LookalikeError, match="no precision@k"):
        precision_curves({"a": {"map": 0.3}}, tmp_path / "c.png")
