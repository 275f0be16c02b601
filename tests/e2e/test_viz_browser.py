"""The HTML pictures in a real browser (Debian Chromium via Playwright), opened from disk: hovering a
map point shows its thumbnail, nothing is fetched from the network, and report tables sort."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_image

from lookalike.viz.maps import write_map
from lookalike.viz.report import pairs_report

POINT_ZERO = """() => {
  const gd = document.querySelector('.plotly-graph-div');
  const layout = gd._fullLayout, trace = gd._fullData[0], box = gd.getBoundingClientRect();
  return [box.left + layout.xaxis._offset + layout.xaxis.l2p(trace.x[0]),
          box.top + layout.yaxis._offset + layout.yaxis.l2p(trace.y[0]), trace.customdata[0]];
}"""


@pytest.fixture
def pictures(tmp_path: Path) -> list[Path]:
    paths = []
    for seed in range(12):
        path = tmp_path / "pics" / f"pic_{seed}.jpg"
        path.parent.mkdir(exist_ok=True)
        pattern_image(seed, (96, 64)).save(path)
        paths.append(path)
    return paths


def open_page(browser, url: str, requests: list[str]):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    page.on("request", lambda request: requests.append(request.url))
    page.goto(url)
    return page


def test_map_hover_shows_the_thumbnail(browser, pictures: list[Path], tmp_path: Path) -> None:
    vectors = np.random.default_rng(0).normal(size=(len(pictures), 24)).astype(np.float32)
    out = write_map(pictures, vectors, tmp_path / "map.html", clusters=3, title="browser check",
                    root=pictures[0].parent)
    requests: list[str] = []
    page = open_page(browser, out.as_uri(), requests)
    page.wait_for_function("() => { const gd = document.querySelector('.plotly-graph-div');"
                           " return gd && gd._fullLayout && gd._fullLayout.xaxis && gd._fullData.length > 0; }")
    x, y, index = page.evaluate(POINT_ZERO)
    assert not page.is_visible("#lookalike-tip")
    page.mouse.move(x - 40, y - 40)
    page.mouse.move(x, y, steps=6)
    page.wait_for_selector("#lookalike-tip img", state="visible", timeout=10_000)
    tip_text = page.inner_text("#lookalike-tip")
    assert tip_text.strip() == pictures[index].name
    source = page.get_attribute("#lookalike-tip img", "src") or ""
    assert source.startswith("data:image/jpeg;base64,")
    size = page.evaluate("() => { const i = document.querySelector('#lookalike-tip img');"
                         " return [i.naturalWidth, i.naturalHeight]; }")
    assert size == [128, 85]  # the thumbnail decoded: 96x64 scaled to fit 128
    page.screenshot(path=str(tmp_path / "map-hover.png"))
    assert (tmp_path / "map-hover.png").stat().st_size > 10_000
    page.mouse.move(5, 5)
    page.wait_for_selector("#lookalike-tip", state="hidden", timeout=5_000)
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []


def test_report_table_sorts_by_score(browser, pictures: list[Path], tmp_path: Path) -> None:
    pairs = [(pictures[0], pictures[1], 0.5), (pictures[2], pictures[3], 0.9), (pictures[4], pictures[5], 0.7)]
    out = pairs_report(pairs, tmp_path / "pairs.html")
    requests: list[str] = []
    page = open_page(browser, out.as_uri(), requests)
    scores = "() => Array.from(document.querySelectorAll('tbody tr td:last-child')).map(c => c.textContent)"
    assert page.evaluate(scores) == ["0.5000", "0.9000", "0.7000"]
    page.click("th:has-text('score')")
    assert page.evaluate(scores) == ["0.5000", "0.7000", "0.9000"]
    page.click("th:has-text('score')")
    assert page.evaluate(scores) == ["0.9000", "0.7000", "0.5000"]
    loaded = page.evaluate("() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert loaded and [u for u in requests if not u.startswith(("file:", "data:"))] == []
