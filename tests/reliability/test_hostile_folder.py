"""A folder of every hostile file kind next to good images: each command finishes within a time bound,
`index` indexes every good image and records one reason per bad file, and nothing else is listed.
Also: unreadable folders and files are reported and never taken as deleted, and files that vanish or
change during a run are handled."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lookalike.embedders import create_embedder
from lookalike.images import find_images, load_image
from lookalike.store import Library
from reliability.harness import assert_one_line_error, run_cli
from reliability.hostile_files import HostileSet, encoded, make_hostile_folder, picture


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[HostileSet]:
    found = make_hostile_folder(tmp_path / "hostile")
    yield found
    found.close()


def _catalog(root: Path) -> dict[str, tuple[str, str | None]]:
    with Library.open(root, readonly=True) as library:
        return {rel: (row.status, row.error) for rel, row in library.catalog.rows().items()}


def test_index_of_a_hostile_folder_indexes_every_good_file_and_one_reason_per_bad(hostile: HostileSet,
                                                                                 stress) -> None:
    result = run_cli("index", hostile.root, "-m", "histogram", "-q")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    rows = _catalog(hostile.root)
    stress.inputs += len(hostile.good) + len(hostile.bad) + len(hostile.unlisted)
    assert sorted(rel for rel, (status, _) in rows.items() if status == "indexed") == sorted(hostile.good)
    failed = {rel: error for rel, (status, error) in rows.items() if status == "failed"}
    assert sorted(failed) == sorted(hostile.bad)
    for rel, expected in hostile.bad.items():
        assert failed[rel] and expected in failed[rel], (rel, failed[rel])
        assert "\n" not in failed[rel]
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == len(hostile.bad)  # one line per bad file, even for a name with a newline
    again = run_cli("index", hostile.root, "-m", "histogram", "-q", "--format", "json")
    assert again.returncode == 0 and '"added": 0' in again.stdout and '"failed": 0' in again.stdout


@pytest.mark.parametrize("command", [
    ["status"],
    ["pairs", "-m", "histogram", "-q"],
    ["duplicates", "-m", "histogram", "-q"],
    ["search", "QUERY", "-m", "histogram", "-q"],
])
def test_folder_commands_finish_on_a_hostile_folder(hostile: HostileSet, command: list[str]) -> None:
    if command[0] == "status":
        assert run_cli("index", hostile.root, "-m", "histogram", "-q").returncode == 0
    args = [hostile.root / "good" / "photo_0.png" if a == "QUERY" else a for a in command]
    result = run_cli(args[0], *args[1:], hostile.root) if command[0] != "search" else \
        run_cli("search", args[1], hostile.root, *args[2:])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    if command[0] != "status":
        assert f"{len(hostile.bad)} file(s) skipped" in result.stderr


def test_no_special_file_is_ever_opened(hostile: HostileSet, monkeypatch: pytest.MonkeyPatch) -> None:
    """Listing and decoding never call open() on a FIFO, device or socket (it would block or stream)."""
    import builtins
    import stat

    real_open, real_os_open = builtins.open, os.open
    special_opens: list[object] = []  # recorded, not raised: decode turns any exception into a reason

    def check(path: object) -> None:
        if isinstance(path, str | bytes | os.PathLike) and os.path.exists(path):
            mode = os.stat(path).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                special_opens.append(path)

    def guarded_builtin(path: object, *args: object, **kwargs: object) -> object:
        check(path)
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    def guarded_os(path: object, *args: object, **kwargs: object) -> int:
        check(path)
        return real_os_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "open", guarded_builtin)
    monkeypatch.setattr(os, "open", guarded_os)
    listed = find_images(hostile.root)
    for path in listed:
        try:
            load_image(path)
        except Exception as exc:  # noqa: BLE001
            assert type(exc).__name__ == "ImageReadError", (path, exc)
    monkeypatch.undo()
    assert special_opens == []
    assert {p.relative_to(hostile.root).as_posix() for p in listed} == set(hostile.good) | set(hostile.bad)


def test_compare_and_search_with_a_looping_or_special_query_say_why(hostile: HostileSet) -> None:
    good = hostile.root / "good" / "photo_0.png"
    for query, reason in [("special/loop_a.jpg", "link loop"), ("special/pipe.jpg", "named pipe"),
                          ("special/zero.jpg", "device")]:
        compared = run_cli("compare", hostile.root / query, good, "-m", "histogram")
        assert reason in assert_one_line_error(compared, 2)  # a usage error: the argument is not an image file
        searched = run_cli("search", hostile.root / query, hostile.root / "good", "-m", "histogram", "-q")
        assert reason in assert_one_line_error(searched, 2)


# unreadable folders and files ---------------------------------------------------------------------
@pytest.fixture
def indexed(tmp_path: Path) -> Iterator[Library]:
    root = tmp_path / "photos"
    for seed in range(6):
        target = root / ("inner" if seed < 3 else "outer") / f"p{seed}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        picture(seed).save(target)
    library = Library.open(root, model=create_embedder("histogram"), create=True)
    library.sync()
    yield library
    library.close()


def _deny_listing(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """As root chmod cannot stop a listing, so the kernel's answer is simulated for one folder."""
    real_scandir = os.scandir

    def scandir(path: object = ".") -> object:
        if os.fspath(path) == os.fspath(folder):  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", os.fspath(folder))  # type: ignore[arg-type]
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)


def test_an_unreadable_subfolder_is_reported_and_its_rows_are_kept(indexed: Library,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    inner = indexed.root / "inner"
    if os.geteuid() == 0:
        _deny_listing(monkeypatch, inner)
    else:
        inner.chmod(0)
    try:
        report = indexed.sync()
        stats = indexed.stats()
    finally:
        inner.chmod(0o755)
    assert report.deleted == 0 and stats.indexed == 6 and stats.missing == 0
    assert [str(p.path) for p in report.unreadable] == [str(inner)]
    assert "unreadable folder" in report.unreadable[0].reason


def test_an_unreadable_file_keeps_its_vector(indexed: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = indexed.root / "outer" / "p4.png"
    before = dict(zip(*indexed.vectors(), strict=True))[victim]
    victim.chmod(0)  # changes the ctime, so the file is looked at again
    real_os_open = os.open

    def denied(path: object, *args: object, **kwargs: object) -> int:
        if os.fspath(path) == os.fspath(victim):  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", os.fspath(victim))
        return real_os_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", denied)  # root reads mode-000 files: simulate the refusal
    report = indexed.sync()
    assert report.deleted == 0 and report.embedded == 0
    assert [str(p.path) for p in report.unreadable] == [str(victim)]
    vectors = dict(zip(*indexed.vectors(), strict=True))
    np.testing.assert_array_equal(vectors[victim], before)


def test_files_that_vanish_or_change_during_a_run(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    for seed in range(12):
        picture(seed).save(root / f"p{seed:02d}.png")
    vanishing, changing = root / "p11.png", root / "p10.png"
    inner = create_embedder("histogram")

    class Saboteur(type(inner)):  # type: ignore[misc]
        """After the first batch: delete one file not yet decoded and rewrite another."""

        batches = 0

        def _embed_prepared(self, items):  # type: ignore[no-untyped-def]
            Saboteur.batches += 1
            if Saboteur.batches == 1:
                vanishing.unlink()
                changing.write_bytes(encoded(picture(99), "PNG"))
            return super()._embed_prepared(items)

    from lookalike.pipeline import PipelineOptions

    with Library.open(root, model=Saboteur(), create=True) as library:
        first = library.sync(options=PipelineOptions(batch_size=2, workers=1))
        assert [Path(f.path).name for f in first.failures] == ["p11.png"]
        second = library.sync(options=PipelineOptions(batch_size=2, workers=1))
        assert second.deleted == 1 and second.updated == 1  # the vanished row goes, the changed file is redone
        paths, vectors = library.vectors()
        fresh = dict(zip(paths, vectors, strict=True))[changing]
        expected = inner.embed_prepared([inner.prepare(load_image(changing, inner.decode_options))])[0]
        np.testing.assert_allclose(fresh, expected, atol=1e-6)
        assert len(paths) == 11
