"""pairs / duplicates / match / index on the join, end to end in a subprocess, on generated images:
libraries are read without a model, exact copies are found by hash, new duplicates are reported."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import pattern_image
from conftest import run_cli as run
from PIL import Image


def as_json(done: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six generated images plus an exact copy (same bytes) and a near copy (same pixels as PNG)."""
    folder = tmp_path_factory.mktemp("join") / "photos"
    for seed in range(6):
        target = folder / ("a" if seed < 3 else "b") / f"img_{seed}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        pattern_image(seed).save(target, quality=92)
    shutil.copy(folder / "a" / "img_0.jpg", folder / "b" / "exact_copy_of_0.jpg")
    Image.open(folder / "a" / "img_1.jpg").save(folder / "b" / "near_copy_of_1.png")
    return folder


@pytest.fixture(scope="module")
def library(folder: Path, tiny_siglip_dir: Path) -> Path:
    target = folder.parent / "lib"
    run("index", str(folder), "--library", str(target), "-m", str(tiny_siglip_dir), "-q")
    return target


def test_pairs_on_a_library_equal_the_folder_and_say_which_join(library: Path, folder: Path,
                                                                tiny_siglip_dir: Path) -> None:
    stored = run("pairs", "--library", str(library), "--top", "4", "-f", "json")
    embedded = run("pairs", str(folder), "-m", str(tiny_siglip_dir), "--top", "4", "-f", "json")
    assert [(r["a"], r["b"]) for r in as_json(stored)] == [(r["a"], r["b"]) for r in as_json(embedded)]
    assert {Path(str(as_json(stored)[0][k])).name for k in ("a", "b")} in (
        {"img_0.jpg", "exact_copy_of_0.jpg"}, {"img_1.jpg", "near_copy_of_1.png"})
    assert "pairs: exact join over 8 vectors" in stored.stderr
    assert "pairs: exact join" in run("pairs", "--library", str(library), "--exact").stderr


def test_recall_flag_is_checked_and_keeps_the_exact_answer(library: Path) -> None:
    exact = run("pairs", "--library", str(library), "--top", "4", "-f", "json")
    targeted = run("pairs", "--library", str(library), "--top", "4", "-f", "json", "--recall", "0.5")
    assert as_json(targeted) == as_json(exact) and "pairs: exact join over 8 vectors" in targeted.stderr
    for command in (["pairs", "--library", str(library)], ["duplicates", "--library", str(library)]):
        done = run(*command, "--recall", "1.5", check=False)
        assert done.returncode == 2 and "--recall" in done.stderr and "Traceback" not in done.stderr


def test_duplicates_report_exact_then_near_groups(library: Path, folder: Path, tiny_siglip_dir: Path) -> None:
    for source in (["--library", str(library)], [str(folder), "-m", str(tiny_siglip_dir)]):
        done = run("duplicates", *source, "--threshold", "0.99", "-f", "json")
        rows = as_json(done)
        by_group: dict[object, set[tuple[str, object]]] = {}
        for row in rows:
            by_group.setdefault(row["group"], set()).add((Path(str(row["path"])).name, row["kind"]))
        assert by_group == {1: {("img_0.jpg", "exact"), ("exact_copy_of_0.jpg", "exact")},
                            2: {("img_1.jpg", "near"), ("near_copy_of_1.png", "near")}}
        assert all(float(str(row["score"])) >= 0.99 for row in rows)
        assert "duplicates: exact join over 8 vectors" in done.stderr


def test_exact_copies_group_even_above_any_threshold(library: Path) -> None:
    rows = as_json(run("duplicates", "--library", str(library), "--threshold", "1.0", "-f", "json"))
    assert {Path(str(r["path"])).name for r in rows if r["kind"] == "exact"} == {"img_0.jpg", "exact_copy_of_0.jpg"}


NO_TORCH = textwrap.dedent("""
    import sys
    from lookalike.cli import main
    sys.argv = ["lookalike", *sys.argv[1:]]
    try:
        main()
    except SystemExit as exit:
        assert not exit.code, exit.code
    loaded = [m for m in ("torch", "transformers", "timm") if m in sys.modules]
    assert not loaded, loaded
    print("no-model-loaded", file=sys.stderr)
""")


@pytest.mark.parametrize("command", [["pairs", "--top", "2"], ["duplicates"], ["match", "-k", "1"]])
def test_library_commands_import_no_model_stack(library: Path, command: list[str]) -> None:
    sides = ["--library-a", str(library), "--library-b", str(library)] if command[0] == "match" else \
        ["--library", str(library)]
    done = subprocess.run([sys.executable, "-c", NO_TORCH, *command, *sides], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "no-model-loaded" in done.stderr, done.stderr


def test_match_finds_each_image_of_a_in_b(folder: Path, library: Path, tiny_siglip_dir: Path, tmp_path: Path) -> None:
    new = tmp_path / "new"
    new.mkdir()
    shutil.copy(folder / "a" / "img_2.jpg", new / "mine_2.jpg")
    Image.open(folder / "b" / "img_4.jpg").save(new / "mine_4.png")
    pattern_image(99).save(new / "unrelated.jpg")
    top3 = as_json(run("match", str(new), str(folder), "-m", str(tiny_siglip_dir), "-k", "3", "-f", "json"))
    assert len(top3) == 9 and [r["rank"] for r in top3] == [1, 2, 3] * 3
    best = {(Path(str(r["a"])).name, Path(str(r["b"])).name) for r in top3 if r["rank"] == 1}
    assert {("mine_2.jpg", "img_2.jpg"), ("mine_4.png", "img_4.jpg")} <= best
    stored = as_json(run("match", str(new), "--library-b", str(library), "--threshold", "0.99", "-f", "json"))
    assert {(Path(str(r["a"])).name, Path(str(r["b"])).name) for r in stored} == {
        ("mine_2.jpg", "img_2.jpg"), ("mine_4.png", "img_4.jpg")}  # the unrelated image has no match


def test_index_reports_new_files_that_duplicate_indexed_ones(image_folder: Path, tiny_siglip_dir: Path,
                                                             tmp_path: Path) -> None:
    target = tmp_path / "lib"
    model = ["--library", str(target), "-m", str(tiny_siglip_dir), "-q"]
    first = run("index", str(image_folder), *model)
    assert "new files that duplicate indexed ones" not in first.stderr  # nothing was there before
    shutil.copy(image_folder / "a" / "img_0.jpg", image_folder / "copy_0.jpg")
    Image.open(image_folder / "b" / "img_5.jpg").save(image_folder / "copy_5.png")
    pattern_image(77).save(image_folder / "fresh.jpg")
    done = run("index", str(image_folder), *model, "--duplicate-threshold", "0.99", "--report-duplicates",
               "-f", "json")
    assert "new files that duplicate indexed ones: 2 of 3 (1 exact, 1 near)" in done.stderr
    rows = {(Path(str(r["path"])).name, Path(str(r["duplicate_of"])).name, r["kind"]) for r in as_json(done)}
    assert rows == {("copy_0.jpg", "img_0.jpg", "exact"), ("copy_5.png", "img_5.jpg", "near")}
    assert "added=3" in done.stderr


def test_pairs_all_limit_is_checked_before_any_model_is_built(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    tiny = Image.new("RGB", (4, 4))
    for n in range(2001):
        tiny.save(folder / f"{n}.png")
    done = run("pairs", str(folder), "--all", "-m", "no-such-model", check=False)
    assert done.returncode == 1 and "limit 2000 images" in done.stderr and "unknown model" not in done.stderr


def test_library_and_folder_together_is_an_error(library: Path, folder: Path) -> None:
    done = run("pairs", str(folder), "--library", str(library), check=False)
    assert done.returncode == 2 and done.stderr.startswith("error: give either a folder or --library")


PEAK_CLI = textwrap.dedent("""
    import sys
    from lookalike.cli import main

    def peak_kb():  # this process's own high-water mark (ru_maxrss would include a forking parent's)
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

    sys.argv = ["lookalike", *sys.argv[1:]]
    try:
        main()
    except SystemExit as exit:
        assert not exit.code, exit.code
    print(f"peak-kb {peak_kb()}", file=sys.stderr)
""")


def test_pairs_on_a_library_stay_within_vectors_plus_scaled_overhead(tmp_path: Path) -> None:
    """`pairs --library L --top 1000` on 20k x 1280 stored vectors (98 MB): the whole CLI process
    stays under the vectors' size + 1.5 GB scaled to 20k/200k (150 MB) + a fixed 400 MB (the
    interpreter and its imports, about 150 MB, and the join's 256 MiB block budget)."""
    from lookalike.embedders import EmbeddingSpec
    from lookalike.evaluation.synthetic import clustered_vectors
    from lookalike.store.catalog import NewFile
    from lookalike.store.layout import LibraryPaths
    from lookalike.store.library import Library

    count, dim = 20_000, 1280
    vectors = clustered_vectors(count, dim, seed=7)[0]
    spec = EmbeddingSpec(model="synthetic", source="test", dim=dim, preprocessing="none")
    files = [NewFile(f"img_{n}.jpg", 1, 1, f"hash{n}") for n in range(count)]
    with Library.create_from_spec(LibraryPaths(tmp_path / "lib"), tmp_path, spec) as created:
        created.add_vectors(files, vectors)
    del vectors
    done = subprocess.run([sys.executable, "-c", PEAK_CLI, "pairs", "--library", str(tmp_path / "lib"), "--top",
                           "1000", "-f", "csv"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1001 and "pairs: exact join over 20,000 vectors" in done.stderr
    peak_mb = int(done.stderr.split("peak-kb ")[1].split()[0]) / 1024
    bound_mb = count * dim * 4 / 2**20 + 1.5 * 1024 * count / 200_000 + 400
    print(f"peak RSS {peak_mb:.0f} MB, bound {bound_mb:.0f} MB")
    assert peak_mb < bound_mb, (peak_mb, bound_mb)
