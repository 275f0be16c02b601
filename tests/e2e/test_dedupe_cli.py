"""`duplicates` actions, `undo`, `distinct` and `calibrate` end to end, in a subprocess, with the
classical histogram model (no torch) on generated images."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_image
from conftest import run_cli as run
from PIL import Image, ImageEnhance


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink() and ".lookalike" not in p.parts}


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Six distinct pictures, an exact copy of one, and a brightened copy of another."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for seed in range(6):
        pattern_image(seed, (96, 72)).save(root / f"img_{seed}.png")
    (root / "sub" / "img_0_copy.png").write_bytes((root / "img_0.png").read_bytes())
    ImageEnhance.Brightness(pattern_image(1, (96, 72))).enhance(1.03).save(root / "img_1_edit.png")
    return root


def _groups(rows: list[dict[str, object]]) -> list[set[str]]:
    groups: dict[object, set[str]] = {}
    for row in rows:
        groups.setdefault(row["group"], set()).add(Path(str(row["path"])).name)
    return list(groups.values())


def test_duplicates_kinds_keeper_and_action_apply_undo(photos: Path, tmp_path: Path) -> None:
    before = _files(photos)
    shown = run("duplicates", str(photos), "-m", "histogram", "--threshold", "0.97", "-f", "json",
                "--action", "hardlink")
    rows = json.loads(shown.stdout)
    assert {"img_0.png", "img_0_copy.png"} in _groups(rows) and {"img_1.png", "img_1_edit.png"} in _groups(rows)
    kinds = {Path(r["path"]).name: r["kind"] for r in rows}
    assert kinds["img_0_copy.png"] == "exact" and kinds["img_1_edit.png"] == "near"
    assert sum(r["keeper"] == "keep" for r in rows) == 2
    assert "dry run: 2 file(s) would change" in shown.stderr
    assert _files(photos) == before  # the dry run touched nothing
    log = tmp_path / "undo.jsonl"
    applied = run("duplicates", str(photos), "-m", "histogram", "--threshold", "0.97", "--action", "hardlink",
                  "--apply", "--undo-log", str(log))
    assert f"lookalike undo {log}" in applied.stderr
    linked = [p for p in photos.rglob("*.png") if p.stat().st_nlink > 1]
    assert len(linked) >= 3  # two duplicates now share their keepers' inodes
    run("undo", str(log))
    assert _files(photos) == before
    assert all(p.stat().st_nlink == 1 for p in photos.rglob("*.png"))
    assert not any(p.is_symlink() for p in photos.rglob("*"))


def test_move_to_needs_a_destination_and_apply_needs_an_action(photos: Path) -> None:
    failed = run("duplicates", str(photos), "-m", "histogram", "--action", "move-to", check=False)
    assert failed.returncode == 2 and "error: --action move-to needs --to DIR" in failed.stderr  # a usage error
    failed = run("duplicates", str(photos), "-m", "histogram", "--apply", check=False)
    assert failed.returncode == 2 and "--apply needs --action" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_distinct_survives_reindex_and_splits_the_group(photos: Path) -> None:
    run("index", str(photos), "-m", "histogram", "-q")
    rows = json.loads(run("duplicates", str(photos), "--threshold", "0.97", "-f", "json").stdout)
    assert {"img_1.png", "img_1_edit.png"} in _groups(rows)
    run("distinct", str(photos / "img_1.png"), str(photos / "img_1_edit.png"))
    (photos / "img_1_edit.png").rename(photos / "sub" / "renamed.png")  # a move: re-indexed by content
    run("index", str(photos), "-q")
    rows = json.loads(run("duplicates", str(photos), "--threshold", "0.97", "-f", "json").stdout)
    assert not any({"img_1.png", "renamed.png"} <= group for group in _groups(rows))
    assert {"img_0.png", "img_0_copy.png"} in _groups(rows)  # other groups unaffected


def test_distinct_by_group_id_of_the_last_run(photos: Path) -> None:
    run("index", str(photos), "-m", "histogram", "-q")
    shown = run("duplicates", str(photos), "--threshold", "0.97", "-f", "json")
    rows = json.loads(shown.stdout)
    assert "distinct --group N" in shown.stderr
    by_id: dict[object, set[str]] = {}
    for row in rows:
        by_id.setdefault(row["group"], set()).add(Path(str(row["path"])).name)
    chosen = next(number for number, names in by_id.items() if names == {"img_1.png", "img_1_edit.png"})
    missing = run("distinct", "--group", str(len(by_id) + 1), str(photos), check=False)
    assert missing.returncode == 2 and f"no duplicate group {len(by_id) + 1}" in missing.stderr
    mixed = run("distinct", "--group", "1", str(photos / "img_1.png"), check=False)
    assert mixed.returncode == 2 and "--group" in mixed.stderr
    assert "recorded 1 distinct pair" in run("distinct", "--group", str(chosen), str(photos)).stderr
    # a subfolder without a library of its own is not its parent's library
    nowhere = run("distinct", "--group", "1", str(photos / "sub"), check=False)
    assert nowhere.returncode == 1 and "no library" in nowhere.stderr
    after = _groups(json.loads(run("duplicates", str(photos), "--threshold", "0.97", "-f", "json").stdout))
    assert not any({"img_1.png", "img_1_edit.png"} <= group for group in after)
    assert {"img_0.png", "img_0_copy.png"} in after


def test_index_reports_an_edited_copy_by_the_calibrated_decision(tmp_path: Path) -> None:
    """index's check-on-add uses the model's calibration like duplicates: an edited copy (crop, resize,
    colour, JPEG) of an indexed photo is reported, a new different photo is not."""
    from PIL import ImageEnhance
    from skimage import data

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        Image.fromarray(getattr(data, name)()).convert("RGB").save(folder / f"{name}.jpg", quality=90)
    run("index", str(folder), "-m", "efficientnet-lite0", "-q")
    astronaut = Image.open(folder / "astronaut.jpg")
    copy = astronaut.crop((30, 20, 450, 480)).resize((252, 276))
    ImageEnhance.Brightness(copy).enhance(1.2).save(folder / "edited.jpg", quality=45)
    Image.fromarray(data.camera()).convert("RGB").save(folder / "camera.jpg", quality=90)
    done = run("index", str(folder), "--report-duplicates", "-f", "json", "-q")
    assert "new files that duplicate indexed ones: 1 of 2 (0 exact, 1 near)" in done.stderr
    rows = json.loads(done.stdout)
    assert [(Path(str(r["path"])).name, Path(str(r["duplicate_of"])).name, r["kind"]) for r in rows] == [
        ("edited.jpg", "astronaut.jpg", "near")]
    assert float(rows[0]["score"]) < 0.872  # below the accept threshold: the keypoint check confirmed it


def test_calibrate_prints_the_f1_optimal_threshold_and_saves_it(photos: Path, tmp_path: Path) -> None:
    from lookalike.dedupe.calibration import best_f1_threshold
    from lookalike.embedders import create_embedder
    from lookalike.similarity.query import embed_image

    names = sorted(p.relative_to(photos).as_posix() for p in photos.rglob("*.png"))
    rng = np.random.default_rng(0)
    pairs = [("img_0.png", "sub/img_0_copy.png", "same"), ("img_1.png", "img_1_edit.png", "same")]
    pairs += [(a, b, "different") for a, b in (rng.choice(names, 2, replace=False) for _ in range(12))
              if a.split("_")[1][0] != b.split("_")[1][0]]
    pairs += [("img_2.png", "img_3.png", "same")]  # a user's label the model disagrees with
    csv_path = photos / "pairs.csv"
    csv_path.write_text("a,b,label\n" + "".join(f"{a},{b},{label}\n" for a, b, label in pairs))
    embedder = create_embedder("histogram")
    scores = np.array([float(embed_image(photos / a, embedder) @ embed_image(photos / b, embedder))
                       for a, b, _ in pairs])
    expected = best_f1_threshold(scores, np.array([label == "same" for *_, label in pairs]))
    brute = max(((2 * ((scores >= t) & (np.array([lab == "same" for *_, lab in pairs]))).sum()
                  / ((scores >= t).sum() + 3)), t) for t in np.unique(scores))
    assert expected.f1 == pytest.approx(brute[0])
    run("index", str(photos), "-m", "histogram", "-q")
    library = photos / ".lookalike"
    shown = run("calibrate", str(csv_path), "--library", str(library), "--save", "-f", "csv")
    row = next(csv.DictReader(io.StringIO(shown.stdout)))
    assert float(row["threshold"]) == pytest.approx(expected.threshold, abs=1e-4)
    assert float(row["f1"]) == pytest.approx(expected.f1, abs=1e-4)
    assert "saved" in shown.stderr
    used = run("duplicates", "--library", str(library), "-f", "json")
    assert "the library's calibration" in used.stderr and f"candidate {expected.threshold:.3f}" in used.stderr
