"""A real PostgreSQL + pgvector for the tests: a private server on a Unix socket in a temporary folder,
started once per session and stopped at the end (see pg_server.py for the two routes)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from pg_server import NoPostgres, start_postgres

_COUNTER = itertools.count()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a running PostgreSQL with pgvector (skipped, saying why, when no route works)."""
    try:
        url, stop = start_postgres()
    except NoPostgres as exc:
        pytest.skip(f"no PostgreSQL with a working pgvector: {exc}")
    try:
        yield url
    finally:
        stop()


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
