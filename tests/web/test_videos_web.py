"""`serve` over a library holding a video: a search hit on it says which moment, pairs say the
moments of both sides, and its thumbnail is its first frame."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from conftest import pattern_image
from media import write_video
from PIL import Image

pytest.importorskip("av")
pytest.importorskip("fastapi")
pytest.importorskip("multipart")
from fastapi.testclient import TestClient  # noqa: E402

from lookalike.web.app import create_app  # noqa: E402

SIZE = (128, 96)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from lookalike.service import Lookalike
    from lookalike.settings import load_settings

    folder = tmp_path_factory.mktemp("web-video") / "clips"
    folder.mkdir()
    write_video(folder / "clip.mp4", [pattern_image(1, SIZE), pattern_image(2, SIZE)])
    pattern_image(3, SIZE).save(folder / "c.png")
    with Lookalike(load_settings(folder, device="cpu", precision="fp32")) as service:
        service.sync(service.library(folder, model="histogram", create=True))
        with TestClient(create_app(service, service.library(folder, readonly=True)),
                        base_url="http://127.0.0.1") as opened:
            yield opened


def test_a_hit_on_a_video_says_which_moment(client: TestClient) -> None:
    upload = io.BytesIO()
    pattern_image(2, SIZE).save(upload, format="PNG")
    answer = client.post("/api/search?k=2", files={"file": ("q.png", upload.getvalue(), "image/png")})
    assert answer.status_code == 200, answer.text
    hits = answer.json()["results"]
    assert [(h["path"], h["time"]) for h in hits] == [("clip.mp4", 2.0), ("c.png", None)]
    thumb = client.get(f"/api/images/{hits[0]['id']}/thumbnail?size=64")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 64  # the video's first frame, scaled


def test_pairs_give_both_moments(client: TestClient) -> None:
    pairs = client.get("/api/pairs?top=2").json()["pairs"]
    assert len(pairs) == 2 and all(p["a"]["path"] != p["b"]["path"] for p in pairs)
    assert all({p["a_time"], p["b_time"]} - {None} <= {0.0, 2.0} for p in pairs)
    assert any(p["a_time"] is not None or p["b_time"] is not None for p in pairs)
