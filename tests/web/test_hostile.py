"""What a hostile pass found, against a real uvicorn on loopback: ids past SQLite's integers, a file
swapped for a link leading outside the library, cross-site browser requests, token guessing, schema and
error bodies that did not match the server, docs pages that needed a CDN, an unbounded thumbnail cache."""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
import httpx  # noqa: E402
from conftest import pattern_image  # noqa: E402
from web_server import indexed_service, serving  # noqa: E402

from lookalike.web.app import create_app  # noqa: E402

TOKEN = "s3cret-token"
OUTSIDE = b"outside the library: must never be served"
HUGE = [2**63, 2**64, 10**30]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "photos"
    (root / "sub").mkdir(parents=True)
    for seed in range(4):
        pattern_image(seed, (96, 72)).save(root / f"img_{seed}.jpg", quality=90)
    pattern_image(7, (96, 72)).save(root / "victim.jpg", quality=90)
    pattern_image(8, (96, 72)).save(root / "sub" / "inner.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def service(folder: Path) -> Iterator[tuple[object, object]]:
    with indexed_service(folder) as pair:
        yield pair


@pytest.fixture(scope="module")
def base(service) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with serving(create_app(*service)) as url:
        yield url


def id_of(service, name: str) -> int:  # type: ignore[no-untyped-def]
    files = service[1].files(range(1, 100))
    return next(i for i, f in files.items() if f.path.name == name)


def assert_error(response: httpx.Response, status: int, kind: str | None = None) -> str:
    """The project's error body: exactly {error, kind}, one line, no Python types or input dumps."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "kind"} and body["error"] and "\n" not in body["error"], body
    assert "<class" not in body["error"] and "Traceback" not in response.text
    if kind is not None:
        assert body["kind"] == kind, body
    return str(body["error"])


# ---- 3: ids past SQLite's integers ----------------------------------------------------------------
@pytest.mark.parametrize("huge", HUGE)
def test_ids_past_sqlite_integers_are_422_naming_the_parameter(base: str, huge: int) -> None:
    for route in ("similar", "thumbnail", "file"):
        message = assert_error(httpx.get(f"{base}/api/images/{huge}/{route}"), 422, "invalid_argument")
        assert message.startswith("image_id:"), message
    message = assert_error(httpx.post(f"{base}/api/compare", data={"a_id": str(huge), "b_id": "1"}), 422)
    assert message.startswith("a_id:"), message
    assert httpx.get(f"{base}/api/images/{2**63 - 1}/file").status_code == 404  # the largest id: just unknown


def test_wrong_types_say_so_in_words(base: str) -> None:
    message = assert_error(httpx.post(f"{base}/api/compare", data={"a": "x", "b": "y"}), 422, "invalid_argument")
    assert "a: must be an uploaded file" in message
    assert_error(httpx.get(f"{base}/api/images/abc/file"), 422, "invalid_argument")


# ---- 4: a file swapped for a link -------------------------------------------------------------------
def test_a_file_swapped_for_a_link_outside_is_not_served(base: str, service, folder: Path,  # type: ignore[no-untyped-def]
                                                         tmp_path: Path) -> None:
    victim = id_of(service, "victim.jpg")
    original = (folder / "victim.jpg").read_bytes()
    assert httpx.get(f"{base}/api/images/{victim}/file").content == original
    assert httpx.get(f"{base}/api/images/{victim}/thumbnail?size=32").status_code == 200
    outside = tmp_path / "secret.jpg"
    pattern_image(99, (96, 72)).save(outside)
    outside.write_bytes(outside.read_bytes() + OUTSIDE)
    (folder / "victim.jpg").unlink()
    (folder / "victim.jpg").symlink_to(outside)
    try:
        for route in ("file", "thumbnail?size=32", "thumbnail?size=48"):
            response = httpx.get(f"{base}/api/images/{victim}/{route}")
            assert OUTSIDE not in response.content
            assert "symbolic link" in assert_error(response, 400, "image_read")
    finally:
        (folder / "victim.jpg").unlink()
        (folder / "victim.jpg").write_bytes(original)
    assert httpx.get(f"{base}/api/images/{victim}/file").content == original


def test_a_folder_swapped_for_a_link_outside_is_not_served(base: str, service, folder: Path,  # type: ignore[no-untyped-def]
                                                           tmp_path: Path) -> None:
    inner = id_of(service, "inner.jpg")
    assert httpx.get(f"{base}/api/images/{inner}/file").status_code == 200
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "inner.jpg").write_bytes(OUTSIDE)
    (folder / "sub").rename(tmp_path / "sub-kept")
    (folder / "sub").symlink_to(elsewhere, target_is_directory=True)
    try:
        response = httpx.get(f"{base}/api/images/{inner}/file")
        assert OUTSIDE not in response.content
        assert "outside the library" in assert_error(response, 400, "image_read")
    finally:
        (folder / "sub").unlink()
        (tmp_path / "sub-kept").rename(folder / "sub")
    assert httpx.get(f"{base}/api/images/{inner}/file").status_code == 200


def test_a_fifo_at_an_indexed_path_is_refused_without_hanging(base: str, service, folder: Path) -> None:  # type: ignore[no-untyped-def]
    first = id_of(service, "img_3.jpg")
    kept = (folder / "img_3.jpg").read_bytes()
    (folder / "img_3.jpg").unlink()
    os.mkfifo(folder / "img_3.jpg")
    try:
        assert "not a regular file" in assert_error(httpx.get(f"{base}/api/images/{first}/file", timeout=10), 400)
    finally:
        (folder / "img_3.jpg").unlink()
        (folder / "img_3.jpg").write_bytes(kept)


# ---- 5: cross-site browser requests -------------------------------------------------------------------
def test_cross_site_browser_requests_are_refused_on_posts_and_heavy_gets(base: str, service) -> None:  # type: ignore[no-untyped-def]
    ids = {"a_id": str(id_of(service, "img_0.jpg")), "b_id": str(id_of(service, "img_1.jpg"))}
    evil = {"Origin": "http://evil.example"}
    assert_error(httpx.post(f"{base}/api/compare", data=ids, headers=evil), 403, "cross_site")
    assert_error(httpx.post(f"{base}/api/compare", data=ids, headers={"Origin": "null"}), 403, "cross_site")
    assert_error(httpx.post(f"{base}/api/compare", data=ids, headers={"Sec-Fetch-Site": "cross-site"}), 403)
    assert_error(httpx.get(f"{base}/api/pairs", headers={"Sec-Fetch-Site": "cross-site"}), 403, "cross_site")
    assert_error(httpx.post(f"{base}/api/duplicates", headers=evil), 403, "cross_site")
    assert_error(httpx.delete(f"{base}/api/jobs/any", headers=evil), 403, "cross_site")
    other_port = re.sub(r":(\d+)$", lambda m: f":{int(m.group(1)) + 1}", base)
    assert_error(httpx.get(f"{base}/api/pairs", headers={"Origin": other_port}), 403, "cross_site")
    # the page itself (same origin), and scripts that send neither header, keep working
    assert httpx.post(f"{base}/api/compare", data=ids, headers={"Origin": base, "Sec-Fetch-Site": "same-origin"}
                      ).status_code == 200
    assert httpx.post(f"{base}/api/compare", data=ids).status_code == 200
    assert httpx.get(f"{base}/api/pairs").status_code == 200
    assert httpx.get(f"{base}/api/stats", headers=evil).status_code == 200  # light reads stay open


# ---- 6: token guessing ---------------------------------------------------------------------------------
def test_wrong_tokens_are_logged_and_throttled(service, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="lookalike.web")
    with serving(create_app(*service, token=TOKEN)) as url:
        wrong = {"Authorization": "Bearer guess-number-n"}
        right = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{url}/api/stats", headers=right).status_code == 200
        statuses = [httpx.get(f"{url}/api/stats", headers=wrong).status_code for _ in range(5)]
        assert statuses == [401] * 5
        blocked = httpx.get(f"{url}/api/stats", headers=wrong)
        assert_error(blocked, 429, "too_many_attempts")
        assert blocked.headers["retry-after"] == "1"
        assert_error(httpx.get(f"{url}/api/stats", headers=right), 429)  # even the right token waits
        time.sleep(1.2)
        second = httpx.get(f"{url}/api/stats", headers=wrong)
        assert second.status_code == 429 and second.headers["retry-after"] == "2"  # the wait doubles
        time.sleep(2.2)
        assert httpx.get(f"{url}/api/stats", headers=right).status_code == 200
        assert httpx.get(f"{url}/api/stats", headers=wrong).status_code == 401  # a success forgets
    warnings = [r for r in caplog.records if r.name == "lookalike.web" and r.levelno == logging.WARNING]
    assert len(warnings) == 8
    assert all("127.0.0.1" in r.getMessage() and "guess-number" not in r.getMessage() for r in warnings)


def test_the_failure_table_is_bounded() -> None:
    from lookalike.web.throttle import TokenThrottle

    now = [0.0]
    throttle = TokenThrottle(free=2, max_wait=8.0, forget_after=100.0, max_clients=3, clock=lambda: now[0])
    assert [throttle.failed("a")[1] for _ in range(6)] == [0, 0, 1, 2, 4, 8]
    assert throttle.wait("a") == 8 and throttle.failed("a")[1] == 8  # capped
    for client in ("b", "c", "d"):
        throttle.failed(client)
    assert len(throttle) == 3 and throttle.wait("a") == 0  # "a" was the least recently seen: dropped
    now[0] = 1000.0
    assert throttle.failed("b") == (1, 0)  # idle past forget_after: a fresh start


# ---- 7: the schema in both modes ---------------------------------------------------------------------
def test_schema_says_security_only_with_a_token_and_documents_the_error_shape(base: str, service) -> None:  # type: ignore[no-untyped-def]
    plain = httpx.get(f"{base}/openapi.json").json()
    with serving(create_app(*service, token=TOKEN)) as url:
        guarded = httpx.get(f"{url}/openapi.json").json()
    assert "securitySchemes" not in plain.get("components", {})
    for schema, secured in ((plain, False), (guarded, True)):
        operations = [op for path, ops in schema["paths"].items() if path.startswith("/api") for op in ops.values()]
        assert len(operations) == 17
        for operation in operations:
            busy = operation["operationId"].startswith(("duplicates_", "clusters_", "outliers_"))  # a second job: 429
            assert ("security" in operation) is secured, operation["operationId"]
            assert ("401" in operation["responses"]) is secured
            assert ("429" in operation["responses"]) is (secured or busy), operation["operationId"]
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    assert "HTTPValidationError" not in str(plain) and "ValidationError" not in str(guarded)


# ---- 8: docs pages offline -----------------------------------------------------------------------------
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_nothing_from_another_host(base: str, page: str) -> None:
    html = httpx.get(base + page)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assert "default-src 'self'" in html.headers["content-security-policy"]  # the browser asks no other host
    referenced = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html.text)
    assert referenced and not re.search(r"https?:|//", html.text.split("<body", 1)[0] + " ".join(referenced))
    for asset in referenced:
        assert asset.startswith("/"), asset
        assert httpx.get(base + asset).status_code == 200, asset
    assert "cdn" not in html.text.lower() and "fonts.googleapis" not in html.text


# ---- the thumbnail cache is bounded --------------------------------------------------------------------
def test_thumbnail_cache_keeps_within_its_budget(service, folder: Path) -> None:  # type: ignore[no-untyped-def]
    budget = 3000
    cache = service[1].paths.directory / "thumbnails"
    shutil.rmtree(cache, ignore_errors=True)
    with serving(create_app(*service, thumbnail_cache_bytes=budget)) as url:
        made = []
        for name in ("img_0.jpg", "img_1.jpg", "img_2.jpg", "victim.jpg"):
            for size in (64, 96, 128):
                image = id_of(service, name)
                response = httpx.get(f"{url}/api/images/{image}/thumbnail?size={size}")
                assert response.status_code == 200
                made.append(len(response.content))
                stored = list(cache.glob("*.jpg"))
                assert sum(p.stat().st_size for p in stored) <= budget
                assert any(p.read_bytes() == response.content for p in stored)  # the newest is kept
    assert sum(made) > 2 * budget and len(list(cache.glob("*.jpg"))) < len(made)
