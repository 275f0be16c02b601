"""The page in a real browser (Debian's Chromium through Playwright) against `lookalike serve`:
upload the sample query, see Dog_2 first, open the side-by-side view, see Dog_2/Dog_3 as the top pair."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
from web_server import running_server  # noqa: E402

pytestmark = pytest.mark.shared_data
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def served_samples(shared_data: Path, tmp_path: Path, effnet) -> Path:  # type: ignore[no-untyped-def]
    from lookalike.store import Library

    folder = tmp_path / "photos"
    folder.mkdir()
    for image in sorted((shared_data / "samples" / "Images").glob("*.jpg")):
        shutil.copy(image, folder / image.name)
    with Library.open(folder, model=effnet, create=True) as library:
        assert library.sync().added == 6
    return folder


def test_upload_results_side_by_side_and_pairs(browser, served_samples: Path, shared_data: Path,  # type: ignore[no-untyped-def]
                                               tmp_path: Path, update_snapshots: bool) -> None:
    with running_server([str(served_samples)], tmp_path / "serve.log") as base:
        # bypass_csp: Playwright evaluates its wait predicates as strings, which the page's CSP forbids
        page = browser.new_page(viewport={"width": 1180, "height": 820}, bypass_csp=True)
        try:
            page.goto(base + "/")
            page.wait_for_function("document.getElementById('stats').textContent.includes('6 images')")
            page.set_input_files("#file", str(shared_data / "samples" / "Query_Image.jpg"))
            page.wait_for_selector("#results li .card img[src]")
            cards = page.locator("#results .card")
            assert cards.count() == 6
            assert cards.first.get_attribute("data-path") == "Dog_2.jpg"
            assert re.fullmatch(r"0\.8\d\d", cards.first.locator(".score").inner_text())
            assert "similarity" in (cards.first.get_attribute("aria-label") or "")
            page.wait_for_function("[...document.querySelectorAll('#results img')].every(i => i.complete)")
            page.screenshot(path=str(tmp_path / "results.png"), full_page=True)
            if update_snapshots:  # `make snapshots` refreshes the README's screenshot; a test run leaves it
                shutil.copy(tmp_path / "results.png", REPO / "docs" / "web.png")

            cards.first.click()
            viewer = page.locator("#viewer")
            viewer.wait_for(state="visible")
            assert page.locator("#viewer-b-caption").inner_text() == "Dog_2.jpg"
            assert page.locator("#viewer-a-caption").inner_text() == "your photo"
            assert float(page.locator("#viewer-score").inner_text()) == pytest.approx(0.82, abs=0.03)
            page.wait_for_function("document.getElementById('viewer-b').complete")
            page.screenshot(path=str(tmp_path / "side-by-side.png"))
            page.keyboard.press("Escape")
            viewer.wait_for(state="hidden")

            page.focus("#tab-search")
            page.keyboard.press("ArrowRight")  # tabs are keyboard usable
            assert page.get_attribute("#tab-pairs", "aria-selected") == "true"
            page.wait_for_selector("#pairs li")
            first_pair = page.locator("#pairs li").first
            names = sorted(first_pair.locator(".card").evaluate_all("cards => cards.map(c => c.dataset.path)"))
            assert names == ["Dog_2.jpg", "Dog_3.jpg"]
            page.screenshot(path=str(tmp_path / "pairs.png"))

            # duplicates: calibrated by default (two dog photos are no copies); "also similar" lists them
            page.get_by_role("tab", name="Duplicates").click()
            page.click("#duplicates-form button[type=submit]")
            page.wait_for_function("document.getElementById('duplicates-status').textContent.includes('0 groups')")
            assert "efficientnet-lite0 calibration" in page.inner_text("#duplicates-status")
            assert page.is_hidden("#dup-cancel")  # the job (POST, then polls) is over: nothing to cancel
            page.check("#dup-similar")
            page.click("#duplicates-form button[type=submit]")
            page.wait_for_selector("#duplicates li .card")
            dogs = page.get_by_role("listitem", name=re.compile(r"^Group \d+, similar, 2 images"))
            assert dogs.count() == 1
            assert dogs.locator(".card.keeper").count() == 1
            assert "similar" in dogs.locator(".card .score").first.inner_text()

            # labelled for screen readers: results and tabs are found by role and name
            page.get_by_role("tab", name="Search").click()
            assert page.get_by_role("button", name=re.compile(r"^Dog_2\.jpg, similarity 0\.8")).count() == 1
            assert page.get_by_role("list", name="Results, most similar first").count() == 1
            # phone width: nothing runs off the side
            page.set_viewport_size({"width": 375, "height": 740})
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
            page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        finally:
            page.close()


def test_api_docs_render_with_no_other_host_reachable(browser, served_samples: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """/docs and /redoc draw the API from files this server serves: every request to another host is
    cut off (as offline), none is even tried, and the operations still appear."""
    with running_server([str(served_samples)], tmp_path / "serve.log") as base:
        page = browser.new_page()
        elsewhere: list[str] = []

        def only_this_server(route) -> None:  # type: ignore[no-untyped-def]
            if route.request.url.startswith(base + "/"):
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        try:
            page.route("**/*", only_this_server)
            page.goto(base + "/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=30_000)
            shown = page.locator(".opblock-summary-path").all_inner_texts()
            assert "/api/images/{image_id}/similar" in shown and len(shown) == 17  # jobs, review
            page.goto(base + "/redoc")
            # polled from here, not wait_for_function: the page's CSP forbids evaluating strings (no unsafe-eval)
            deadline = time.monotonic() + 30
            while "Similarity of two images" not in page.content() and time.monotonic() < deadline:
                page.wait_for_timeout(250)
            assert "Similarity of two images" in page.content()
            assert elsewhere == []
        finally:
            page.close()
