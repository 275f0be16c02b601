"""The ONNX Runtime backend against torch, in one run (re-run it on a quiet machine to re-measure):

1. cold query: `lookalike search Q --library L` on a 500-image EfficientNet-Lite0 library, torch vs ONNX
   (each a fresh process), beside `python -c "import torch"`; median of N interleaved runs, wall and
   CPU (user + sys) seconds;
2. forward, decode and end-to-end images/s, torch fp32 vs ONNX fp32 vs ONNX int8, for EfficientNet-Lite0
   (with its export before onnx_fold, padding computed at run time, beside)
   and a SigLIP-base-sized vision tower (its config, random weights: speed does not depend on them);
   per-image cost of each stage, and which stage bounds the pipeline;
3. ONNX vs torch cosine (min, mean) over the images;
4. the SigLIP-base tower's forward against the machine's peak: its floating-point operations per image
   (torch's FlopCounterMode over one forward) times each backend's forward images/s, as a share of
   what fp32 matrix products of the tower's own shapes (tokens x 768 by 768 x 3072, 768 x 768) reach
   with the same threads, measured in the same run.

    python benchmarks/onnx_backend.py --data ../shared/data/ukbench-a
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embed_throughput import measure, siglip_base_vision  # noqa: E402
from onnx_static_int8 import unfolded_embedder  # noqa: E402

from lookalike.embedders import create_embedder  # noqa: E402
from lookalike.embedders.quantize import make_int8  # noqa: E402
from lookalike.images import find_images  # noqa: E402
from lookalike.system import available_cores  # noqa: E402


def timed_process(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall and CPU (user + sys) seconds of one child process (os.wait4: its own). Its peak memory is not
    reported: ru_maxrss counts the forked parent's pages before exec (this process holds torch)."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        error = errors.read().decode(errors="replace")
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {error.strip()[-300:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime}


def cold_query(paths: list[Path], work: Path, runs: int, env: dict[str, str]) -> dict[str, dict[str, float]]:
    """Median wall/CPU of a cold `lookalike search` per backend and of `import torch`, interleaved."""
    photos = work / "library-photos"
    if not photos.is_dir():
        photos.mkdir(parents=True)
        for path in paths[:500]:
            (photos / path.name).symlink_to(path.resolve())
    library = photos / ".lookalike" / "efficientnet-lite0"
    python = [sys.executable, "-m", "lookalike"]
    if not library.is_dir():
        subprocess.run([*python, "index", str(photos), "-m", "efficientnet-lite0", "-q", "--backend", "onnx"],
                       check=True, env=env, capture_output=True)
    query = work / "query.jpg"  # an edited copy of a library photo: not in the library, so it is embedded
    if not query.is_file():
        from PIL import Image

        with Image.open(paths[0]) as original:
            smaller = (original.width * 9 // 10, original.height * 9 // 10)
            original.convert("RGB").resize(smaller).save(query, quality=85)
    commands = {
        "torch": [*python, "search", str(query), "--library", str(library), "-k", "5", "--backend", "torch"],
        "onnx": [*python, "search", str(query), "--library", str(library), "-k", "5", "--backend", "onnx"],
        "import torch": [sys.executable, "-c", "import torch"],
    }
    for command in commands.values():  # warm the page cache once
        timed_process(command, env)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            samples[name].append(timed_process(command, env))
    return {name: {key: float(np.median([s[key] for s in got])) for key in ("wall", "cpu")}
            for name, got in samples.items()}


def cosine(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    values = np.sum(a * b, axis=1)
    return float(values.min()), float(values.mean())


def throughput(label: str, name: str, paths: list[Path], args: argparse.Namespace, cache: Path) -> list[dict]:
    """forward/decode/end-to-end for torch fp32, ONNX fp32 and ONNX int8 (made here, unmeasured)."""
    workers = args.workers or available_cores()
    torch_model = create_embedder(name, precision="fp32", backend="torch")
    onnx_model = create_embedder(name, precision="fp32", backend="onnx", cache_dir=cache)
    int8_model = make_int8(name, onnx_model, cache)  # speed only: its accuracy gate is `lookalike quantize`
    models = [("torch fp32", torch_model), ("onnx fp32", onnx_model), ("onnx int8", int8_model)]
    if name == "efficientnet-lite0":  # its export before onnx_fold: padding computed at run time
        models.insert(2, ("onnx fp32, pads unfolded", unfolded_embedder(onnx_model, cache.parent)))
    if bf16_native():  # AVX512-BF16 / AMX: torch's --precision auto runs bf16 here
        models.insert(1, ("torch bf16", create_embedder(name, precision="bf16", backend="torch")))
    rows = []
    for precision, embedder in models:
        got = measure(embedder, paths, args.batch_size, workers, args.repeats)
        rows.append({"model": label, "backend": precision, **{k: round(v, 2) for k, v in got.items()},
                     "decode_ms": round(1000 / got["decode"], 2), "forward_ms": round(1000 / got["forward"], 2),
                     "bound_by": "forward" if got["forward"] < got["decode"] else "decode"})
        print(json.dumps(rows[-1]), flush=True)
    sample = paths[: args.cosine_images]
    from lookalike.pipeline import embed_paths

    reference = embed_paths(torch_model, sample).vectors
    for precision, embedder in (("onnx fp32", onnx_model), ("onnx int8", int8_model)):
        low, mean = cosine(reference, embed_paths(embedder, sample).vectors)
        rows.append({"model": label, "backend": precision, "cosine_vs_torch_min": round(low, 6),
                     "cosine_vs_torch_mean": round(mean, 6), "images": len(sample)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def bf16_native() -> bool:
    """Whether this CPU has native bf16 arithmetic (what torch's --precision auto looks at)."""
    import torch

    from lookalike.embedders.torch_base import bf16_is_fast

    return bf16_is_fast(torch.device("cpu"))


def tower_flops(tower: Path) -> float:
    """Floating-point operations of one 224 x 224 image through the vision tower (matrix products,
    attention and the patch convolution, as torch counts them: 2 per multiply-add)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import SiglipVisionModel

    model = SiglipVisionModel.from_pretrained(tower).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(pixel_values=torch.zeros(1, 3, 224, 224))
    return float(counter.get_total_flops())


def matmul_peak(tokens: int, width: int = 768, hidden: int = 3072, seconds: float = 3.0,
                dtype: str = "float32") -> dict[str, float]:
    """GFLOP/s of matrix products of the tower's shapes in `dtype`, torch with the threads the process
    may use, best of repeated timed runs (each at least `seconds`), for (tokens, width) x (width,
    hidden), (tokens, hidden) x (hidden, width) and (tokens, width) x (width, width)."""
    import torch

    torch.set_num_threads(available_cores())
    found = {}
    for name, (m, k, n) in {"mlp_up": (tokens, width, hidden), "mlp_down": (tokens, hidden, width),
                            "attention_proj": (tokens, width, width)}.items():
        a, b = torch.randn(m, k).to(getattr(torch, dtype)), torch.randn(k, n).to(getattr(torch, dtype))
        torch.mm(a, b)
        best = 0.0
        for _ in range(3):
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds / 3:
                torch.mm(a, b)
                count += 1
            best = max(best, 2.0 * m * k * n * count / (time.perf_counter() - started) / 1e9)
        found[name] = round(best, 1)
    return found


def peak_share(rows: list[dict], tower: Path, batch_size: int) -> None:
    """Print each backend's forward as a share of the matmul peak of the tower's shapes."""
    flops = tower_flops(tower)
    peaks = {"fp32": matmul_peak(tokens=batch_size * 196)}
    if bf16_native():
        peaks["bf16"] = matmul_peak(tokens=batch_size * 196, dtype="bfloat16")
    print(json.dumps({"siglip_flops_per_image_G": round(flops / 1e9, 2), "matmul_peak_gflops": peaks}), flush=True)
    for row in rows:
        if "forward" in row and row["backend"] != "onnx int8":  # int8 has no float peak to compare with
            best = max(peaks["bf16" if "bf16" in row["backend"] else "fp32"].values())
            achieved = row["forward"] * flops / 1e9
            print(json.dumps({"model": row["model"], "backend": row["backend"], "forward_gflops": round(achieved, 1),
                              "share_of_matmul_peak": round(achieved / best, 3)}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="Folder of images (e.g. ukbench-a).")
    parser.add_argument("--work", type=Path, default=Path("build/bench-onnx"),
                        help="Library and export cache, kept between runs.")
    parser.add_argument("--runs", type=int, default=5, help="Cold-query runs per command (median).")
    parser.add_argument("--limit", type=int, default=256, help="Images for EfficientNet-Lite0 throughput.")
    parser.add_argument("--vit-limit", type=int, default=64, help="Images for the SigLIP-base tower.")
    parser.add_argument("--cosine-images", type=int, default=500, help="Images for the cosine check.")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", action="append", default=[], choices=["cold", "effnet", "siglip"])
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"onnx_backend: {args.data} not found; skipped", file=sys.stderr)
        return 0
    paths = find_images(args.data)
    cache = (args.work / "models").resolve()
    env = dict(os.environ, LOOKALIKE_MODEL_CACHE=str(cache), HF_HUB_OFFLINE="1")
    os.environ["LOOKALIKE_MODEL_CACHE"] = str(cache)
    print(f"# {len(paths)} images in {args.data}, {available_cores()} cores, load {os.getloadavg()[0]:.2f}")
    if "cold" not in args.skip:
        for name, got in cold_query(paths, args.work.resolve(), args.runs, env).items():
            print(json.dumps({"cold_query": name, **{k: round(v, 3) for k, v in got.items()}}), flush=True)
    if "effnet" not in args.skip:
        throughput("efficientnet-lite0", "efficientnet-lite0", paths[: args.limit], args, cache)
    if "siglip" not in args.skip:
        tower = (args.work / "siglip-base-vision").resolve()
        if not (tower / "config.json").is_file():
            siglip_base_vision(tower)
        args.cosine_images = min(args.cosine_images, args.vit_limit)
        rows = throughput("siglip-base (vision)", str(tower), paths[: args.vit_limit], args, cache)
        peak_share(rows, tower, args.batch_size)
    print(f"# load at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
