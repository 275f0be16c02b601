"""Embedding throughput on real photos, measured three ways in one run:

1. model forward alone on pre-decoded, pre-processed tensors;
2. decode + preprocess alone (the pipeline's worker threads, no model);
3. end to end through `Pipeline` (decode overlapped with the model).

The ratio end-to-end / min(forward, decode) says how much of the slower stage's speed the pipeline
keeps (1.0 = perfect overlap). Models: the offline EfficientNet-Lite0 and a SigLIP-base-sized vision
tower (the real config, random weights: speed does not depend on the weights).

    python benchmarks/embed_throughput.py --data ../shared/data/ukbench-a
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does; must precede the torch import

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lookalike.embedders import Embedder, create_embedder  # noqa: E402
from lookalike.images import find_images, load_image  # noqa: E402
from lookalike.pipeline import Pipeline, PipelineOptions, available_cores  # noqa: E402


def siglip_base_vision(directory: Path) -> Path:
    """google/siglip-base-patch16-224's vision tower (its default config) with random weights."""
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    torch.manual_seed(0)
    SiglipVisionModel(SiglipVisionConfig()).save_pretrained(directory)
    SiglipImageProcessor(size={"height": 224, "width": 224}).save_pretrained(directory)
    return directory


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def measure(embedder: Embedder, paths: list[Path], batch_size: int, workers: int, repeats: int) -> dict[str, float]:
    """Median images/s of `repeats` interleaved rounds of the three measurements (the machine's
    speed drifts, so interleaving keeps the ratio fair), after one warm-up batch."""
    rounds = [_one_round(embedder, paths, batch_size, workers) for _ in range(repeats)]
    medians = {key: float(np.median([r[key] for r in rounds])) for key in ("forward", "decode", "end_to_end")}
    medians["ratio"] = float(np.median([r["end_to_end"] / min(r["forward"], r["decode"]) for r in rounds]))
    return medians


def _one_round(embedder: Embedder, paths: list[Path], batch_size: int, workers: int) -> dict[str, float]:
    options = embedder.decode_options
    prepare = lambda path: embedder.prepare(load_image(path, options))  # noqa: E731
    warm = [prepare(p) for p in paths[:batch_size]]
    embedder.embed_prepared(warm)

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        prepared = list(pool.map(prepare, paths))
    decode = rate(len(paths), time.perf_counter() - start)

    start = time.perf_counter()
    for first in range(0, len(prepared), batch_size):
        embedder.embed_prepared(prepared[first : first + batch_size])
    forward = rate(len(paths), time.perf_counter() - start)

    pipeline = Pipeline(embedder, PipelineOptions(batch_size=batch_size, workers=workers))
    start = time.perf_counter()
    result = pipeline.run(paths)
    end_to_end = rate(len(result.paths), time.perf_counter() - start)
    return {"forward": forward, "decode": decode, "end_to_end": end_to_end}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="Folder of images (e.g. ukbench-a).")
    parser.add_argument("--limit", type=int, default=500, help="Images for EfficientNet-Lite0.")
    parser.add_argument("--vit-limit", type=int, default=96, help="Images for the SigLIP-base tower.")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0, help="Decode threads (0: one per core).")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--repeats", type=int, default=3, help="Rounds per model; medians are reported.")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"embed_throughput: {args.data} not found; skipped", file=sys.stderr)
        return 0
    paths = find_images(args.data)
    workers = args.workers or available_cores()
    print(f"# {len(paths)} images in {args.data}, {available_cores()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads, {workers} decode threads, batch {args.batch_size}")
    print(f"{'model':<22} {'dtype':<9} {'forward':>9} {'decode':>9} {'end2end':>9} {'ratio':>6}  "
          f"(images/s, medians of {args.repeats} rounds)")
    with tempfile.TemporaryDirectory() as scratch:
        models = [("efficientnet-lite0", "efficientnet-lite0", args.limit),
                  ("siglip-base (vision)", str(siglip_base_vision(Path(scratch) / "siglip")), args.vit_limit)]
        for label, name, limit in models:
            embedder = create_embedder(name, precision=args.precision)
            dtype = str(getattr(embedder, "dtype", "-")).removeprefix("torch.")
            m = measure(embedder, paths[:limit], args.batch_size, workers, args.repeats)
            print(f"{label:<22} {dtype:<9} {m['forward']:9.1f} {m['decode']:9.1f} {m['end_to_end']:9.1f} "
                  f"{m['ratio']:6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
