"""Helpers of the reliability suite: run the real CLI in a subprocess with a time bound, check for a
one-line error, probe whether tmpfs can be mounted, and compare a library's export with a clean one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

CLI_TIMEOUT = 120  # seconds: a hang (a FIFO opened, a loop followed) fails the test instead of the suite


def run_cli(*args: str | os.PathLike[str], timeout: float = CLI_TIMEOUT,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m lookalike ARGS` with a time bound; output decoded with replacement for odd names."""
    full_env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **(env or {}))
    full_env.pop("LOOKALIKE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "lookalike", *map(os.fspath, args)], capture_output=True, timeout=timeout,
        env=full_env, text=True, errors="replace", stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The command failed with `code` and said why in one `error:` line, without a traceback."""
    assert result.returncode == code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def can_mount_tmpfs(where: Path) -> bool:
    """Whether this process may mount a tmpfs (root, and a kernel/container that allows it)."""
    if os.geteuid() != 0:
        return False
    where.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", os.fspath(where)],
                           capture_output=True, timeout=30)
    if probe.returncode != 0:
        return False
    subprocess.run(["umount", os.fspath(where)], capture_output=True, timeout=30)
    return True


def export_records(library_dir: Path, out: Path) -> dict[bytes, tuple[str, np.ndarray]]:
    """`lookalike export` of a library, read back as exact file name -> (content hash, vector)."""
    import pyarrow.parquet as pq

    result = run_cli("export", out, "--library", library_dir)
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out).to_pylist()
    return {bytes(row["path_bytes"]): (row["hash"], np.asarray(row["vector"], np.float32)) for row in table}


def assert_same_export(got: dict[bytes, tuple[str, np.ndarray]], clean: dict[bytes, tuple[str, np.ndarray]]) -> None:
    """The same files, with the same content hashes and (to float tolerance) the same vectors."""
    assert sorted(got) == sorted(clean)
    for name, (digest, vector) in clean.items():
        assert got[name][0] == digest, name
        np.testing.assert_allclose(got[name][1], vector, atol=1e-6)
