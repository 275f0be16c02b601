"""Measure a model's duplicate thresholds on edited copies of real photos, then check the engine.

    python benchmarks/calibrate_models.py [--model efficientnet-lite0] [--objects 60]

Builds two seeded edited-copy sets from ../shared/data/ukbench-a (one photo per object): "easy"
(crop 75-90%, resize 60%, brightness/contrast, half mirrored, JPEG q35-70) and "hard" (also rotated
90/180/270, cropped 55-70%, a text overlay). From the easy set's scores it derives the candidate
threshold (98% of copies at or above it, less a 0.02 margin) and the accept threshold (0.02 above
the best-scoring pair of different objects); from the hard set's invariant scores (best over the
mirror and rotations, each view's 10 nearest) the invariant candidate threshold. Then it runs
`duplicates` as a user would, with no options on the easy set and with --invariant --verify on the
hard set, and prints recall, mixed groups and the cost of the check: the numbers for the registry
entry (embedders/registry.py) and docs/duplicates.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from lookalike.dedupe.calibration import duplicate_thresholds
from lookalike.dedupe.edges import candidate_edges
from lookalike.dedupe.editset import build_edited_set, score_groups
from lookalike.dedupe.invariance import view_vectors
from lookalike.dedupe.run import INVARIANT_NEIGHBOURS, DuplicateOptions, group_vectors
from lookalike.embedders import create_embedder
from lookalike.pipeline import embed_paths
from lookalike.store.scan import file_hash

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ukbench-a" / "labels.csv"


def pair_scores(vectors: np.ndarray, objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    upper = np.triu_indices(len(vectors), 1)
    scores = (vectors @ vectors.T)[upper]
    return scores, objects[upper[0]] == objects[upper[1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--objects", type=int, default=60)
    parser.add_argument("--labels", type=Path, default=SHARED)
    args = parser.parse_args()
    embedder = create_embedder(args.model)
    with tempfile.TemporaryDirectory() as scratch:
        easy = build_edited_set(args.labels, Path(scratch) / "easy", args.objects, seed=0)
        hard = build_edited_set(args.labels, Path(scratch) / "hard", args.objects, seed=1, hard=True)
        easy_vectors = embed_paths(embedder, easy.paths).vectors
        hard_vectors = embed_paths(embedder, hard.paths).vectors
        scores, same = pair_scores(easy_vectors, np.asarray(easy.objects))
        plain = duplicate_thresholds(scores, same)
        views, owners = view_vectors(embedder, hard.paths)
        queries = np.concatenate([hard_vectors, views])
        query_owners = np.concatenate([np.arange(len(hard.paths)), owners])
        edges = candidate_edges(hard_vectors, -1.0, queries, query_owners, k=INVARIANT_NEIGHBOURS)
        hard_objects = np.asarray(hard.objects)
        invariant = duplicate_thresholds(edges.score, hard_objects[edges.i] == hard_objects[edges.j], recall=0.95)
        print(f"model {args.model}; {args.objects} objects; easy set: {len(scores)} pairs")
        print(f"candidate {plain.candidate} (recall of copies {plain.candidate_recall:.3f}), accept {plain.accept}, "
              f"invariant candidate {invariant.candidate} (recall {invariant.candidate_recall:.3f})")
        from lookalike.embedders.registry import DuplicateDefaults, ModelInfo, model_info

        info = model_info(args.model)
        if info is not None:  # measure the engine with the thresholds just found
            object.__setattr__(info, "duplicate_thresholds", DuplicateDefaults(
                plain.candidate, plain.accept, invariant.candidate, "this run"))
        assert info is None or isinstance(info, ModelInfo)
        for name, edited, vectors, options in [
            ("easy, no options", easy, easy_vectors, DuplicateOptions()),
            ("hard, --invariant --verify", hard, hard_vectors, DuplicateOptions(invariant=True, verify=True)),
        ]:
            hashes = [file_hash(p) for p in edited.paths]
            started = time.perf_counter()
            groups, thresholds, stats = group_vectors(edited.paths, vectors, hashes, args.model, options, embedder)
            seconds = time.perf_counter() - started
            result = score_groups([g.members for g in groups], edited)
            print(f"{name}: recall {result.found}/{result.copies} = {result.recall:.3f}, mixed groups "
                  f"{result.mixed}/{result.groups} = {result.mixed_share:.3f}; candidates {stats.candidates}, "
                  f"checked {stats.checked} pairs on {stats.check_images} images in {stats.check_seconds:.1f} s "
                  f"({1000 * stats.check_seconds / max(stats.check_images, 1):.0f} ms per image), "
                  f"grouping total {seconds:.1f} s (candidate {thresholds.candidate}, accept {thresholds.accept})")


if __name__ == "__main__":
    main()
