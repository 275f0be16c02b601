"""The page in Debian's Chromium (Playwright, under the page's own CSP) against a real uvicorn on
loopback, over a library with an edited copy of Dog_2 (long name, in a folder), a cropped copy of
Cat_1 and a tiny picture: failed uploads, paging, whole names, the URL as state (reload, back),
threshold, search by a library image, the viewer (natural size, dark-mode contrast, originals with a
token), clusters, outliers, compare, duplicate groups shown as they are found (provisional, then the
final ones), and duplicate review whose decisions outlive a reload; plus the review endpoints over
httpx. Screenshots are written to a temporary folder and checked not blank."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageStat

pytest.importorskip("fastapi")
pytest.importorskip("cv2")
pytest.importorskip("playwright")
from page_library import CAT_COPY, COUNT, LONG_NAME, LONG_PATH, TINY, TINY_SIZE, make_page_library  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402
from web_server import PausedDuplicates, indexed_service, serving  # noqa: E402

from lookalike.web.app import create_app  # noqa: E402

pytestmark = pytest.mark.shared_data
TOKEN = "page-s3cret"


@pytest.fixture(scope="module")
def folder(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_page_library(shared_data, tmp_path_factory.mktemp("page") / "photos")


@pytest.fixture(scope="module")
def service(folder: Path) -> Iterator[tuple[Any, Any]]:
    with indexed_service(folder) as pair:
        yield pair


def ids(service: tuple[Any, Any]) -> dict[str, int]:
    """Catalog id of every file, by its path relative to the folder (fresh: a restored file gets a new id)."""
    snap = service[1].snapshot()
    root = service[1].root
    return {path.relative_to(root).as_posix(): int(i) for path, i in zip(snap.paths, snap.ids, strict=True)}


def new_page(browser: Any, errors: list[str], **options: Any) -> Page:
    """A page under the server's CSP (no bypass) whose console errors are collected."""
    page = browser.new_page(viewport={"width": 1180, "height": 820}, **options)
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: errors.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    return page


def wait_until(page: Page, script: str, seconds: float = 30.0) -> None:
    """Poll `script` (a JavaScript function) until it returns true: Playwright's wait_for_function
    evaluates strings inside the page, which the page's CSP forbids (no unsafe-eval)."""
    deadline = time.monotonic() + seconds
    while not _evaluated(page, script):
        assert time.monotonic() < deadline, f"timed out waiting for {script}"
        page.wait_for_timeout(100)


def _evaluated(page: Page, script: str) -> bool:
    """The script's answer, or False while the page is between two documents (a new tab that opens
    about:blank first and then its blob: URL destroys the context an evaluation runs in)."""
    from playwright.sync_api import Error

    try:
        return bool(page.evaluate(script))
    except Error as exc:
        if "context was destroyed" in str(exc) or "navigat" in str(exc):
            return False
        raise


def not_blank(path: Path) -> None:
    """A screenshot that shows something: many distinct colours and real contrast."""
    with Image.open(path) as shot:
        grey = shot.convert("L")
        low, high = grey.getextrema()
        assert high - low > 100 and ImageStat.Stat(grey).stddev[0] > 10, f"{path.name} looks blank"
        assert len(shot.convert("RGB").getcolors(1 << 20) or []) > 200, f"{path.name} has too few colours"


def luminance(css: str) -> float:
    channels = [int(v) / 255 for v in re.findall(r"\d+(?:\.\d+)?", css)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two CSS rgb() colours."""
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_search_page_uploads_paging_names_url_state_and_viewer(browser, service, shared_data: Path,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path) -> None:
    errors: list[str] = []
    with serving(create_app(*service)) as base:
        page = new_page(browser, errors)
        try:
            page.goto(base + "/")
            expect(page.locator("#stats")).to_contain_text(f"{COUNT} images")
            results = page.locator("#results li")

            # an upload, then one the server cannot read: the old results and the broken preview go
            page.select_option("#k", "6")
            page.set_input_files("#file", str(shared_data / "samples" / "Query_Image.jpg"))
            expect(results).to_have_count(6)
            page.set_input_files("#file", files=[{"name": "broken.jpg", "mimeType": "image/jpeg",
                                                  "buffer": b"this is no picture"}])
            expect(page.locator("#search-status.error")).to_contain_text("image")
            expect(results).to_have_count(0)
            expect(page.locator("#query-preview")).to_be_hidden()
            expect(page.locator("#drop-text")).to_contain_text("broken.jpg cannot be shown")
            errors.clear()  # the browser logs the refused upload (400) and the undecodable preview

            # paging: 6, then all 9 with "Show more" (the URL keeps how many)
            page.set_input_files("#file", str(shared_data / "samples" / "Query_Image.jpg"))
            expect(results).to_have_count(6)
            expect(page.locator("#search-status")).not_to_have_class(re.compile("error"))
            page.click("#more-button")
            expect(results).to_have_count(COUNT)
            expect(page).to_have_url(re.compile(r"#/search\?k=12$"))
            expect(page.locator("#more-button")).to_be_hidden()

            # whole names: two lines, nothing cut, the folder below, the path on hover
            long_card = page.locator(f'#results .card[data-path="{LONG_PATH}"]')
            assert long_card.locator(".name").text_content() == LONG_NAME
            assert long_card.locator(".folder").text_content() == "holidays/2019/"
            assert long_card.get_attribute("title") == LONG_PATH
            scroll, client, line = long_card.locator(".name").evaluate(
                "n => [n.scrollHeight, n.clientHeight, parseFloat(getComputedStyle(n).lineHeight)]")
            assert scroll <= client + 1 and client >= 1.8 * line, (scroll, client, line)
            wait_until(page, "() => [...document.querySelectorAll('#results img')].every(i => i.complete)")
            page.screenshot(path=str(tmp_path / "results.png"), full_page=True)
            not_blank(tmp_path / "results.png")

            # "More like this": the drop zone shows the library photo, and the URL says which
            long_card.click()
            expect(page.locator("#viewer")).to_be_visible()
            page.click("#viewer-similar")
            expect(page).to_have_url(re.compile(rf"#/search\?k=12&id={ids(service)[LONG_PATH]}$"))
            expect(results).to_have_count(COUNT - 1)
            expect(results.first.locator(".card")).to_have_attribute("data-path", "Dog_2.jpg")
            expect(page.locator("#drop-text")).to_contain_text(LONG_PATH)
            expect(page.locator("#query-preview")).to_have_attribute("alt", f"Query photo: {LONG_PATH}")
            wait_until(page, "() => document.getElementById('query-preview').naturalWidth > 0")

            # back: the uploaded photo's search again; forward; a reload of the deep link
            page.go_back()
            expect(page).to_have_url(re.compile(r"#/search\?k=12$"))
            expect(page.locator("#query-preview")).to_have_attribute("alt", "Query photo: Query_Image.jpg")
            expect(results).to_have_count(COUNT)
            page.go_forward()
            expect(page.locator("#drop-text")).to_contain_text(LONG_PATH)
            page.reload()
            expect(results).to_have_count(COUNT - 1)
            expect(results.first.locator(".card")).to_have_attribute("data-path", "Dog_2.jpg")

            # threshold: kept in the URL, and a reload keeps it
            page.fill("#threshold", "0.5")
            page.click("#search-button")
            expect(page).to_have_url(re.compile(r"t=0\.5"))
            expect(page.locator("#search-status")).to_contain_text("scoring at least 0.5")
            scores = [float(s) for s in page.locator("#results .score").all_text_contents()]
            assert scores and min(scores) >= 0.5 and len(scores) < COUNT - 1
            page.reload()
            expect(page.locator("#threshold")).to_have_value("0.5")
            expect(results).to_have_count(len(scores))

            # search by a library image's id; the viewer shows a tiny photo at its natural size at most
            page.fill("#threshold", "")
            page.fill("#by-id", str(ids(service)["Dog_1.jpg"]))
            page.click("#search-button")
            expect(page.locator("#drop-text")).to_contain_text("library image")
            expect(results).to_have_count(COUNT - 1)
            page.click(f'#results .card[data-path="{TINY}"]')
            wait_until(page, "() => document.getElementById('viewer-b').naturalWidth > 0")
            rendered, natural = page.locator("#viewer-b").evaluate(
                "i => [i.getBoundingClientRect().width, i.naturalWidth]")
            assert natural == TINY_SIZE[0] and rendered <= natural, (rendered, natural)

            # dark mode: "Open original" is readable (WCAG AA, 4.5:1) and shown
            page.emulate_media(color_scheme="dark")
            link = page.locator("#viewer-original")
            expect(link).to_be_visible()
            color, background = page.evaluate(
                "() => [getComputedStyle(document.getElementById('viewer-original')).color, "
                "getComputedStyle(document.getElementById('viewer')).backgroundColor]")
            assert contrast(color, background) >= 4.5, (color, background)
            page.screenshot(path=str(tmp_path / "viewer-dark.png"))
            not_blank(tmp_path / "viewer-dark.png")
            assert errors == []
        finally:
            page.close()


def test_a_wrong_token_says_so_and_originals_open_with_the_token(browser, service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    errors: list[str] = []
    with serving(create_app(*service, token=TOKEN)) as base:
        page = new_page(browser, errors)
        try:
            page.goto(base + f"/#/search?id={ids(service)['Dog_2.jpg']}")
            expect(page.locator("#token-dialog")).to_be_visible()
            expect(page.locator("#token-error")).to_have_text("This server needs a token.")
            page.evaluate("() => localStorage.setItem('lookalike-token', 'not-the-token')")
            page.reload()
            expect(page.locator("#token-error")).to_contain_text("refused this token")
            page.screenshot(path=str(tmp_path / "wrong-token.png"))
            not_blank(tmp_path / "wrong-token.png")
            page.fill("#token-input", TOKEN)
            page.click("#token-form button[type=submit]")
            expect(page.locator("#stats")).to_contain_text(f"{COUNT} images")
            expect(page.locator("#results li")).to_have_count(COUNT - 1)
            assert [e for e in errors if "401" not in e] == []  # only the refused tokens

            page.locator("#results .card").first.click()
            expect(page.locator("#viewer-original")).to_be_visible()
            with page.expect_popup() as opened:
                page.click("#viewer-original")
            tab = opened.value
            tab.wait_for_url(lambda url: url.startswith("blob:"))
            wait_until(tab, "() => document.images.length > 0 && document.images[0].naturalWidth > 0")
            assert tab.url.startswith("blob:") and TOKEN not in tab.url
            tab.close()
        finally:
            page.close()


def test_clusters_outliers_and_compare_views(browser, service, shared_data: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built, library = service
    clusters = built.clusters(library, 2)
    unusual = built.outliers(library, 3, 3)
    known = ids(service)
    errors: list[str] = []
    with serving(create_app(*service)) as base:
        page = new_page(browser, errors)
        try:
            page.goto(base + "/#/clusters?min_size=2")
            shown = page.locator("#clusters li")
            expect(page.locator("#clusters-status")).to_contain_text("clusters of", timeout=60_000)
            expect(shown).to_have_count(len(clusters.clusters))
            for item, cluster in zip(shown.all(), clusters.clusters, strict=True):
                assert item.get_attribute("aria-label") == f"Cluster {cluster.number}, {cluster.size} images"
                head = item.locator(".card.representative")
                assert head.get_attribute("data-path") == cluster.representative.relative_to(library.root).as_posix()
                assert item.locator(".card").count() == cluster.size
            wait_until(page, "() => [...document.querySelectorAll('#clusters img')].every(i => i.complete)")
            page.screenshot(path=str(tmp_path / "clusters.png"), full_page=True)
            not_blank(tmp_path / "clusters.png")

            page.get_by_role("tab", name="Outliers").click()
            page.fill("#outliers-k", "3")
            page.fill("#outliers-top", "3")
            page.click("#outliers-form button[type=submit]")
            expect(page.locator("#outliers-status")).to_contain_text("most unusual first", timeout=60_000)
            expect(page.locator("#outliers li")).to_have_count(3)
            expect(page).to_have_url(re.compile(r"#/outliers\?k=3&top=3$"))
            assert page.locator("#outliers .card").evaluate_all("cs => cs.map(c => c.dataset.path)") == [
                o.path.relative_to(library.root).as_posix() for o in unusual.outliers]
            assert page.locator("#outliers .score").all_text_contents() == [f"{o.score:.3f}" for o in unusual.outliers]

            a, b = known["Dog_2.jpg"], known[LONG_PATH]
            page.goto(base + f"/#/compare?a={a}&b={b}")
            expected = built.compare_ids(library, a, b)
            expect(page.locator("#cmp-score")).to_have_text(f"{expected:.4f}")
            wait_until(page, "() => ['cmp-a-img', 'cmp-b-img'].every(i => document.getElementById(i).naturalWidth)")
            page.screenshot(path=str(tmp_path / "compare.png"))
            not_blank(tmp_path / "compare.png")
            page.go_back()  # the back button returns to the outliers
            expect(page.locator("#panel-outliers")).to_be_visible()
            expect(page.locator("#outliers li")).to_have_count(3)
            # an uploaded photo against a library image
            page.get_by_role("tab", name="Compare").click()
            page.fill("#cmp-a-id", "")
            page.set_input_files("#cmp-a-file", str(shared_data / "samples" / "Query_Image.jpg"))
            page.fill("#cmp-b-id", str(known["Dog_2.jpg"]))
            page.click("#compare-form button[type=submit]")
            expect(page.locator("#cmp-score")).to_have_text(re.compile(r"^0\.8\d{3}$"))
            assert errors == []
        finally:
            page.close()


def group_of(page: Page, path: str) -> Any:
    return page.locator("#duplicates li.group").filter(has=page.locator(f'.card[data-path="{path}"]'))


def test_duplicates_tab_shows_groups_as_they_are_found_then_the_final_ones(  # type: ignore[no-untyped-def]
        browser, service) -> None:
    errors: list[str] = []
    built, library = service
    with serving(create_app(PausedDuplicates(built, seconds=3.0), library)) as base:  # a pause once groups show
        page = new_page(browser, errors)
        try:
            page.goto(base + "/#/duplicates")
            page.click("#dup-submit")
            provisional = page.locator("#duplicates li.group.provisional")
            expect(provisional).to_have_count(2, timeout=60_000)  # while the job still runs
            expect(page.locator("#dup-progress")).to_be_visible()
            expect(page.locator("#duplicates-status")).to_contain_text("2 found so far (provisional)")
            expect(provisional.first).to_have_attribute("aria-label",
                                                        re.compile(r"^Group \d+, near, 2 images, provisional$"))
            expect(provisional.locator(".card.keeper")).to_have_count(2)
            expect(provisional.locator("button[data-action]")).to_have_count(0)  # decisions wait for the result
            expect(page.locator("#duplicates-status")).to_contain_text("2 groups (", timeout=60_000)
            expect(provisional).to_have_count(0)
            expect(page.locator("#duplicates li.group")).to_have_count(2)
            expect(page.locator("#duplicates li.group [data-action=trash]")).to_have_count(2)
            expect(page.locator("#dup-progress")).to_be_hidden()
            assert errors == []
            # another client's job runs: a second start is refused (429), and the answer shown stays
            other = httpx.post(f"{base}/api/duplicates", timeout=30)
            assert other.status_code == 202
            page.click("#dup-submit")
            expect(page.locator("#duplicates-status")).to_contain_text("running", timeout=30_000)
            expect(page.locator("#duplicates li.group")).to_have_count(2)
            expect(page.locator("#duplicates li.group [data-action=trash]")).to_have_count(2)
            assert [error for error in errors if "429" not in error] == []  # the refusal alone
        finally:
            page.close()


def test_duplicate_review_decisions_outlive_a_reload_and_trash_undoes(browser, service, folder: Path,  # type: ignore[no-untyped-def]
                                                                      tmp_path: Path) -> None:
    errors: list[str] = []
    original = (folder / "Dog_2.jpg").read_bytes()
    with serving(create_app(*service)) as base:
        page = new_page(browser, errors)
        try:
            page.goto(base + "/#/duplicates")
            page.click("#dup-submit")
            groups = page.locator("#duplicates li.group")
            expect(page.locator("#duplicates-status")).to_contain_text("2 groups", timeout=60_000)
            expect(groups).to_have_count(2)
            cats, dogs = group_of(page, CAT_COPY), group_of(page, LONG_PATH)
            expect(cats).to_have_attribute("aria-label", re.compile(r"^Group \d+, near, 2 images$"))
            assert dogs.locator(".card.keeper").get_attribute("data-path") == "Dog_2.jpg"
            assert re.search(r"near · 0\.9\d\d", dogs.locator(".card .score").first.inner_text())
            page.screenshot(path=str(tmp_path / "duplicates.png"), full_page=True)
            not_blank(tmp_path / "duplicates.png")

            cats.locator(f'.member:has(.card[data-path="{CAT_COPY}"]) [data-action=not-duplicate]').click()
            expect(groups).to_have_count(1)
            expect(page.locator("#duplicates-status")).to_contain_text("Saved")
            dogs.locator(f'.member:has(.card[data-path="{LONG_PATH}"]) [data-action=keep]').click()
            expect(dogs.locator(".card.keeper")).to_have_attribute("data-path", LONG_PATH)

            page.reload()  # decisions are the library's: a new run honours them
            page.click("#dup-submit")
            expect(page.locator("#duplicates-status")).to_contain_text("1 groups", timeout=60_000)
            expect(groups).to_have_count(1)
            expect(group_of(page, LONG_PATH).locator(".card.keeper")).to_have_attribute("data-path", LONG_PATH)

            dogs = group_of(page, LONG_PATH)
            dogs.locator("[data-action=trash]").click()  # asked first: cancelling moves nothing
            expect(page.locator("#confirm")).to_be_visible()
            expect(page.locator("#confirm-text")).to_contain_text(f"Move 1 duplicate of {LONG_PATH}")
            page.click("#confirm-no")
            expect(page.locator("#duplicates-status")).to_have_text("Nothing was moved.")
            assert (folder / "Dog_2.jpg").exists()
            dogs.locator("[data-action=trash]").click()
            page.click("#confirm-yes")
            expect(page.locator("#duplicates-status")).to_contain_text("Moved 1 file to the trash")
            expect(groups).to_have_count(0)
            assert not (folder / "Dog_2.jpg").exists()
            assert [p.read_bytes() for p in (folder / ".lookalike" / "trash").rglob("Dog_2.jpg")] == [original]
            page.click("#dup-undo")
            expect(page.locator("#duplicates-status")).to_contain_text("Put back 1 file")
            assert (folder / "Dog_2.jpg").read_bytes() == original
            page.click("#dup-submit")
            expect(page.locator("#duplicates-status")).to_contain_text("1 groups", timeout=60_000)
            assert errors == []
        finally:
            page.close()


# ---- the review endpoints over httpx -------------------------------------------------------------------
def test_review_endpoints_validate_guard_and_persist(service) -> None:  # type: ignore[no-untyped-def]
    built, library = service
    known = ids(service)
    tiny, dog = known[TINY], known["Dog_1.jpg"]
    with serving(create_app(*service)) as base:
        post = lambda path, body, **kw: httpx.post(f"{base}/api/duplicates/{path}", json=body, timeout=60, **kw)  # noqa: E731
        answer = post("not-duplicate", {"ids": [tiny, dog]})
        assert answer.status_code == 200 and answer.json() == {"pairs": 1}
        assert post("not-duplicate", {"ids": [tiny, dog]}).json() == {"pairs": 0}  # remembered already
        files = library.files([tiny, dog])
        pair = tuple(sorted((files[tiny].hash, files[dog].hash)))
        assert pair in library.distinct_pairs()
        for body, status in (({"ids": [tiny]}, 422), ({"ids": [tiny, tiny]}, 422), ({"ids": [tiny, 10**9]}, 404),
                             ({"ids": [tiny, 2**63]}, 422), ({"ids": [tiny, dog], "member": known["Cat_1.jpg"]}, 422)):
            refused = post("not-duplicate", body)
            assert refused.status_code == status and set(refused.json()) == {"error", "kind"}, (body, refused.text)

        assert post("keeper", {"keeper": tiny}).json() == {"keeper": tiny}
        assert built.chosen_keepers(library)[-1] == files[tiny].hash
        assert post("keeper", {"keeper": 10**9}).status_code == 404

        # moving files: only a group the last duplicates job found, never from another site
        refused = post("trash", {"ids": [tiny, dog], "keeper": tiny})
        assert refused.status_code == 422 and "not one duplicate group" in refused.json()["error"]
        assert (library.root / TINY).exists()
        cross = post("trash", {"ids": [tiny, dog], "keeper": tiny}, headers={"Origin": "https://elsewhere.example"})
        assert cross.status_code == 403 and cross.json()["kind"] == "cross_site"
        assert post("undo", {"log": "../../etc/passwd"}).status_code == 422
        missing = post("undo", {"log": "20990101-000000.jsonl"})
        assert missing.status_code == 404 and "no undo log" in missing.json()["error"]

        # outliers as a job: the service's answer
        job = httpx.post(f"{base}/api/outliers?k=3&top=2", timeout=30)
        assert job.status_code == 202
        deadline = time.monotonic() + 60
        while (body := httpx.get(f"{base}/api/jobs/{job.json()['job']}", timeout=30).json())["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        expected = built.outliers(library, 3, 2).outliers
        assert [(o["path"], o["score"]) for o in body["result"]["outliers"]] == [
            (o.path.relative_to(library.root).as_posix(), round(o.score, 6)) for o in expected]
