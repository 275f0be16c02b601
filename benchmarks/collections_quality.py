"""Adjusted Rand index of `clusters` against known groups: UKBench (groups of 4, `--min-size 2`) and a
CIFAR-10 sample (classes), EfficientNet-Lite0 fp32.

    python benchmarks/collections_quality.py --data ../shared/data --cifar-per-class 100
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from pathlib import Path


def _ari(folder: Path, truth: dict[str, str], min_size: int) -> str:
    from sklearn.metrics import adjusted_rand_score

    from lookalike import Lookalike, Source
    from lookalike.settings import load_settings

    with Lookalike(load_settings(None, precision="fp32")) as service:
        started = time.perf_counter()
        answer = service.clusters(Source(folder, None, "efficientnet-lite0"), min_size=min_size)
        seconds = time.perf_counter() - started
    keys = [str(m.path.relative_to(folder)) for m in answer.members]
    score = adjusted_rand_score([truth[k] for k in keys], [m.cluster for m in answer.members])
    clustered = sum(m.cluster >= 0 for m in answer.members) / len(answer.members)
    return (f"{len(keys)} images, min-size {min_size}: ARI {score:.3f}, {len(answer.clusters)} clusters, "
            f"{clustered:.1%} in one, {seconds:.0f} s (embedding included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cifar-per-class", type=int, default=100)
    args = parser.parse_args()
    ukbench = args.data / "ukbench-a"
    groups = {row["path"]: row["group"] for row in csv.DictReader((ukbench / "labels.csv").open())}
    print("ukbench-a:", _ari(ukbench, groups, 2))
    with tempfile.TemporaryDirectory() as scratch:
        sample = Path(scratch)
        labels = {}
        for class_dir in sorted(p for p in (args.data / "cifar10-test").iterdir() if p.is_dir()):
            (sample / class_dir.name).mkdir()
            for path in sorted(class_dir.iterdir())[: args.cifar_per_class]:
                shutil.copy(path, sample / class_dir.name / path.name)
                labels[f"{class_dir.name}/{path.name}"] = class_dir.name
        for min_size in (2, 5, 10):
            print("cifar10-test sample:", _ari(sample, labels, min_size))


if __name__ == "__main__":
    main()
