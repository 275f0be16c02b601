"""Every error a user can cause ends in one line naming the file or argument and the reason, exit 1
(2 for usage errors), never a traceback; values are validated before any work; `--debug` shows the
traceback; one Ctrl-C stops a run with exit 130. Run in-process through the real entry point
(`lookalike.cli.main`), except the signal test, which needs its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lookalike.cli as cli
from lookalike.store import Library
from reliability.hostile_files import picture


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Call the console entry point with arguments: (exit code, stdout, stderr)."""
    monkeypatch.setattr(cli.signal, "signal", lambda *args: None)  # keep pytest's own Ctrl-C handler

    def invoke(*args: object) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["lookalike", *map(os.fspath, args)])  # type: ignore[arg-type]
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def one_line_error(result: tuple[int, str, str], code: int = 1) -> str:
    status, _, err = result
    assert status == code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    for seed in range(5):
        picture(seed).save(root / f"p{seed}.png")
    return root


def test_device_is_validated(run, photos: Path) -> None:  # type: ignore[no-untyped-def]
    assert "not a device" in one_line_error(run("index", photos, "-m", "histogram", "--device", "banana"), 2)
    import torch

    if not torch.cuda.is_available():
        assert "no CUDA GPU" in one_line_error(run("index", photos, "-m", "histogram", "--device", "cuda"), 2)
    assert not (photos / ".lookalike").exists()  # refused before any work


def test_missing_or_wrong_paths_say_so(run, photos: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert "/missing.csv: no such file" in one_line_error(run("eval", photos, "--labels", "/missing.csv",
                                                              "-m", "histogram"))
    assert run("index", photos, "-m", "histogram", "-q")[0] == 0
    assert "does not exist" in one_line_error(run("export", "/no/such/dir/x.parquet", photos))
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1 not really")
    assert "not a readable lookalike export" in one_line_error(run("import", junk, "--library", tmp_path / "l"))
    assert "not a model folder" in one_line_error(run("compare", photos / "p0.png", photos / "p1.png",
                                                      "-m", tmp_path))
    assert "timm has no model 'nonexistent'" in one_line_error(
        run("compare", photos / "p0.png", photos / "p1.png", "-m", "timm:nonexistent"))
    assert "not in the library" in one_line_error(run("remove", photos / "nothere.png", "--folder", photos))
    with Library.open(photos, readonly=True) as library:
        assert library.stats(scan=False).indexed == 5  # nothing was removed


@pytest.mark.parametrize("command", ["pairs", "duplicates", "search"])
def test_a_file_where_a_folder_is_expected(run, photos: Path, command: str) -> None:  # type: ignore[no-untyped-def]
    args = [photos / "p0.png", photos / "p1.png"] if command == "search" else [photos / "p1.png"]
    assert "is a file, not a folder" in one_line_error(run(command, *args, "-m", "histogram", "-q"), 2)


def test_k_and_threshold_values(run, photos: Path) -> None:  # type: ignore[no-untyped-def]
    query = photos / "p0.png"
    for bad in ("2", "nan", "-1.5"):
        assert "not a similarity score" in one_line_error(run("search", query, photos, "--threshold", bad), 2)
    assert "not a similarity score" in one_line_error(run("duplicates", photos, "--threshold", "nan"), 2)
    one_line_error(run("search", query, photos, "-k", "99999999999999999999999"), 2)
    code, out, err = run("search", query, photos, "-m", "histogram", "-k", "1000000000", "-q", "-f", "csv")
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1 + 4  # header + every other image: k capped at the folder


def test_pairs_all_is_refused_before_embedding(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    big = tmp_path / "big"
    big.mkdir()
    for number in range(2001):  # empty files: embedding them would report 2,001 skipped files
        (big / f"{number:04d}.jpg").touch()
    code, _, err = run("pairs", big, "--all", "-m", "histogram", "-q")
    assert "every pair of 2001 images" in one_line_error((code, "", err)) and "--top K" in err
    assert "skipped" not in err
    assert "cannot be combined" in one_line_error(run("pairs", big, "--all", "--top", "3"), 2)


def test_an_emptied_catalog_is_reported_and_never_recreated(run, photos: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("index", photos, "-m", "histogram", "-q")[0] == 0
    catalog = photos / ".lookalike" / "histogram" / "catalog.sqlite"
    for side in catalog.parent.glob("catalog.sqlite-*"):
        side.unlink()
    catalog.write_bytes(b"")
    assert "empty (0 bytes)" in one_line_error(run("status", photos))
    assert "empty (0 bytes)" in one_line_error(run("index", photos, "-m", "histogram", "-q"))
    assert catalog.read_bytes() == b""
    catalog.write_bytes(os.urandom(8192))
    for command in (["status", photos], ["search", photos / "p0.png", photos, "-m", "histogram"],
                    ["index", photos, "-m", "histogram"]):
        assert "not a readable catalog" in one_line_error(run(*command))


def test_debug_shows_the_traceback(run, photos: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception, match="not a folder"):
        run("index", photos / "missing", "-m", "histogram", "--debug")
    assert "not a folder" in one_line_error(run("index", photos / "missing", "-m", "histogram"))


def test_names_with_newlines_stay_on_one_row(run, photos: Path) -> None:  # type: ignore[no-untyped-def]
    picture(9).save(photos / "two\nlines.png")
    assert run("index", photos, "-m", "histogram", "-q")[0] == 0
    code, out, _ = run("search", photos / "p0.png", photos, "-m", "histogram", "-k", "10", "-q")
    assert code == 0 and "two\\nlines.png" in out and len(out.strip().splitlines()) == 1 + 5
    code, out, _ = run("search", photos / "p0.png", photos, "-m", "histogram", "-k", "10", "-q", "-f", "markdown")
    assert code == 0 and len(out.strip().splitlines()) == 2 + 5


def test_one_ctrl_c_stops_a_run(photos: Path) -> None:
    runner = Path(__file__).with_name("paused_cli.py")  # the real CLI, pausing 60 s at each checkpoint
    process = subprocess.Popen([sys.executable, os.fspath(runner), "60", "index", os.fspath(photos), "-m", "histogram",
                                "-q"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                               env=dict(os.environ, HF_HUB_OFFLINE="1"))
    try:
        assert process.stderr is not None
        for line in process.stderr:  # sitting at its first checkpoint for a minute
            if line.startswith("lookalike-checkpoint"):
                break
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        code = process.wait(timeout=30)
        rest = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 130 and time.monotonic() - started < 30
    assert "interrupted" in rest and "Traceback" not in rest
