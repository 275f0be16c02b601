"""The REST API through FastAPI's TestClient on a library of the shared sample photos (EfficientNet-Lite0):
every endpoint's answer and its errors."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
from fastapi.testclient import TestClient  # noqa: E402

from lookalike.web.app import create_app  # noqa: E402

pytestmark = pytest.mark.shared_data
LOCAL = "http://127.0.0.1"
ENDPOINTS = {
    "/api/search": {"get", "post"}, "/api/images/{image_id}/similar": {"get"}, "/api/compare": {"post"},
    "/api/pairs": {"get"}, "/api/duplicates": {"post"}, "/api/stats": {"get"}, "/api/jobs/{job_id}": {"get", "delete"},
    "/api/images/{image_id}/thumbnail": {"get"}, "/api/images/{image_id}/file": {"get"},
    "/api/clusters": {"post"}, "/api/outliers": {"post"}, "/api/duplicates/not-duplicate": {"post"},
    "/api/duplicates/keeper": {"post"}, "/api/duplicates/trash": {"post"}, "/api/duplicates/undo": {"post"},
}


def copy_samples(shared_data: Path, target: Path) -> Path:
    """The six sample photos (Cat_1..3, Dog_1..3) in `target`."""
    target.mkdir(parents=True)
    for image in sorted((shared_data / "samples" / "Images").glob("*.jpg")):
        shutil.copy(image, target / image.name)
    return target


def rotated_photo(path: Path) -> None:
    """A landscape 120x60 JPEG whose EXIF says 'rotate 90° clockwise' (upright it is portrait 60x120)."""
    picture = Image.new("RGB", (120, 60), (200, 30, 30))
    picture.paste((30, 30, 200), (0, 0, 60, 60))
    exif = Image.Exif()
    exif[0x0112] = 6
    picture.save(path, exif=exif.tobytes(), quality=90)


@pytest.fixture(scope="module")
def sample_folder(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = copy_samples(shared_data, tmp_path_factory.mktemp("web") / "photos")
    (folder / "broken.jpg").write_bytes(b"this is not a picture")
    rotated_photo(folder / "rotated.jpg")
    return folder


@pytest.fixture(scope="module")
def service(sample_folder: Path) -> Iterator[object]:
    from lookalike.service import Lookalike
    from lookalike.settings import load_settings

    with Lookalike(load_settings(sample_folder, device="cpu", precision="fp32")) as built:
        library = built.library(sample_folder, model="efficientnet-lite0", create=True)
        built.sync(library)
        yield built


@pytest.fixture(scope="module")
def served_library(service, sample_folder: Path):  # type: ignore[no-untyped-def]
    return service.library(sample_folder, readonly=True)


@pytest.fixture(scope="module")
def client(service, served_library) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_app(service, served_library), base_url=LOCAL) as opened:
        yield opened


@pytest.fixture(scope="module")
def ids(client: TestClient, served_library) -> dict[str, int]:  # type: ignore[no-untyped-def]
    files = served_library.files(range(1, 100))
    return {f.path.name: i for i, f in files.items()}


def sample(shared_data: Path, name: str) -> bytes:
    return (shared_data / "samples" / ("Images/" + name if name != "Query_Image.jpg" else name)).read_bytes()


def assert_error(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text
    return body


# ---- schema and page ----------------------------------------------------------------------------
def test_every_endpoint_is_in_the_openapi_schema_and_docs_are_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path, methods in ENDPOINTS.items():
        assert methods <= set(schema["paths"][path]), path
    parameters = [p for ops in schema["paths"].values() for op in ops.values() for p in op.get("parameters", [])]
    assert {p["name"] for p in parameters} == {"k", "threshold", "text", "text_weight", "top", "size", "image_id",
                                               "verify", "similar", "job_id", "min_size"}
    assert all(p["schema"]["type"] == "integer" for p in parameters if p["name"] == "image_id")  # ids, no paths
    assert client.get("/docs").status_code == 200


def test_page_and_its_files_come_from_the_package(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="results"' in page.text and 'role="tablist"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.split("<body>")[0].replace("http-equiv", "")  # no CDN in the head
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "fetch(" in script.text
    assert client.get("/static/app.css").status_code == 200


# ---- search ------------------------------------------------------------------------------------
def test_upload_search_finds_dog_2_first(client: TestClient, shared_data: Path, ids: dict[str, int]) -> None:
    response = client.post("/api/search?k=3", files={"file": ("q.jpg", sample(shared_data, "Query_Image.jpg"))})
    assert response.status_code == 200, response.text
    body = response.json()
    hits = body["results"]
    assert [h["path"] for h in hits][0] == "Dog_2.jpg"
    assert len(hits) == 3 and body["model"] == "efficientnet-lite0"
    assert hits[0]["score"] == pytest.approx(0.819, abs=0.02)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert all(ids[h["path"]] == h["id"] for h in hits)
    dog = hits[0]
    assert (dog["width"], dog["height"]) == Image.open(io.BytesIO(sample(shared_data, "Dog_2.jpg"))).size


def test_threshold_cuts_results(client: TestClient, shared_data: Path) -> None:
    query = sample(shared_data, "Query_Image.jpg")
    hits = client.post("/api/search?k=10&threshold=0.7", files={"file": ("q.jpg", query)}).json()["results"]
    assert hits and all(h["score"] >= 0.7 for h in hits) and len(hits) < 7
    assert client.post("/api/search?threshold=0.999", files={"file": ("q.jpg", query)}).json()["results"] == []


def test_similar_leaves_the_image_itself_out(client: TestClient, ids: dict[str, int]) -> None:
    body = client.get(f"/api/images/{ids['Dog_2.jpg']}/similar?k=10").json()
    paths = [h["path"] for h in body["results"]]
    assert paths[0] == "Dog_3.jpg" and "Dog_2.jpg" not in paths
    assert len(paths) == 6  # seven indexed images minus the query
    assert len(client.get(f"/api/images/{ids['Dog_2.jpg']}/similar?k=2").json()["results"]) == 2


def test_compare_uploads_and_ids_agree(client: TestClient, shared_data: Path, ids: dict[str, int]) -> None:
    uploads = client.post("/api/compare", files={"a": ("a.jpg", sample(shared_data, "Dog_2.jpg")),
                                                 "b": ("b.jpg", sample(shared_data, "Dog_3.jpg"))})
    by_id = client.post("/api/compare", data={"a_id": ids["Dog_2.jpg"], "b_id": ids["Dog_3.jpg"]})
    assert uploads.status_code == 200 and by_id.status_code == 200, (uploads.text, by_id.text)
    assert uploads.json()["score"] == pytest.approx(by_id.json()["score"], abs=1e-3)
    assert by_id.json()["score"] == pytest.approx(0.618, abs=0.03)
    assert_error(client.post("/api/compare", data={"a_id": ids["Dog_2.jpg"]}), 422)
    assert_error(client.post("/api/compare", files={"a": ("a.jpg", sample(shared_data, "Dog_2.jpg"))},
                             data={"b_id": ids["Dog_3.jpg"]}), 422)
    assert_error(client.post("/api/compare", data={"a_id": ids["Dog_2.jpg"], "b_id": 9999}), 404)


def test_pairs_and_duplicates_come_from_stored_vectors(client: TestClient, ids: dict[str, int]) -> None:
    pairs = client.get("/api/pairs?top=3").json()["pairs"]
    assert len(pairs) == 3
    top = pairs[0]
    assert {top["a"]["path"], top["b"]["path"]} == {"Dog_2.jpg", "Dog_3.jpg"}
    assert {top["a"]["id"], top["b"]["id"]} == {ids["Dog_2.jpg"], ids["Dog_3.jpg"]}
    assert pairs[0]["score"] >= pairs[1]["score"] >= pairs[2]["score"]
    # duplicates: the calibrated decision of `lookalike duplicates`; Dog_2 and Dog_3 are two photos, not
    # an edited copy: a candidate the keypoint check rejects, listed only as similar
    calibrated = duplicates_job(client, "")
    assert calibrated["source"] == "efficientnet-lite0 calibration" and calibrated["accept"] > calibrated["candidate"]
    assert calibrated["groups"] == [] and calibrated["checked"] >= 1
    similar = duplicates_job(client, "similar=true")["groups"]
    dogs = [g for g in similar if {m["path"] for m in g["members"]} == {"Dog_2.jpg", "Dog_3.jpg"}]
    assert len(dogs) == 1 and dogs[0]["kind"] == "similar"
    assert {m["id"] for m in dogs[0]["members"]} == {ids["Dog_2.jpg"], ids["Dog_3.jpg"]}
    assert sum(m["keeper"] for m in dogs[0]["members"]) == 1
    assert all(m["score"] == pytest.approx(top["score"], abs=1e-4) and m["inliers"] is not None
               for m in dogs[0]["members"])
    plain = duplicates_job(client, f"threshold={top['score'] - 1e-4}&similar=true")
    assert plain["source"] == "--threshold" and plain["candidate"] == pytest.approx(top["score"] - 1e-4)
    assert duplicates_job(client, "threshold=0.999&similar=true")["groups"] == []


def duplicates_job(client: TestClient, query: str) -> dict[str, Any]:
    """POST /api/duplicates?QUERY (a 202 naming the job), polled until done: its result."""
    started = client.post(f"/api/duplicates?{query}")
    assert started.status_code == 202, started.text
    job = started.json()
    assert started.headers["location"] == f"/api/jobs/{job['job']}" and job["status"] in ("running", "done")
    deadline = time.monotonic() + 120
    while job["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['job']}").json()
    assert job["status"] == "done", job
    return dict(job["result"])


def test_a_very_low_threshold_is_a_job_not_a_refusal(client: TestClient) -> None:
    # 7 images: a threshold of -1 makes 21 candidates, all checked by keypoints within the job
    found = duplicates_job(client, "threshold=-1")
    assert found["candidates"] == 21 and found["checked"] == 21
    assert_error(client.get("/api/jobs/not-a-job"), 404)
    assert_error(client.delete("/api/jobs/not-a-job"), 404)


def test_stats_counts_and_failures(client: TestClient) -> None:
    stats = client.get("/api/stats").json()
    assert (stats["indexed"], stats["failed"]) == (7, 1)
    assert (stats["model"], stats["dim"], stats["text"]) == ("efficientnet-lite0", 1280, False)
    assert stats["index"].startswith("flat") and stats["library"] == "photos"
    assert [f["path"] for f in stats["failures"]] == ["broken.jpg"]
    assert stats["max_upload_bytes"] == 20 * 1024 * 1024


# ---- images by id ------------------------------------------------------------------------------
def test_thumbnail_is_an_upright_jpeg_cached_in_the_library(client: TestClient, served_library,  # type: ignore[no-untyped-def]
                                                            ids: dict[str, int]) -> None:
    first = client.get(f"/api/images/{ids['rotated.jpg']}/thumbnail?size=64")
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    picture = Image.open(io.BytesIO(first.content))
    assert picture.format == "JPEG" and picture.size == (32, 64)  # EXIF rotation applied: portrait
    cached = list((served_library.paths.directory / "thumbnails").glob("*-64.jpg"))
    assert len(cached) == 1 and cached[0].read_bytes() == first.content
    assert client.get(f"/api/images/{ids['rotated.jpg']}/thumbnail?size=64").content == first.content
    big = Image.open(io.BytesIO(client.get(f"/api/images/{ids['Dog_1.jpg']}/thumbnail").content))
    assert max(big.size) == 256


def test_file_is_the_original(client: TestClient, shared_data: Path, ids: dict[str, int]) -> None:
    response = client.get(f"/api/images/{ids['Cat_1.jpg']}/file")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.content == sample(shared_data, "Cat_1.jpg")


# ---- errors ------------------------------------------------------------------------------------
def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels (and holds none)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_bad_uploads(client: TestClient, shared_data: Path) -> None:
    not_image = assert_error(client.post("/api/search", files={"file": ("x.jpg", b"hello, world")}), 400)
    assert not_image["kind"] == "image_read" and "not an image" in not_image["error"]
    photo = sample(shared_data, "Dog_1.jpg")
    truncated = assert_error(client.post("/api/search", files={"file": ("t.jpg", photo[: len(photo) // 3])}), 400)
    assert "truncated" in truncated["error"] or "corrupt" in truncated["error"]
    assert_error(client.post("/api/search", files={"file": ("e.jpg", b"")}), 400)
    huge = assert_error(client.post("/api/search", files={"file": ("h.png", png_header(30000, 30000))}), 413)
    assert "pixels" in huge["error"] or "MP" in huge["error"]
    assert_error(client.post("/api/compare", files={"a": ("a.jpg", photo), "b": ("b.jpg", b"nope")}), 400)
    assert "x.jpg" not in not_image["error"]  # uploads are named by their field, never by the client's name


def test_oversize_bodies_are_refused(service, served_library, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    photo = sample(shared_data, "Dog_1.jpg")
    with TestClient(create_app(service, served_library, max_upload_bytes=len(photo) - 1), base_url=LOCAL) as small:
        # below the body cap (two uploads' worth) but above the per-file cap
        body = assert_error(small.post("/api/search", files={"file": ("d.jpg", photo)}), 413)
        assert f"{len(photo) - 1:,} bytes" in body["error"]
        # far above the body cap: refused before the form is parsed
        assert_error(small.post("/api/search", files={"file": ("d.jpg", photo * 4)}), 413)
        chunks = iter([photo, photo, photo, photo])  # no Content-Length: counted as it arrives
        streamed = small.post("/api/search", content=chunks,
                              headers={"content-type": "multipart/form-data; boundary=x"})
        assert_error(streamed, 413)
        assert small.get("/api/stats").status_code == 200


def test_unknown_ids_are_404(client: TestClient) -> None:
    for url in ("/api/images/9999/similar", "/api/images/9999/thumbnail", "/api/images/9999/file"):
        assert assert_error(client.get(url), 404)["kind"] in ("library", "invalid_argument")


@pytest.mark.parametrize("url", [
    "/api/images/..%2F..%2Fetc%2Fpasswd/file", "/api/images/%2e%2e/thumbnail", "/api/images/%2e%2e%2f1/file",
    "/api/images/1/thumbnail?size=%2e%2e", "/api/images/..%2f1/similar", "/api/pairs?top=..",
    "/api/jobs/..%2F..%2Fetc%2Fpasswd", "/api/images/0/file", "/api/images/-1/file",
    "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/%2e%2e/app.py", "/%2e%2e/%2e%2e/etc/passwd", "/api/images/1%2F..%2F2/file",
])
def test_dot_dot_in_any_parameter_reaches_nothing(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code in (400, 404, 422), (url, response.status_code)
    assert "root:" not in response.text and "import " not in response.text
    assert response.json()["error"]


def test_dot_dot_as_text_is_only_text(client: TestClient) -> None:
    # a text parameter is never a path: with this image-only model it is refused as a text query
    assert assert_error(client.get("/api/search?text=..%2F..%2Fetc%2Fpasswd"), 400)["kind"] == "unsupported_query"


def test_bad_parameters_are_422(client: TestClient, shared_data: Path, ids: dict[str, int]) -> None:
    query = {"file": ("q.jpg", sample(shared_data, "Query_Image.jpg"))}
    for url in ("/api/search?k=0", "/api/search?k=abc", "/api/search?threshold=2", "/api/search?text_weight=1.5"):
        assert_error(client.post(url, files=query), 422)
    assert_error(client.post("/api/search"), 422)  # no file
    assert_error(client.get("/api/search"), 422)  # no text
    assert_error(client.get("/api/search?text=%20%20"), 422)
    assert_error(client.get(f"/api/images/{ids['Dog_1.jpg']}/thumbnail?size=4"), 422)
    assert_error(client.get("/api/pairs?top=0"), 422)
    assert_error(client.post("/api/duplicates?threshold=1.5"), 422)


def test_text_query_on_an_image_only_model_is_400(client: TestClient, shared_data: Path) -> None:
    body = assert_error(client.get("/api/search?text=a+dog"), 400)
    assert body["kind"] == "unsupported_query" and "text" in body["error"]
    with_photo = client.post("/api/search?text=a+dog", files={"file": ("q.jpg", sample(shared_data, "Dog_1.jpg"))})
    assert assert_error(with_photo, 400)["kind"] == "unsupported_query"


def test_unknown_routes_and_methods_answer_json(client: TestClient) -> None:
    assert assert_error(client.get("/api/nothing"), 404)["kind"] == "not_found"
    assert_error(client.delete("/api/stats"), 405)


# ---- token and host ----------------------------------------------------------------------------
def test_token_is_required_when_set(service, served_library) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(service, served_library, token="s3cret")) as secured:  # any Host, with a token
        missing = secured.get("/api/stats")
        assert assert_error(missing, 401)["kind"] == "unauthorized"
        assert missing.headers["www-authenticate"] == "Bearer"
        assert_error(secured.get("/api/stats", headers={"Authorization": "Bearer wrong"}), 401)
        assert_error(secured.get("/api/stats", headers={"Authorization": "Basic czNjcmV0"}), 401)
        assert_error(secured.get("/api/images/1/thumbnail"), 401)
        assert_error(secured.post("/api/search?text=x"), 401)
        good = {"Authorization": "Bearer s3cret"}
        assert secured.get("/api/stats", headers=good).status_code == 200
        assert secured.get("/api/images/1/thumbnail", headers=good).status_code == 200
        assert secured.get("/").status_code == 200  # the page loads, then asks for the token


def test_without_token_only_loopback_hosts_are_answered(service, served_library) -> None:  # type: ignore[no-untyped-def]
    app = create_app(service, served_library)
    with TestClient(app, base_url="http://attacker.example") as foreign:
        assert assert_error(foreign.get("/api/stats"), 400)["kind"] == "bad_host"
    for base in ("http://localhost:8765", "http://[::1]:8765", LOCAL):
        with TestClient(app, base_url=base) as local:
            assert local.get("/api/stats").status_code == 200, base


# ---- text on a model with a text tower ---------------------------------------------------------
def test_text_search_on_tiny_siglip(tiny_siglip_dir: Path, image_folder: Path) -> None:
    from lookalike.service import Lookalike
    from lookalike.settings import load_settings

    with Lookalike(load_settings(image_folder, precision="fp32")) as service:
        service.sync(service.library(image_folder, model=str(tiny_siglip_dir), create=True))
        library = service.library(image_folder, readonly=True)
        with TestClient(create_app(service, library), base_url=LOCAL) as client:
            assert client.get("/api/stats").json()["text"] is True
            hits = client.get("/api/search?text=a+red+square&k=4").json()["results"]
            assert len(hits) == 4 and [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
            expected = service.search(library, __import__("lookalike").Query(text="a red square"), k=4).matches
            assert [h["id"] for h in hits] == [m.id for m in expected]
            photo = (image_folder / "a" / "img_0.jpg").read_bytes()
            both = client.post("/api/search?text=a+red+square&text_weight=0.3&k=6", files={"file": ("p.jpg", photo)})
            assert both.status_code == 200 and len(both.json()["results"]) == 6
            # a file deleted since it was indexed: its id still resolves, the file is gone (404, by its name)
            gone = next(i for i, f in library.files(range(1, 20)).items() if f.path.name == "img_5.jpg")
            (image_folder / "b" / "img_5.jpg").unlink()
            for url in (f"/api/images/{gone}/file", f"/api/images/{gone}/thumbnail?size=32"):
                body = assert_error(client.get(url), 404)
                assert body["error"].startswith("b/img_5.jpg: file not found")
                assert str(image_folder) not in body["error"]


def test_heic_upload_is_decoded(client: TestClient, shared_data: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    Image.open(io.BytesIO(sample(shared_data, "Dog_2.jpg"))).save(out, format="HEIF", quality=90)
    response = client.post("/api/search?k=1", files={"file": ("photo.heic", out.getvalue())})
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["path"] == "Dog_2.jpg"


# ---- the command --------------------------------------------------------------------------------
def run_cli(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"import sys; {prelude}from lookalike.cli import main; sys.argv = ['lookalike', *{list(args)!r}]; main()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_serve_without_the_web_extra_says_how_to_install_it(tmp_path: Path) -> None:
    result = run_cli("serve", str(tmp_path), prelude="sys.modules['fastapi'] = None; ")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: the web server needs fastapi: pip install 'lookalike[web]'"]


def test_serve_on_another_host_needs_a_token(tmp_path: Path) -> None:
    result = run_cli("serve", str(tmp_path), "--host", "0.0.0.0")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1  # a usage error
    assert "--token" in result.stderr and "Traceback" not in result.stderr
