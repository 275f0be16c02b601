"""Duplicates that mean the same photo: quality on probe sets and the cost of a run, as a user runs it.

    python benchmarks/duplicates_quality.py --data ../shared/data [--model efficientnet-lite0]
        [--objects 125] [--class-name cat] [--class-images 1000] [--scale 4000]
        [--parts quality,homogeneous,scale,pairs] [--sets easy,hard] [--save DIR]

Probe sets (seeded, built under a scratch folder from ukbench-a): for each object its first shot, an
edited copy of it (crop 75-90% per side, resize 0.6x, brightness/contrast +-20%, JPEG q35-70, every
other one mirrored; "hard": crop 55-70%, rotated 90/180/270, a caption) and its three other shots. A
shot is another photo: it belongs with nothing. Printed: copies found (in the near group of their
original), other shots in a near group with their object's original or copy, and groups mixing
different photos; at defaults on the easy set and with --invariant --verify on the hard set.

Homogeneous folder: one CIFAR-10 test class (32x32 pictures of one kind) with edited copies of its
first tenth mixed in.

Pairs (not run by default): the pair-level probe of benchmarks/duplicate_pairs.py on the same probe
sets: per candidate rule, copies and other shots confirmed.

Scale: N indexed images (ukbench-a, its edited copies, CIFAR-10 test images), then `duplicates` run
twice as separate processes: wall seconds and peak RSS of the first run (no stored verdicts) and the
second (verdicts reused). Indexing is not timed.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from lookalike.dedupe.editset import edit

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> tuple[str, float, float, float]:
    """Run `lookalike ARGS` in a child process: (stdout, wall seconds, peak RSS in MB, CPU seconds (user +
    system, every thread) of that child; CPU seconds say what a run costs on a machine shared with others)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    code = ("import resource, runpy, sys; sys.argv = ['lookalike', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('lookalike', run_name='__main__')\n"
            "finally:\n    used = resource.getrusage(resource.RUSAGE_SELF)\n"
            "    sys.stderr.write(f'\\nRSS {used.ru_maxrss} CPU {used.ru_utime + used.ru_stime}\\n')")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"lookalike {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    rss = [line for line in done.stderr.splitlines() if line.startswith("RSS ")]
    summary = [line for line in done.stderr.splitlines() if line.startswith(("duplicates:", "budget"))]
    for line in summary:
        print("   ", line)
    if not rss:
        return done.stdout, wall, float("nan"), float("nan")
    fields = rss[-1].split()
    return done.stdout, wall, int(fields[1]) / 1024, float(fields[3])


def groups_of(table: str) -> list[tuple[str, list[str]]]:
    """(weakest kind, member file names) per group of `duplicates -f csv`."""
    found: dict[str, list[tuple[str, str]]] = {}
    for row in csv.DictReader(io.StringIO(table)):
        found.setdefault(row["group"], []).append((row["kind"], Path(row["path"]).name))
    order = {"exact": 0, "near": 1, "similar": 2}
    return [(max((k for k, _ in rows), key=order.__getitem__), [n for _, n in rows]) for rows in found.values()]


def probe_set(labels: Path, out: Path, objects: int, hard: bool, seed: int) -> None:
    """Write `oNNN_orig.jpg`, `oNNN_copy.jpg` and `oNNN_shotK.jpg` for the first `objects` objects."""
    shots: dict[int, list[Path]] = {}
    with labels.open(newline="") as handle:
        for row in csv.DictReader(handle):
            shots.setdefault(int(row["group"]), []).append(labels.parent / row["path"])
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True)
    for number, group in enumerate(sorted(shots)[:objects]):
        first, *others = shots[group]
        with Image.open(first) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        shutil.copyfile(first, out / f"o{group:04d}_orig.jpg")
        (out / f"o{group:04d}_copy.jpg").write_bytes(edit(image, rng, hard=hard, mirror=number % 2 == 1))
        for k, other in enumerate(others, 1):
            shutil.copyfile(other, out / f"o{group:04d}_shot{k}.jpg")


def score_probe(groups: list[tuple[str, list[str]]], objects: int) -> str:
    """Copies found, other shots wrongly grouped, groups mixing different photos."""
    near = [members for kind, members in groups if kind in ("exact", "near")]
    group_of = {name: n for n, members in enumerate(near) for name in members}
    found = sum(1 for name, n in group_of.items() if name.endswith("_copy.jpg")
                and group_of.get(name.replace("_copy", "_orig")) == n)
    shots = [name for name in group_of if "_shot" in name]
    mixed = sum(1 for members in near if len({m.replace("_copy", "_orig") for m in members}) > 1)
    return (f"copies found {found}/{objects} ({found / objects:.1%}); other shots in near groups "
            f"{len(shots)}/{3 * objects} ({len(shots) / (3 * objects):.1%}); groups mixing photos {mixed}/"
            f"{len(near)} ({mixed / max(len(near), 1):.1%})")


def quality(data: Path, model: str, objects: int, scratch: Path, sets: str = "easy,hard",
            save: Path | None = None) -> None:
    """The easy set at defaults and the hard one with --invariant --verify (those of `sets`); each
    run's CSV table and folder also under `save` when given."""
    labels = data / "ukbench-a" / "labels.csv"
    for name, hard, flags in (("easy set, defaults", False, []), ("hard set, --invariant --verify", True,
                                                                   ["--invariant", "--verify"])):
        if ("hard" if hard else "easy") not in sets.split(","):
            continue
        folder = (save or scratch) / ("hard" if hard else "easy")
        probe_set(labels, folder, objects, hard, seed=1 if hard else 0)
        cli("index", str(folder), "-m", model, "--quiet")
        table, wall, rss, _ = cli("duplicates", str(folder), "-m", model, "-f", "csv", "--quiet", *flags)
        if save is not None:
            (save / f"{folder.name}.csv").write_text(table)
        print(f"{name}: {score_probe(groups_of(table), objects)}; {wall:.1f} s, {rss:.0f} MB")


def homogeneous(data: Path, model: str, class_name: str, count: int, scratch: Path) -> None:
    source = sorted((data / "cifar10-test" / class_name).glob("*.jpg"))[:count]
    folder = scratch / f"cifar-{class_name}"
    folder.mkdir()
    rng = np.random.default_rng(3)
    copies = len(source) // 10
    for number, path in enumerate(source):
        shutil.copyfile(path, folder / f"p{number:04d}_orig.jpg")
        if number < copies:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
            (folder / f"p{number:04d}_copy.jpg").write_bytes(edit(image, rng, mirror=number % 2 == 1))
    cli("index", str(folder), "-m", model, "--quiet")
    table, wall, rss, _ = cli("duplicates", str(folder), "-m", model, "-f", "csv", "--quiet")
    groups = [members for kind, members in groups_of(table) if kind in ("exact", "near")]
    group_of = {name: n for n, members in enumerate(groups) for name in members}
    found = sum(1 for name, n in group_of.items() if name.endswith("_copy.jpg")
                and group_of.get(name.replace("_copy", "_orig")) == n)
    mixed = sum(1 for members in groups if len({m.replace("_copy", "_orig") for m in members}) > 1)
    print(f"homogeneous ({len(source)} CIFAR-10 '{class_name}' + {copies} edited copies): copies found "
          f"{found}/{copies} ({found / max(copies, 1):.1%}); groups mixing photos {mixed}/{len(groups)}; "
          f"{wall:.1f} s, {rss:.0f} MB")


def scale(data: Path, model: str, count: int, scratch: Path) -> None:
    folder = scratch / f"scale-{count}"
    probe_set(data / "ukbench-a" / "labels.csv", folder, 125, hard=False, seed=5)
    have = len(list(folder.iterdir()))
    cifar = sorted((data / "cifar10-test").glob("*/*.jpg"))[: max(0, count - have)]
    for number, path in enumerate(cifar):
        shutil.copyfile(path, folder / f"c{number:05d}.jpg")
    started = time.perf_counter()
    cli("index", str(folder), "-m", model, "--quiet")
    total = len(list(folder.glob("*.jpg")))
    print(f"scale: {total} images indexed in {time.perf_counter() - started:.0f} s (not counted)")
    for run in ("first run", "second run"):
        table, wall, rss, cpu = cli("duplicates", str(folder), "-m", model, "-f", "csv", "--quiet")
        print(f"scale {total}, {run}: {wall:.1f} s wall, {cpu:.1f} CPU s (process start included), "
              f"peak RSS {rss:.0f} MB, "
              f"{len(groups_of(table))} groups")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--objects", type=int, default=125)
    parser.add_argument("--class-name", default="cat")
    parser.add_argument("--class-images", type=int, default=1000)
    parser.add_argument("--scale", type=int, default=4000)
    parser.add_argument("--parts", default="quality,homogeneous,scale")
    parser.add_argument("--sets", default="easy,hard", help="the quality part's probe sets")
    parser.add_argument("--save", type=Path, help="keep the quality part's folders and CSV tables here (new folder)")
    args = parser.parse_args()
    if not (args.data / "ukbench-a" / "labels.csv").is_file():
        raise SystemExit(f"{args.data}: no ukbench-a/labels.csv (give --data ../shared/data)")
    parts = set(args.parts.split(","))
    print(f"load: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; model {args.model}")
    with tempfile.TemporaryDirectory() as scratch:
        if "quality" in parts:
            quality(args.data, args.model, args.objects, Path(scratch), args.sets, args.save)
        if "homogeneous" in parts:
            homogeneous(args.data, args.model, args.class_name, args.class_images, Path(scratch))
        if "scale" in parts:
            scale(args.data, args.model, args.scale, Path(scratch))
        if "pairs" in parts:
            from duplicate_pairs import pairs

            pairs(args.data, args.objects, Path(scratch))


if __name__ == "__main__":
    main()
