"""The server under load while another process indexes the same library: searches (uploads and ids; at
least 200, and on until the indexer is done) from 8 client threads against a real uvicorn on loopback,
while `lookalike index` adds 50 images. No 5xx, every returned id resolves, and the server answers from
the new state without a restart."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
import httpx  # noqa: E402
from conftest import pattern_image  # noqa: E402

pytestmark = pytest.mark.shared_data
THREADS, REQUESTS, ADDED = 8, 200, 50
MAX_REQUESTS = 3000  # the searches go on until the indexer has finished, so they overlap all of it


@pytest.fixture
def library_folder(shared_data: Path, tmp_path: Path, effnet) -> Path:  # type: ignore[no-untyped-def]
    from lookalike.store import Library

    folder = tmp_path / "photos"
    folder.mkdir()
    for image in sorted((shared_data / "samples" / "Images").glob("*.jpg")):
        shutil.copy(image, folder / image.name)
    with Library.open(folder, model=effnet, create=True) as library:
        library.sync()
    for seed in range(ADDED):  # on disk now, indexed by the writer during the test
        pattern_image(1000 + seed, (96, 72)).save(folder / f"new_{seed:02d}.jpg", quality=90)
    return folder


@pytest.fixture
def server(library_folder: Path) -> Iterator[tuple[str, object]]:
    import uvicorn

    from lookalike.service import Lookalike
    from lookalike.settings import load_settings
    from lookalike.web.app import create_app

    with Lookalike(load_settings(library_folder, precision="fp32")) as service:
        library = service.library(library_folder, readonly=True)
        app = create_app(service, library)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        running = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        thread = threading.Thread(target=running.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 120
            while not running.started:
                assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.05)
            yield f"http://127.0.0.1:{listener.getsockname()[1]}", library
        finally:
            running.should_exit = True
            thread.join(timeout=30)
            listener.close()


def test_searches_while_another_process_indexes(server: tuple[str, object], library_folder: Path,
                                                shared_data: Path) -> None:
    base, library = server
    query = (shared_data / "samples" / "Query_Image.jpg").read_bytes()
    with httpx.Client(base_url=base, timeout=120) as client:
        answer = client.post("/api/search?k=10", files={"file": ("q.jpg", query)}).json()
    first_ids = [h["id"] for h in answer["results"]]
    assert len(first_ids) == 6
    writer = subprocess.Popen([sys.executable, "-m", "lookalike", "index", str(library_folder), "-q"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen: set[int] = set(first_ids)
        statuses: list[int] = []
        lock = threading.Lock()

        def one(number: int, client: httpx.Client) -> None:
            if number % 2 == 0:
                response = client.post("/api/search?k=10", files={"file": ("q.jpg", query)})
            else:
                with lock:
                    pick = sorted(seen)[number % len(seen)]
                response = client.get(f"/api/images/{pick}/similar?k=10")
            ids = [h["id"] for h in response.json().get("results", [])] if response.status_code == 200 else []
            with lock:
                statuses.append(response.status_code)
                seen.update(ids)

        def worker(start: int) -> None:
            with httpx.Client(base_url=base, timeout=120) as client:
                number = start
                while number < MAX_REQUESTS and (number < REQUESTS or writer.poll() is None):
                    one(number, client)
                    number += THREADS

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(worker, range(THREADS)))
        out, err = writer.communicate(timeout=300)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=30)
    assert writer.returncode == 0, err
    assert out.splitlines()[1].split()[:2] == [str(ADDED), "0"], out  # the table row: added 50, updated 0
    assert REQUESTS <= len(statuses) < MAX_REQUESTS and not [s for s in statuses if s >= 500]
    assert set(statuses) == {200}

    # every id any answer returned is a file of the library (none was removed), with a thumbnail
    from lookalike.store import Library

    with Library.open(library_folder, readonly=True) as reader:
        everything = reader.files(range(1, 1000))
    assert seen <= set(everything)
    added = [i for i, f in everything.items() if f.path.name == "new_07.jpg"]
    assert len(everything) == 6 + ADDED and len(added) == 1
    with httpx.Client(base_url=base, timeout=120) as client:
        for image_id in sorted(seen):
            assert client.get(f"/api/images/{image_id}/thumbnail?size=64").status_code == 200
        # the server answers from the new state, without a restart
        assert client.get("/api/stats").json()["indexed"] == 6 + ADDED
        similar = client.get(f"/api/images/{added[0]}/similar?k=100").json()["results"]
        assert len(similar) == 6 + ADDED - 1
