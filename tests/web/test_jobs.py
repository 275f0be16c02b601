"""Duplicates as jobs against a real uvicorn on loopback: polled to the service's own answer, cancelled
when nobody polls it or on DELETE (its thread ends), one heavy job at a time (429 + Retry-After), and a
SIGTERM ends `lookalike serve` within seconds even with a job running."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("cv2")
from slow_checks import command as slow_lookalike  # noqa: E402
from slow_checks import slowed_pair_checks  # noqa: E402
from web_server import free_port, indexed_service, serving  # noqa: E402

from lookalike.web.app import create_app  # noqa: E402

pytestmark = pytest.mark.shared_data
IDLE = 2.0  # the apps' job_idle_seconds here
HEAVY = "/api/duplicates?threshold=-1&verify=true"  # every neighbour pair checked by keypoints
PAIR_DELAY = 0.1  # CPU each check burns first in the tests that need the job still running (slow_checks)
COPIES = 24


@pytest.fixture(scope="module")
def folder(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 slightly cropped copies of the six sample photos (distinct bytes, many keypoint checks)."""
    target = tmp_path_factory.mktemp("jobs") / "photos"
    target.mkdir()
    photos = sorted((shared_data / "samples" / "Images").glob("*.jpg"))
    for index in range(COPIES):
        with Image.open(photos[index % len(photos)]) as picture:
            width, height = picture.size
            shift = index // len(photos) + 1
            picture.convert("RGB").crop((shift, shift, width - shift, height - shift)).save(
                target / f"copy{index:02d}.jpg", quality=90)
    return target


@pytest.fixture(scope="module")
def service(folder: Path) -> Iterator[tuple[Any, Any]]:
    with indexed_service(folder) as pair:
        yield pair


@pytest.fixture
def base(service: tuple[Any, Any]) -> Iterator[str]:
    with serving(create_app(*service, job_idle_seconds=IDLE)) as url:
        yield url


def job_thread(job_id: str) -> threading.Thread | None:
    return next((t for t in threading.enumerate() if t.name == f"lookalike-job-{job_id}"), None)


def wait_thread_gone(job_id: str, seconds: float) -> None:
    found = job_thread(job_id)
    if found is not None:
        found.join(seconds)
        assert not found.is_alive(), "the job's thread still runs"


def start(base: str, path: str) -> dict[str, Any]:
    response = httpx.post(f"{base}{path}", timeout=30)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/api/jobs/{response.json()['job']}"
    return dict(response.json())


def test_a_polled_job_gives_the_groups_the_service_gives(base: str, service: tuple[Any, Any]) -> None:
    from lookalike.types import DuplicateOptions

    job = start(base, "/api/duplicates?threshold=0.95&similar=true")
    assert job["status"] in ("running", "done")
    assert job["params"] == {"threshold": 0.95, "verify": False, "similar": True}
    deadline = time.monotonic() + 120
    while job["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        job = httpx.get(f"{base}/api/jobs/{job['job']}", timeout=30).json()
    assert job["status"] == "done", job
    direct = service[0].duplicates(service[1], DuplicateOptions(threshold=0.95, similar=-1.0))
    assert len(direct.groups) >= 6  # the copies of each photo group together
    got = [sorted(member["path"] for member in group["members"]) for group in job["result"]["groups"]]
    assert got == [sorted(member.name for member in group.members) for group in direct.groups]


@pytest.fixture
def slow() -> Iterator[None]:
    with slowed_pair_checks(PAIR_DELAY):
        yield


def test_a_job_nobody_polls_is_cancelled_and_its_thread_ends(slow: None, base: str) -> None:
    job = start(base, HEAVY)
    assert job_thread(job["job"]) is not None
    wait_thread_gone(job["job"], IDLE + 33)  # never polled: cancelled after IDLE s, stops at the next pair
    body = httpx.get(f"{base}/api/jobs/{job['job']}", timeout=30).json()
    assert body["status"] == "cancelled" and "nobody polled" in body["error"] and body["result"] is None


def test_delete_cancels_and_one_heavy_job_runs_at_a_time(slow: None, base: str) -> None:
    job = start(base, HEAVY)
    second = httpx.post(f"{base}/api/duplicates?threshold=0.5", timeout=30)
    assert second.status_code == 429 and int(second.headers["retry-after"]) >= 1
    assert second.json()["kind"] == "busy" and second.json()["job"] == job["job"]
    cancelled = httpx.delete(f"{base}/api/jobs/{job['job']}", timeout=30)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    wait_thread_gone(job["job"], 30)
    assert httpx.get(f"{base}/api/jobs/{job['job']}", timeout=30).json()["status"] == "cancelled"
    assert httpx.post(f"{base}/api/duplicates?threshold=0.999", timeout=30).status_code == 202  # free again


def test_sigterm_ends_the_server_within_seconds_with_a_job_running(service: tuple[Any, Any], folder: Path,
                                                                   tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "serve.log", "w") as log:
        process = subprocess.Popen([*slow_lookalike(PAIR_DELAY), "serve", str(folder), "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/api/stats", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "lookalike serve did not answer"
            time.sleep(0.25)
        job = start(url, HEAVY)
        time.sleep(1.0)
        assert httpx.get(f"{url}/api/jobs/{job['job']}", timeout=30).json()["status"] == "running"
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=5)  # raises TimeoutExpired when the job holds the server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=20)


def test_shutting_the_app_down_cancels_its_jobs_and_their_threads_end(service: tuple[Any, Any]) -> None:
    with serving(create_app(*service, job_idle_seconds=600)) as url:
        job = start(url, HEAVY)
        assert httpx.get(f"{url}/api/jobs/{job['job']}", timeout=30).json()["status"] == "running"
    wait_thread_gone(job["job"], 10)  # the lifespan's exit cancelled it (else it would check pairs for minutes)


class SlowJoin:
    """The real service whose clusters and outliers runs take `seconds` more after each join cell, and
    which records how each run ended (the steps after the join run only when nobody cancelled)."""

    def __init__(self, service: Any, seconds: float) -> None:
        self._service, self.seconds = service, seconds
        self.ended: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)

    def _run(self, verb: Any, *args: Any, join_progress: Any = None, **kwargs: Any) -> Any:
        def slow(done: int, total: int) -> None:
            time.sleep(self.seconds)

        try:
            found = verb(*args, join_progress=slow, **kwargs)
        except BaseException as exc:
            self.ended.append(type(exc).__name__)
            raise
        self.ended.append("done")
        return found

    def clusters(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._service.clusters, *args, **kwargs)

    def outliers(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._service.outliers, *args, **kwargs)


@pytest.mark.parametrize("path", ["/api/clusters?min_size=2", "/api/outliers?k=3"])
def test_clusters_and_outliers_jobs_stop_mid_way_when_cancelled_or_abandoned(service: tuple[Any, Any],
                                                                             path: str) -> None:
    slowed = SlowJoin(service[0], seconds=IDLE + 2)
    with serving(create_app(slowed, service[1], job_idle_seconds=IDLE)) as url:
        deleted = start(url, path)  # cancelled on request during the join
        assert httpx.delete(f"{url}/api/jobs/{deleted['job']}", timeout=30).json()["status"] == "cancelled"
        wait_thread_gone(deleted["job"], 30)
        abandoned = start(url, path)  # nobody polls it: the watchdog cancels it during the join
        wait_thread_gone(abandoned["job"], 30)
        body = httpx.get(f"{url}/api/jobs/{abandoned['job']}", timeout=30).json()
        assert body["status"] == "cancelled" and "nobody polled" in body["error"] and body["result"] is None
    assert slowed.ended == ["Cancelled", "Cancelled"]  # neither went on past the join
