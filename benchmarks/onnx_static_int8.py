"""EfficientNet-Lite0 on ONNX Runtime: static (calibrated, QDQ) int8 against fp32, and fp32 with and
without its shape-computed padding folded (onnx_fold), in one run.

The fp32 export is the project's (folded); the unfolded graph is the same torch export without the fold.
Each int8 variant is `onnxruntime.quantization.quantize_static` of the folded graph (QDQ, per-channel
QInt8 weights) calibrated on the last `--calibrate` images of the set; all are measured on the first
`--images` (other UKBench groups): recall@10 of int8 answers against fp32's, N-S, the lowest cosine to
fp32, and forward images/s at batch 32 on the cores this process may use (best of `--rounds`
interleaved passes over `--speed-images`). The project's rule for using int8 is quantize.INT8_RULE.
`--end-to-end N` adds decode and pipeline images/s of fp32 folded vs unfolded, N interleaved rounds.

    python benchmarks/onnx_static_int8.py --data ../shared/data/ukbench-a
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from lookalike.embedders import Embedder, create_embedder  # noqa: E402
from lookalike.embedders.onnx_cache import IMAGE_FILE, file_sha256  # noqa: E402
from lookalike.embedders.onnx_runtime import OnnxEmbedder, open_session  # noqa: E402
from lookalike.embedders.quantize import INT8_RULE, MAX_NS_DROP, MIN_RECALL_VS_FP32  # noqa: E402
from lookalike.evaluation.evaluator import score_rankings  # noqa: E402
from lookalike.evaluation.labelled import load_labelled  # noqa: E402
from lookalike.evaluation.quantized import neighbours, recall_against  # noqa: E402
from lookalike.images import load_image  # noqa: E402
from lookalike.system import available_cores  # noqa: E402

# name: (activation type, calibration, substrings of node names kept in fp32)
VARIANTS: dict[str, tuple[str, str, list[str]]] = {
    "int8 u8/s8 minmax": ("QUInt8", "MinMax", []),
    "int8 s8/s8 minmax": ("QInt8", "MinMax", []),
    "int8 u8/s8 percentile": ("QUInt8", "Percentile", []),
    "int8 u8/s8, stem fp32": ("QUInt8", "MinMax", ["conv_stem", "/parts.0/bn1/"]),
    "int8 u8/s8, blocks 5-6 + head fp32": ("QUInt8", "MinMax",
                                           ["blocks.5", "blocks.6", "conv_head", "/parts.0/bn2/", "global_pool"]),
    "int8 u8/s8, stem + blocks 0-2 fp32": ("QUInt8", "MinMax",
                                           ["conv_stem", "/parts.0/bn1/", "blocks.0", "blocks.1", "blocks.2"]),
}


def unfolded_export(work: Path, name: str, input_shape: list[int]) -> Path:
    """The model's image tower exported as the project does, without the padding fold (onnx_fold)."""
    import torch

    from lookalike.embedders.onnx_export import _export, _torch_modules, _Tower, torch_image_forward

    model = create_embedder(name, precision="fp32", backend="torch")
    tower = _Tower(lambda pixels: torch_image_forward(model, pixels), _torch_modules(model))
    target = work / "unfolded.onnx"
    _export(tower, (torch.zeros(2, *input_shape),), ["pixel_values"], target, {"pixel_values": {0: "batch"}})
    return target


def unfolded_embedder(fp32: OnnxEmbedder, work: Path) -> OnnxEmbedder:
    """A copy of the fp32 export whose image graph computes its padding at run time (as before the fold)."""
    folder = work / "unfolded-export"
    shutil.copytree(fp32.folder, folder, dirs_exist_ok=True)
    shutil.copyfile(unfolded_export(work, fp32.meta.model, fp32.meta.input_shape), folder / IMAGE_FILE)
    meta = replace(fp32.meta, files={**fp32.meta.files, IMAGE_FILE: file_sha256(folder / IMAGE_FILE)})
    return OnnxEmbedder(folder, meta)


def quantize(source: Path, target: Path, calibration: np.ndarray, variant: tuple[str, str, list[str]]) -> float:
    """Static QDQ int8 of `source`; returns the seconds it took (calibration included)."""
    import onnx
    from onnxruntime import quantization as q

    activations, method, keep = variant
    excluded = [node.name for node in onnx.load(str(source)).graph.node if any(part in node.name for part in keep)]

    class Reader(q.CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"pixel_values": calibration[i:i + 20]} for i in range(0, len(calibration), 20)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    started = time.perf_counter()
    q.quantize_static(str(source), str(target), Reader(), quant_format=q.QuantFormat.QDQ, per_channel=True,
                      activation_type=getattr(q.QuantType, activations), weight_type=q.QuantType.QInt8,
                      calibrate_method=getattr(q.CalibrationMethod, method), nodes_to_exclude=excluded)
    return time.perf_counter() - started


def vectors(session: Any, pixels: np.ndarray, batch: int) -> np.ndarray:
    found = np.concatenate([session.run(None, {"pixel_values": pixels[i:i + batch]})[0]
                            for i in range(0, len(pixels), batch)])
    return found / np.linalg.norm(found, axis=1, keepdims=True)


def forward_speed(sessions: dict[str, Any], pixels: np.ndarray, batch: int, rounds: int) -> dict[str, float]:
    """Images/s of each session, best of `rounds` passes over `pixels`, the sessions interleaved."""
    usable = pixels[: len(pixels) // batch * batch]
    best = dict.fromkeys(sessions, float("inf"))
    for _ in range(rounds):
        for name, session in sessions.items():
            started = time.perf_counter()
            for i in range(0, len(usable), batch):
                session.run(None, {"pixel_values": usable[i:i + batch]})
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: len(usable) / seconds for name, seconds in best.items()}


def end_to_end(models: dict[str, Embedder], paths: list[Path], batch: int, rounds: int) -> None:
    """Print forward, decode and end-to-end images/s of each model (embed_throughput.measure, one
    round each, the models interleaved), medians of `rounds`."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from embed_throughput import measure

    got: dict[str, list[dict[str, float]]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            got[name].append(measure(model, paths, batch, available_cores(), 1))
    for name, rows in got.items():
        print(json.dumps({"variant": name, "end_to_end_rounds": rounds, "images": len(paths),
                          **{key: round(float(np.median([row[key] for row in rows])), 1)
                             for key in ("forward", "decode", "end_to_end")}}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="Labelled set in groups of 4 (ukbench-a).")
    parser.add_argument("--images", type=int, default=400, help="Images measured (the first ones).")
    parser.add_argument("--calibrate", type=int, default=100, help="Calibration images (the last ones).")
    parser.add_argument("--speed-images", type=int, default=192, help="Images per timed pass.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--only", action="append", default=[], choices=[*sorted(VARIANTS), "none"],
                        help="Measure only these int8 variants (repeatable; none: fp32 only).")
    parser.add_argument("--end-to-end", type=int, default=0, metavar="ROUNDS",
                        help="Also decode + forward + pipeline images/s of fp32 folded vs unfolded (0: skip).")
    args = parser.parse_args(argv)
    labelled = load_labelled(args.data)
    if len(labelled.paths) < args.images + args.calibrate:
        raise SystemExit(f"{args.data}: {len(labelled.paths)} images, fewer than --images + --calibrate")
    work = Path(tempfile.mkdtemp(prefix="static-int8-"))
    try:
        fp32 = create_embedder("efficientnet-lite0", backend="onnx", precision="fp32", cache_dir=work / "cache")
        prepared = np.stack([fp32.prepare(load_image(path, fp32.decode_options)) for path in labelled.paths])
        pixels = prepared.astype(np.float32)
        measured, calibration = pixels[: args.images], pixels[-args.calibrate:]
        labels = labelled.labels[: args.images]
        unfolded = unfolded_export(work, "efficientnet-lite0", fp32.meta.input_shape)
        files = {"fp32": Path(fp32.folder) / IMAGE_FILE, "fp32, pads unfolded": unfolded}
        made = {}
        for name in [] if "none" in args.only else args.only or list(VARIANTS):
            files[name] = work / f"int8-{len(made)}.onnx"
            made[name] = quantize(files["fp32"], files[name], calibration, VARIANTS[name])
        sessions = {name: open_session(path, available_cores()) for name, path in files.items()}
        reference = vectors(sessions["fp32"], measured, args.batch_size)
        speed = forward_speed(sessions, measured[: args.speed_images], args.batch_size, args.rounds)
        ns_fp32 = score_rankings(reference, labels)["ns"]
        print(json.dumps({"images": len(measured), "calibration_images": len(calibration), "cores": available_cores(),
                          "load_average": [round(x, 2) for x in os.getloadavg()], "rule": INT8_RULE}), flush=True)
        for name, session in sessions.items():
            got = vectors(session, measured, args.batch_size)
            recall = recall_against(neighbours(reference), neighbours(got))
            ns = score_rankings(got, labels)["ns"]
            print(json.dumps({
                "variant": name, "recall10_vs_fp32": round(recall, 4), "ns": round(ns, 4),
                "cosine_min": round(float(np.min(np.sum(reference * got, axis=1))), 4),
                "forward_img_s": round(speed[name], 1), "vs_fp32": round(speed[name] / speed["fp32"], 2),
                "quantize_s": round(made[name], 1) if name in made else None,
                "passes_rule": recall >= MIN_RECALL_VS_FP32 and ns_fp32 - ns <= MAX_NS_DROP}), flush=True)
        if args.end_to_end:
            assert isinstance(fp32, OnnxEmbedder)
            end_to_end({"fp32": fp32, "fp32, pads unfolded": unfolded_embedder(fp32, work)},
                       labelled.paths[: args.speed_images], args.batch_size, args.end_to_end)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
