"""Starting `lookalike serve` as a subprocess on a free loopback port, for the browser test and the
benchmark, or an app under uvicorn in a thread (`serving`): wait until it answers, always stop it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_server(args: list[str], log: Path, timeout: float = 180.0) -> Iterator[str]:
    """`lookalike serve ARGS --port P` running; yields its base URL; stopped (and reaped) on exit."""
    with server_process(args, log, timeout) as (base, _):
        yield base


@contextlib.contextmanager
def server_process(args: list[str], log: Path, timeout: float = 180.0, env: dict[str, str] | None = None,
                   launcher: list[str] | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`lookalike serve ARGS --port P` running (with `env` added to this environment; `launcher` in
    place of `python -m lookalike`, e.g. slow_checks.command); yields its base URL and its process
    (which a test may signal); stopped (and reaped) on exit."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    start = launcher or [sys.executable, "-m", "lookalike"]
    with open(log, "w") as out:
        process = subprocess.Popen([*start, "serve", *args, "--port", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, **(env or {})))
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"lookalike serve exited with {process.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{base}/api/stats", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"lookalike serve did not answer within {timeout:.0f} s: {log.read_text()}")
            time.sleep(0.25)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


@contextlib.contextmanager
def serving(app: object, timeout: float = 120.0) -> Iterator[str]:
    """`app` under a real uvicorn on a free loopback port, in a thread of this process; yields its base URL."""
    import threading

    import uvicorn

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


@contextlib.contextmanager
def indexed_service(folder: Path) -> Iterator[tuple[Any, Any]]:
    """A service (fp32 on the CPU) with `folder` indexed by EfficientNet-Lite0, and its library opened
    read-only, as `lookalike serve` opens it."""
    from lookalike.service import Lookalike
    from lookalike.settings import load_settings

    with Lookalike(load_settings(folder, device="cpu", precision="fp32")) as built:
        built.sync(built.library(folder, model="efficientnet-lite0", create=True))
        yield built, built.library(folder, readonly=True)


class PausedDuplicates:
    """The real service, except that a duplicates run pauses `seconds` once per phase (byte copies,
    then near copies), right after it first reports groups of that phase: a test then sees a running
    job's provisional groups without relying on how fast this machine checks pairs."""

    def __init__(self, service: Any, seconds: float = 2.0) -> None:
        self._service, self.seconds = service, seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)

    def duplicates(self, *args: Any, found: Any = None, **kwargs: Any) -> Any:
        paused: set[str] = set()

        def heard(partial: Any) -> None:
            found(partial)
            if partial.phase not in paused and partial.count() > 0:
                paused.add(partial.phase)
                time.sleep(self.seconds)

        return self._service.duplicates(*args, found=heard if found is not None else None, **kwargs)
