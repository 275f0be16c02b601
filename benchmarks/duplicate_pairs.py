"""Pair-level probe for the photo-level duplicate check: which evidence tells an edited copy of a photo
from another shot of the same scene (UKBench's consecutive shots are burst-like: almost the same place).

    python benchmarks/duplicate_pairs.py --data ../shared/data [--objects 125] [--seed 0]
    (or: python benchmarks/duplicates_quality.py --data ../shared/data --parts pairs)

The probe sets are the ones `duplicates_quality.py` builds (easy: crop 75-90%, resize 0.6x,
brightness/contrast, JPEG, every other one mirrored; hard: crop 55-70%, rotated, a caption). Pairs:
each copy against its original; each of the three other shots against the original and the copy
("shot pairs", another photo), and the shots against each other ("shot-shot", what makes a group mix
two photos). For every pair and orientation the keypoint alignment of `lookalike.dedupe.verify` is
measured with extra evidence (among it the perspective of `lookalike.dedupe.viewpoint`: a homography's
gain over an affine fit of the inliers, and the agreement of the pixels compared a onto b as before
the larger frame); a rule confirms a pair when either orientation passes it. Printed per rule: copies
confirmed, shot pairs confirmed, shot-shot pairs confirmed, on each set. `--seed N` builds other copies
of the same photos (easy seed N, hard N + 1) to check thresholds on pairs they were not chosen on.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from lookalike.dedupe.features import Features, load_features
from lookalike.dedupe.verify import VerifyOptions, _aligned, _ncc, agreement, align, check_pair, residuals
from lookalike.dedupe.viewpoint import perspective

Measure = dict[str, float]
Rule = Callable[[Measure], bool]


def measure(a: Features, b: Features, mirrored: bool, options: VerifyOptions) -> Measure:
    """Everything a rule may look at, for one orientation (inliers 0 when no transform); `options`
    should carry no fit limit (max_error and max_perspective infinite), the rules apply their own."""
    found = align(a, b, mirrored, options)
    if found is None:
        return {"inliers": 0, "ncc": -1.0, "median": 1.0, "p80": 1.0, "affine80": 1.0, "tight": 0.0,
                "trimmed": -1.0, "tiles": -1.0, "tiles2": -1.0, "F": 0.0, "shift": 0.0, "ncc_ab": -1.0,
                "trimmed_ab": -1.0}
    transform, source, target = found
    error = residuals(transform, source, target) / max(b.shape)
    tiles = tile_agreement(a, b, transform, mirrored, options, grid=4)
    seen = perspective(source, target, max(b.shape))
    return {"inliers": len(source), "ncc": agreement(a, b, transform, mirrored, replace(options, trim=0.0)),
            "median": float(np.median(error)), "p80": float(np.quantile(error, 0.8)),
            "affine80": float(np.quantile(affine_residuals(source, target), 0.8)) / max(b.shape),
            "tight": float(np.mean(error < 0.004)),
            "trimmed": agreement(a, b, transform, mirrored, replace(options, trim=0.1)),
            "tiles": float(tiles[0]) if len(tiles) else -1.0,
            "tiles2": float(tiles[1]) if len(tiles) > 1 else -1.0,
            "F": seen.significance, "shift": seen.shift,
            "ncc_ab": agreement(a, b, transform, mirrored, replace(options, trim=0.0, larger_frame=False)),
            "trimmed_ab": agreement(a, b, transform, mirrored, replace(options, trim=0.1, larger_frame=False))}


def affine_residuals(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Residuals of the least-squares affine transform of source onto target (target pixels)."""
    design = np.hstack([source.astype(np.float64), np.ones((len(source), 1))])
    fit, *_ = np.linalg.lstsq(design, target.astype(np.float64), rcond=None)
    return np.linalg.norm(design @ fit - target, axis=1)


def tile_agreement(a: Features, b: Features, transform: np.ndarray, mirrored: bool, options: VerifyOptions,
                   grid: int = 4, flat: float = 4.0) -> np.ndarray:
    """NCC per tile of a grid x grid split of b's thumbnail, over tiles at least 60% inside the overlap
    and not flat in both pictures (grey-level spread below `flat`), lowest first; empty when none."""
    found = _aligned(a, b, transform, mirrored, options)
    if found is None:
        return np.zeros(0)
    warped, target, inside = found
    height, width = target.shape
    values = []
    for row in range(grid):
        for col in range(grid):
            rows = slice(row * height // grid, (row + 1) * height // grid)
            cols = slice(col * width // grid, (col + 1) * width // grid)
            mask = inside[rows, cols]
            if mask.mean() < 0.6 or mask.sum() < 16:
                continue
            x, y = warped[rows, cols][mask], target[rows, cols][mask]
            if x.std() < flat and y.std() < flat:
                continue
            values.append(_ncc(x, y))
    return np.sort(np.asarray(values))


def pairs_of(folder: Path) -> list[tuple[str, str, str]]:
    """(kind, file, file): copy, shot (against the original or the copy) and shot-shot pairs."""
    found = []
    for original in sorted(folder.glob("*_orig.jpg")):
        copy = original.with_name(original.name.replace("_orig", "_copy"))
        shots = sorted(folder.glob(original.name.replace("_orig.jpg", "_shot*.jpg")))
        found += [("copy", original.name, copy.name), ("copy reversed", copy.name, original.name)]
        found += [("shot", x.name, s.name) for s in shots for x in (original, copy)]
        found += [("shot-shot", s.name, t.name) for k, s in enumerate(shots) for t in shots[k + 1:]]
    return found


def measure_set(folder: Path, before: VerifyOptions,
                timed: list[VerifyOptions]) -> tuple[list[str], list[list[Measure]], list[float]]:
    """Kinds and measurements (both orientations, no fit limit) of every pair, and CPU seconds per
    pair of `check_pair` under each rule of `timed`."""
    features = {p.name: load_features(p, before.features) for p in sorted(folder.glob("*.jpg"))}
    kinds, measures = [], []
    pairs = pairs_of(folder)
    for kind, x, y in pairs:
        kinds.append(kind)
        measures.append([measure(features[x], features[y], m, before) for m in (False, True)])
    import cv2

    cv2.setNumThreads(1)  # as the verifier does (it runs pairs in parallel): OpenCV's own threads made timings noisy
    costs = []
    for rule in timed:
        started = time.process_time()
        for _, x, y in pairs:
            check_pair(features[x], features[y], rule)
        costs.append((time.process_time() - started) / len(pairs))
    return kinds, measures, costs


def rules(ncc: float) -> list[tuple[str, Rule]]:
    """The candidate rules, the one before the exact-fit limit first."""
    def base(m: Measure, ncc: float = ncc) -> bool:
        return m["inliers"] >= 15 and m["ncc"] >= ncc

    listed: list[tuple[str, Rule]] = [(f"15 inliers, NCC >= {ncc:g} (before)", base)]
    listed += [(f"... and inlier median error <= {t:g} of the side",
                lambda m, t=t: base(m) and m["median"] <= t) for t in (0.002, 0.0025, 0.003)]
    listed += [(f"... and inlier 80th pct error <= {t:g}", lambda m, t=t: base(m) and m["p80"] <= t)
               for t in (0.003, 0.0035, 0.004, 0.005)]
    listed += [(f"... and 80th pct error of an affine fit <= {t:g}",
                lambda m, t=t: base(m) and m["affine80"] <= t) for t in (0.0035, 0.004)]
    listed += [(f"... and share of inliers within 0.004 >= {t:g}", lambda m, t=t: base(m) and m["tight"] >= t)
               for t in (0.7, 0.9)]
    listed += [(f"... and worst 4x4 tile NCC >= {t:g}", lambda m, t=t: base(m) and m["tiles"] >= t)
               for t in (0.7, 0.9)]
    listed += [(f"... and 2nd-worst tile NCC >= {t:g}", lambda m, t=t: base(m) and m["tiles2"] >= t)
               for t in (0.7, 0.9)]
    listed += [(f"15 inliers, 80th pct error <= 0.004, NCC >= {c:g}",
                lambda m, c=c: m["inliers"] >= 15 and m["p80"] <= 0.004 and m["ncc"] >= c)
               for c in sorted({0.8, ncc, 0.975})]
    listed += [(f"15 inliers, 80th pct error <= 0.004, NCC less 10% of pixels >= {c:g}",
                lambda m, c=c: m["inliers"] >= 15 and m["p80"] <= 0.004 and m["trimmed"] >= c)
               for c in (0.85, 0.9, 0.95, 0.97)]
    for name, key, value in (("NCC >= 0.975", "ncc", 0.975), ("NCC less 10% of pixels >= 0.9", "trimmed", 0.9),
                             ("NCC of a onto b >= 0.975", "ncc_ab", 0.975),
                             ("NCC of a onto b less 10% of pixels >= 0.9", "trimmed_ab", 0.9)):
        def fitted(m: Measure, key: str = key, value: float = value) -> bool:
            return m["inliers"] >= 15 and m["p80"] <= 0.004 and m[key] >= value

        listed += [(f"15 inliers, 80th pct error <= 0.004, {name}, no perspective (F > {f:g} and shift > {t:g})",
                    lambda m, f=f, t=t, fitted=fitted: fitted(m) and not (m["F"] > f and m["shift"] > t))
                   for f, t in ((10.0, 0.0008), (15.0, 0.0), (15.0, 0.0006), (15.0, 0.0008),
                                (15.0, 0.001), (20.0, 0.0008))]
    return listed


def table(kinds: list[str], measures: list[list[Measure]], ncc: float) -> list[str]:
    """One line per rule: copies, shot pairs and shot-shot pairs it confirms."""
    totals = {k: kinds.count(k) for k in ("copy", "copy reversed", "shot", "shot-shot")}
    lines = []
    for name, rule in rules(ncc):
        passed = {k: 0 for k in totals}
        for kind, both in zip(kinds, measures, strict=True):
            passed[kind] += any(rule(m) for m in both)
        lines.append(f"| {name} | " + " | ".join(f"{passed[k]}/{totals[k]} ({passed[k] / max(totals[k], 1):.1%})"
                                                  for k in totals) + " |")
    return lines


def distribution(kinds: list[str], measures: list[list[Measure]], ncc: float) -> list[str]:
    """Quantiles of each measurement for copies and for shot pairs that pass the current rule."""
    lines = []
    for kind in ("copy", "shot", "shot-shot"):
        chosen = [max(both, key=lambda m: (m["inliers"] >= 15, m["ncc"]))
                  for k, both in zip(kinds, measures, strict=True) if k == kind]
        chosen = [m for m in chosen if m["inliers"] >= 15 and m["ncc"] >= ncc]
        for key in ("median", "p80", "tight", "tiles", "tiles2", "F", "shift"):
            values = np.asarray([m[key] for m in chosen])
            if len(values):
                q = np.quantile(values, [0, 0.05, 0.5, 0.95, 1])
                lines.append(f"  {kind:9s} passing now ({len(values)}): {key:6s} min/5%/50%/95%/max "
                             + " ".join(f"{v:.4f}" for v in q))
    return lines


def pairs(data: Path, objects: int, scratch: Path, save: Path | None = None, seed: int = 0) -> None:
    """Build both probe sets under `scratch` (seeds `seed` and `seed + 1`: another seed makes other
    copies of the same photos) and print the rule tables (the measurements also as JSON under `save`
    when given)."""
    from duplicates_quality import probe_set

    labels = data / "ukbench-a" / "labels.csv"
    for name, hard, ncc, after in (("easy", False, 0.965, VerifyOptions()),
                                   ("hard", True, 0.85, VerifyOptions(min_agreement=0.9, trim=0.1))):
        folder = scratch / f"pairs-{name}"
        probe_set(labels, folder, objects, hard, seed=seed + 1 if hard else seed)
        loose = float("inf")
        before = VerifyOptions(min_agreement=ncc, max_error=loose, max_perspective=loose)  # before the fit limit
        timed = [before, replace(after, max_perspective=loose), after]
        kinds, measures, costs = measure_set(folder, before, timed)
        if save is not None:
            save.mkdir(parents=True, exist_ok=True)
            (save / f"{name}.json").write_text(json.dumps({"kinds": kinds, "measures": measures}))
        print(f"\n{name} set ({objects} objects, seed {seed + 1 if hard else seed}), check_pair pairs per "
              f"CPU-second: {1 / costs[0]:.0f} before the fit limit, {1 / costs[1]:.0f} with it, "
              f"{1 / costs[2]:.0f} with the perspective check too ({after.method()})")
        print("| rule | copies | copies (reversed) | shot pairs | shot-shot pairs |\n|---|---|---|---|---|")
        print("\n".join(table(kinds, measures, ncc)))
        print("\n".join(distribution(kinds, measures, ncc)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--objects", type=int, default=125)
    parser.add_argument("--save", type=Path, help="also write the measurements here (easy.json, hard.json)")
    parser.add_argument("--seed", type=int, default=0, help="the easy set's seed (the hard set's is one more)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        pairs(args.data, args.objects, Path(scratch), args.save, args.seed)


if __name__ == "__main__":
    main()
