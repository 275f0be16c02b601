"""Measure a model's duplicate thresholds on edited copies of real photos, then check the engine.

    python benchmarks/calibrate_models.py [--model efficientnet-lite0] [--objects 60] [--calibrate 65]

Two kinds of seeded edited-copy sets are built from ../shared/data/ukbench-a (one photo per object,
one edited copy of each): "easy" (crop 75-90%, resize 60%, brightness/contrast, half mirrored, JPEG
q35-70) and "hard" (also rotated 90/180/270, cropped 55-70%, a text overlay).

Copies are calibrated on objects the test never sees (the `--calibrate` objects after the first
`--objects`, seeds 2 and 3): the candidate threshold is the easy set's lowest-scoring copy less a 0.03
margin, the invariant candidate threshold the same on the hard set's invariant candidates (best over
mirror, rotations and crops, each view's 10 nearest), and the keypoint check's inliers on those
candidates (copies versus different objects) show where --min-inliers sits. The accept threshold is
0.03 above the best-scoring pair of photos of different objects among *all* the labelled photos (the
hardest look-alikes are rare, so it takes the largest pool there is).

Then it runs `duplicates` as a user would on the test sets (the first `--objects` objects, seeds 0 and
1, as tests/e2e/test_dedupe_shared.py does): no options on the easy set, --invariant --verify on the hard
set, and prints recall, mixed groups and the cost: the numbers for the registry entry
(embedders/registry.py) and docs/duplicates.md.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from lookalike.dedupe.calibration import duplicate_thresholds
from lookalike.dedupe.editset import EditedSet, build_edited_set, score_groups
from lookalike.dedupe.invariance import invariant_edges
from lookalike.dedupe.run import INVARIANT_NEIGHBOURS, DuplicateOptions, group_vectors
from lookalike.dedupe.verifier import Verifier
from lookalike.embedders import Embedder, create_embedder
from lookalike.pipeline import embed_paths
from lookalike.store.scan import file_hash

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ukbench-a" / "labels.csv"


def pair_scores(vectors: np.ndarray, objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    upper = np.triu_indices(len(vectors), 1)
    scores = (vectors @ vectors.T)[upper]
    return scores, objects[upper[0]] == objects[upper[1]]


def distinct_photos(embedder: Embedder, labels: Path) -> np.ndarray:
    """Scores of every pair of photos of different objects in the labelled folder (all of them: the
    accept threshold must clear the hardest look-alikes, so the larger the pool the better)."""
    with labels.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    vectors = embed_paths(embedder, [labels.parent / row["path"] for row in rows]).vectors
    scores, same = pair_scores(vectors, np.asarray([int(row["group"]) for row in rows]))
    return scores[~same]


def calibrate(embedder: Embedder, easy: EditedSet, hard: EditedSet, labels: Path) -> None:
    """Print the thresholds measured on the calibration sets and install them for this run."""
    from lookalike.embedders.registry import DuplicateDefaults, model_info

    easy_vectors = embed_paths(embedder, easy.paths).vectors
    scores, same = pair_scores(easy_vectors, np.asarray(easy.objects))
    negatives = distinct_photos(embedder, labels)
    plain = duplicate_thresholds(np.concatenate([scores[same], negatives]),
                                 np.r_[np.ones(int(same.sum()), bool), np.zeros(len(negatives), bool)],
                                 recall=1.0, margin=0.03)
    hard_vectors = embed_paths(embedder, hard.paths).vectors
    edges = invariant_edges(embedder, hard.paths, hard_vectors, -1.0, INVARIANT_NEIGHBOURS)
    objects = np.asarray(hard.objects)
    copies = objects[edges.i] == objects[edges.j]
    invariant = duplicate_thresholds(edges.score, copies, recall=1.0, margin=0.03)
    print(f"calibration: {len(easy.paths) // 2} objects; easy set copies {int(same.sum())} (lowest "
          f"{scores[same].min():.3f}): candidate {plain.candidate}; {len(negatives)} pairs of different objects' "
          f"photos (highest {negatives.max():.3f}): accept {plain.accept}; hard set {len(edges)} "
          f"invariant candidates ({int(copies.sum())} copies): invariant candidate {invariant.candidate}")
    report = Verifier(hard.paths).verify(edges.i, edges.j)
    true, false = report.inliers[copies], report.inliers[~copies]
    print(f"keypoint inliers on those candidates: copies min {true.min()} / median {int(np.median(true))}, "
          f"different objects max {false.max()} (of {len(false)}; {int((false >= 10).sum())} at 10 or more); "
          f"{report.seconds:.1f} s on {report.images} images")
    info = model_info(embedder.spec.model)
    if info is not None:  # measure the engine with the thresholds just found
        object.__setattr__(info, "duplicate_thresholds", DuplicateDefaults(
            plain.candidate, plain.accept, invariant.candidate, "this run"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--objects", type=int, default=60, help="test objects (the first ones)")
    parser.add_argument("--calibrate", type=int, default=65, help="calibration objects (after the test objects)")
    parser.add_argument("--labels", type=Path, default=SHARED)
    args = parser.parse_args()
    embedder = create_embedder(args.model)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        calibrate(embedder,
                  build_edited_set(args.labels, root / "cal-easy", args.calibrate, seed=2, skip=args.objects),
                  build_edited_set(args.labels, root / "cal-hard", args.calibrate, seed=3, hard=True,
                                   skip=args.objects),
                  args.labels)
        for name, edited, options in [
            ("easy, no options", build_edited_set(args.labels, root / "easy", args.objects, seed=0),
             DuplicateOptions()),
            ("hard, --invariant --verify",
             build_edited_set(args.labels, root / "hard", args.objects, seed=1, hard=True),
             DuplicateOptions(invariant=True, verify=True)),
        ]:
            started = time.perf_counter()
            vectors = embed_paths(embedder, edited.paths).vectors
            embedded = time.perf_counter() - started
            hashes = [file_hash(p) for p in edited.paths]
            started = time.perf_counter()
            groups, thresholds, stats = group_vectors(edited.paths, vectors, hashes, args.model, options, embedder)
            seconds = time.perf_counter() - started
            result = score_groups([g.members for g in groups], edited)
            print(f"{name}: recall {result.found}/{result.copies} = {result.recall:.3f}, mixed groups "
                  f"{result.mixed}/{result.groups} = {result.mixed_share:.3f}; candidates {stats.candidates}, "
                  f"checked {stats.checked} pairs on {stats.check_images} images in {stats.check_seconds:.1f} s "
                  f"({1000 * stats.check_seconds / max(stats.check_images, 1):.0f} ms per image); embedding "
                  f"{embedded:.1f} s, grouping {seconds:.1f} s (candidate {thresholds.candidate}, accept "
                  f"{thresholds.accept})")


if __name__ == "__main__":
    main()
