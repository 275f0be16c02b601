"""Uploads are decoded within a pixel budget shared by concurrent requests: 8 simultaneous searches
against a real uvicorn, with room for two images at once, all answer, and never more than the budget
is held; a request that does not fit waits for the pixels to come back."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
import httpx  # noqa: E402
from conftest import pattern_image  # noqa: E402
from web_server import serving  # noqa: E402

from lookalike.errors import Cancelled  # noqa: E402
from lookalike.web.app import create_app  # noqa: E402
from lookalike.web.budget import PixelBudget  # noqa: E402

SIZE = (400, 300)
PIXELS = SIZE[0] * SIZE[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    from lookalike.service import Lookalike
    from lookalike.settings import load_settings

    folder = tmp_path_factory.mktemp("budget") / "photos"
    folder.mkdir()
    for seed in range(3):
        pattern_image(seed, (96, 72)).save(folder / f"img_{seed}.jpg", quality=90)
    with Lookalike(load_settings(folder, device="cpu", precision="fp32")) as built:
        built.sync(built.library(folder, model="efficientnet-lite0", create=True))
        app = create_app(built, built.library(folder, readonly=True), upload_pixel_budget=2 * PIXELS + PIXELS // 2)
        with serving(app) as base:
            yield base, app.state.lookalike.uploads


def png(seed: int) -> bytes:
    out = io.BytesIO()
    pattern_image(seed, SIZE).save(out, format="PNG")
    return out.getvalue()


def test_concurrent_uploads_stay_within_the_pixel_budget(served: tuple[str, PixelBudget]) -> None:
    base, budget = served
    uploads = [png(seed) for seed in range(8)]

    def search(data: bytes) -> int:
        return httpx.post(f"{base}/api/search?k=2", files={"file": ("q.png", data)}, timeout=120).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(search, uploads)) == [200] * 8
    pair = httpx.post(f"{base}/api/compare", files={"a": ("a.png", uploads[0]), "b": ("b.png", uploads[1])},
                      timeout=120)
    assert pair.status_code == 200
    assert PIXELS <= budget.peak <= budget.limit  # uploads were held, never more than the budget
    assert budget.in_use == 0


def test_a_request_that_does_not_fit_waits_its_turn() -> None:
    budget = PixelBudget(100)
    entered, release = threading.Event(), threading.Event()
    order: list[str] = []

    def big() -> None:
        with budget.hold(80):
            order.append("big")
            entered.set()
            release.wait(10)
        order.append("big done")

    def small() -> None:
        with budget.hold(30):
            order.append("small")

    first = threading.Thread(target=big)
    first.start()
    assert entered.wait(10)
    second = threading.Thread(target=small)
    second.start()
    second.join(0.3)
    assert second.is_alive() and order == ["big"]  # 80 + 30 > 100: it waits
    release.set()
    first.join(10)
    second.join(10)
    assert order[0] == "big" and "small" in order and budget.in_use == 0 and budget.peak == 80
    with budget.hold(10**9):  # larger than the whole budget: runs alone, counted as the whole budget
        assert budget.in_use == 100


def test_closing_the_budget_stops_the_requests_waiting_their_turn() -> None:
    budget = PixelBudget(100)
    failures: list[str] = []

    def waiting() -> None:
        try:
            with budget.hold(50):
                failures.append("decoded")
        except Cancelled as exc:
            failures.append(str(exc))

    with budget.hold(80):
        waiter = threading.Thread(target=waiting)
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()  # 80 + 50 > 100: it waits its turn
        budget.close()  # shutting down: it stops now instead of decoding after the holder
        waiter.join(10)
    assert failures == ["the server is shutting down"] and budget.in_use == 0
    with pytest.raises(Cancelled), budget.hold(1):
        pass
