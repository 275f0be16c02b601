"""Issue 19's CLI findings end to end, in a subprocess, with the classical histogram model (no torch):
labels that cannot be drawn as they are, partial undo logs, symlinked group members."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pattern_image
from conftest import run_cli as run
from PIL import Image

PAUSED_APPLY = Path(__file__).resolve().parents[1] / "paused_apply.py"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink() and ".lookalike" not in p.parts}


@pytest.fixture
def copies(tmp_path: Path) -> Path:
    """Four pictures, each with an exact copy in sub/ (four groups of two)."""
    root = tmp_path / "copies"
    (root / "sub").mkdir(parents=True)
    for seed in range(4):
        pattern_image(seed, (96, 72)).save(root / f"img_{seed}.png")
        (root / "sub" / f"img_{seed}.png").write_bytes((root / f"img_{seed}.png").read_bytes())
    return root


def test_grid_and_report_draw_a_file_name_with_a_newline(tmp_path: Path) -> None:
    root = tmp_path / "odd"
    root.mkdir()
    pattern_image(1, (96, 72)).save(root / "a.png")
    (root / "b\nc.png").write_bytes((root / "a.png").read_bytes())
    (root / ("long" * 60 + ".png")).write_bytes((root / "a.png").read_bytes())
    grid, report = tmp_path / "g.png", tmp_path / "r.html"
    done = run("duplicates", str(root), "-m", "histogram", "--grid", str(grid), "--report", str(report))
    assert Image.open(grid).size[0] > 0
    assert "b\\nc.png" in done.stdout
    assert "Duplicate groups" in report.read_text()
    assert f"wrote {report}" in done.stderr and f"wrote {grid}" in done.stderr
    report.unlink()
    blocked = tmp_path / "blocked.png"
    blocked.mkdir()  # the grid cannot be written there, the report still is
    failed = run("duplicates", str(root), "-m", "histogram", "--grid", str(blocked), "--report", str(report),
                 check=False)
    assert failed.returncode != 0 and "Duplicate groups" in report.read_text()
    assert failed.stderr.strip().splitlines()[-1].startswith("error:")


def _killed_apply(folder: Path, action: str, pause_after: int) -> None:
    """`duplicates FOLDER --action ACTION --apply`, SIGKILLed right after its Nth file move."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONIOENCODING="utf-8")
    process = subprocess.Popen([sys.executable, str(PAUSED_APPLY), str(pause_after), "duplicates", str(folder),
                                "-m", "histogram", "--action", action, "--apply"], stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True, env=env)
    assert process.stderr is not None
    for line in process.stderr:
        if "lookalike-paused" in line:
            break
    else:
        raise AssertionError(f"apply never paused (exit {process.wait()})")
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize("action", ["hardlink", "symlink"])
def test_undo_without_a_log_reverses_killed_applies_after_the_folder_moved(copies: Path, tmp_path: Path,
                                                                            action: str) -> None:
    before = _files(copies)
    _killed_apply(copies, action, 1)  # one duplicate moved aside, its link not made yet
    _killed_apply(copies, action, 2)  # a second run over what is left: one whole step, then a move
    logs = sorted((copies / ".lookalike" / "undo").glob("*.jsonl"))
    assert len(logs) == 2 and _files(copies) != before
    assert not any(os.path.isabs(json.loads(line)["path"]) for log in logs
                   for line in log.read_text().splitlines()[1:])  # relative to the folder
    moved = tmp_path / "renamed"
    copies.rename(moved)
    done = run("undo", "--folder", str(moved))
    assert "restored 3 file(s)" in done.stderr and done.stderr.count("undone:") == 2
    assert _files(moved) == before
    assert not any(p.is_symlink() for p in moved.rglob("*")) and all(p.stat().st_nlink == 1 for p in
                                                                     moved.rglob("*.png"))
    again = run("undo", "--folder", str(moved), check=False)
    assert again.returncode == 1 and "no unfinished undo logs" in again.stderr


def test_undo_with_no_argument_uses_the_current_directory_and_reads_absolute_logs(copies: Path) -> None:
    before = _files(copies)
    run("duplicates", str(copies), "-m", "histogram", "--action", "move-to", "--to", str(copies / "moved"),
        "--apply")
    log = next((copies / ".lookalike" / "undo").glob("*.jsonl"))
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    for record in lines[1:]:  # as an older lookalike wrote it: absolute paths, no folder
        for key in ("path", "target", "keeper"):
            record[key] = str(copies / record[key])
    lines[0].pop("folder")
    log.write_text("".join(json.dumps(record) + "\n" for record in lines))
    done = subprocess.run([sys.executable, "-m", "lookalike", "undo"], cwd=copies, capture_output=True, text=True,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert done.returncode == 0, done.stderr
    assert "restored 4 file(s)" in done.stderr and _files(copies) == before


def test_apply_skips_a_symlinked_member_and_applies_the_rest(copies: Path) -> None:
    before = _files(copies)
    (copies / "sub" / "img_2.png").unlink()
    (copies / "sub" / "img_2.png").symlink_to(copies / "img_2.png")
    outside = copies.parent / "outside.png"
    outside.write_bytes((copies / "img_3.png").read_bytes())
    (copies / "sub" / "img_3.png").unlink()
    (copies / "sub" / "img_3.png").symlink_to(outside)
    (copies / "img_4.png").symlink_to(outside)
    dry = run("duplicates", str(copies), "-m", "histogram", "--action", "hardlink")
    assert "dry run: 2 file(s) would change" in dry.stderr and "is a symlink; skipped" in dry.stderr
    done = run("duplicates", str(copies), "-m", "histogram", "--action", "hardlink", "--apply")
    assert "changed 2 file(s)" in done.stderr, done.stderr
    skipped = [line for line in done.stderr.splitlines() if line.startswith("skipped:")]
    assert skipped and all("symlink" in line for line in skipped)
    assert (copies / "sub" / "img_0.png").stat().st_nlink == 2 and (copies / "sub" / "img_1.png").stat().st_nlink == 2
    assert (copies / "sub" / "img_2.png").is_symlink()
    run("undo", str(next((copies / ".lookalike" / "undo").glob("*.jsonl"))))
    assert {k: v for k, v in _files(copies).items()} == {k: v for k, v in before.items()
                                                           if k not in ("sub/img_2.png", "sub/img_3.png")}


def test_version_and_case_insensitive_formats(copies: Path) -> None:
    from lookalike import __version__

    assert run("--version").stdout.strip() == f"lookalike {__version__}" == "lookalike 0.1.0"
    a, b = copies / "img_0.png", copies / "sub" / "img_0.png"
    assert json.loads(run("compare", str(a), str(b), "-m", "histogram", "-f", "JSON").stdout)[0]["score"] > 0.99
    assert run("compare", str(a), str(b), "-m", "histogram", "--format", "Csv").stdout.startswith("a,b,score")


def test_no_help_shows_a_value_type_beside_a_flag() -> None:
    import typer
    from typer.testing import CliRunner

    from lookalike.cli import app

    def walk(command: object, prefix: list[str]) -> list[list[str]]:
        found = [prefix]
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            found += walk(sub, [*prefix, name])
        return found

    commands = walk(typer.main.get_command(app), [])
    assert len(commands) > 15
    for words in commands:
        shown = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "120"})
        assert shown.exit_code == 0 and "--help" in shown.output
        assert "<bool>" not in shown.output, words


def test_plain_progress_lines_when_stderr_is_no_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from lookalike.cli.common import PlainProgress

    ticks = iter([0.0, 1.0, 5.5, 6.0, 12.0, 13.0])
    progress = PlainProgress("embedding", every=5.0, clock=lambda: next(ticks))
    for done in (0, 100, 500, 600, 1500, 2000):
        progress(done, 2000)
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["embedding: 500/2000 images", "embedding: 1500/2000 images", "embedding: 2000/2000 images"]
    quick = PlainProgress("embedding", clock=iter([0.0, 0.5]).__next__)
    quick(1, 2)
    quick(2, 2)
    assert capsys.readouterr().err == ""  # a short run prints nothing


def test_text_query_on_an_image_only_model_is_refused_before_it_loads(copies: Path) -> None:
    # dinov2-small is not in this test's (empty) model cache: refusing it must not need its weights
    done = run("search", "--text", "a dog", str(copies), "-m", "dinov2-small", check=False)
    assert done.returncode == 1 and "has no text tower" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_duplicates_skips_saving_groups_while_a_writer_holds_the_library(copies: Path) -> None:
    from lookalike.store.layout import locate
    from lookalike.store.lock import writer_lock

    run("index", str(copies), "-m", "histogram", "-q")
    paths = locate(copies / ".lookalike", "histogram", "histogram")
    with writer_lock(paths.lock):  # as a running `index` holds it
        busy = run("duplicates", "--library", str(copies / ".lookalike"), "-m", "histogram")
    assert "note: groups not saved" in busy.stderr and "distinct --group" not in busy.stderr.split("note:")[0]
    assert "img_0.png" in busy.stdout  # the answer itself is unaffected
    free = run("duplicates", str(copies), "-m", "histogram")
    assert "note: groups not saved" not in free.stderr and "lookalike distinct --group N" in free.stderr


def test_one_flipped_byte_in_the_index_is_caught_and_the_index_rebuilt(copies: Path) -> None:
    run("index", str(copies), "-m", "histogram", "-q")
    query = copies / "img_1.png"
    expected = run("search", str(query), str(copies), "-m", "histogram", "-k", "3", "-f", "csv").stdout
    index_file = next((copies / ".lookalike").rglob("vectors.faiss"))
    data = bytearray(index_file.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one vector
    index_file.write_bytes(bytes(data))
    got = run("search", str(query), str(copies), "-m", "histogram", "-k", "3", "-f", "csv")
    assert got.stdout == expected and "checksum" in got.stderr
    manifest = json.loads((index_file.parent / "manifest.json").read_text())
    assert manifest["checksum"].startswith("sha256:")
    import hashlib

    assert "sha256:" + hashlib.sha256(index_file.read_bytes()).hexdigest() == manifest["checksum"]  # rebuilt


def test_undo_reads_a_log_whose_last_record_was_cut_short(copies: Path, tmp_path: Path) -> None:
    before = _files(copies)
    log = tmp_path / "elsewhere" / "undo.jsonl"  # outside the folder: the log names the folder
    run("duplicates", str(copies), "-m", "histogram", "--action", "move-to", "--to", str(copies / "moved"),
        "--apply", "--undo-log", str(log))
    with log.open("a") as handle:
        handle.write('{"group": 9, "action": "move-to", "pa')  # a kill in the middle of writing a record
    done = run("undo", str(log))
    assert "restored 4 file(s)" in done.stderr and _files(copies) == before
    assert log.with_name("undo.jsonl.undone").is_file()


def test_search_grid_draws_a_query_named_with_a_newline(copies: Path, tmp_path: Path) -> None:
    query = tmp_path / "odd\nquery.png"
    query.write_bytes((copies / "img_2.png").read_bytes())
    grid, report = tmp_path / "s.png", tmp_path / "s.html"
    done = run("search", str(query), str(copies), "-m", "histogram", "-k", "2", "--grid", str(grid),
               "--report", str(report))
    assert Image.open(grid).size[0] > 0 and report.is_file() and "img_2.png" in done.stdout
