"""INT8 exports: ONNX Runtime's dynamic quantisation of a model's fp32 export (weights int8, activations
quantised per batch), kept beside it as `<cache>/<model>/int8/`. An int8 export is only *used* once a
measurement on a labelled set, stored in its sidecar, shows it safe (`INT8_RULE`); `lookalike quantize`
makes the export and the measurement."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..extras import require
from .onnx_cache import IMAGE_FILE, TEXT_FILE, export_dir, export_lock, file_sha256, model_cache_dir, replace_folder
from .onnx_runtime import OnnxEmbedder

MIN_RECALL_VS_FP32 = 0.99
MAX_NS_DROP = 0.02
INT8_RULE = f"recall@10 against fp32 >= {MIN_RECALL_VS_FP32} and N-S within {MAX_NS_DROP}"


def _quantize_file(source: Path, target: Path) -> None:
    quantization = require("onnxruntime.quantization", "onnx", "int8 quantisation")
    # matrix products only: ConvInteger was measured both slower than fp32 and off (EfficientNet-Lite0 on
    # 200 UKBench photos: 1.9 vs 10 img/s, recall@10 against fp32 0.68), so CNNs stay fp32 inside; static
    # (calibrated QDQ) int8 misses INT8_RULE too (recall@10 0.93-0.96, benchmarks/onnx_static_int8.py)
    quantization.quantize_dynamic(str(source), str(target), weight_type=quantization.QuantType.QInt8,
                                  op_types_to_quantize=["MatMul", "Gemm"], extra_options={"MatMulConstBOnly": True})


def quantized_nodes(path: Path) -> int:
    """How many integer matrix products an exported graph holds."""
    onnx = require("onnx", "onnx", "int8 quantisation")
    graph = onnx.load(str(path), load_external_data=False).graph
    return sum(node.op_type in ("MatMulInteger", "ConvInteger", "QLinearMatMul", "QLinearConv") for node in graph.node)


def make_int8(name: str, fp32: OnnxEmbedder, cache_dir: str | Path | None = None) -> OnnxEmbedder:
    """Quantise `fp32` (the model's fp32 export) into its int8 export, not yet measured (so not yet
    allowed), replacing any earlier int8 export of the model; returns it, for measuring."""
    folder = export_dir(model_cache_dir(cache_dir), name, "int8")
    with export_lock(folder):
        staging = Path(tempfile.mkdtemp(prefix=".int8-", dir=folder.parent))
        staging.chmod(0o755)  # readable like the rest of the cache (mkdtemp makes it private)
        try:
            files = {}
            for file in fp32.meta.files:
                if file in (IMAGE_FILE, TEXT_FILE):
                    _quantize_file(fp32.folder / file, staging / file)
                else:
                    shutil.copyfile(fp32.folder / file, staging / file)
                files[file] = file_sha256(staging / file)
            integer = quantized_nodes(staging / IMAGE_FILE)
            meta = replace(fp32.meta, precision="int8", files=files,
                           quantization={"method": "onnxruntime dynamic, MatMul/Gemm weights QInt8", "allowed": False,
                                         "reason": "not measured yet" if integer else
                                         "its image model has no matrix product to quantise (a CNN: use fp32)",
                                         "integer_ops": integer})
            meta.write(staging)
            replace_folder(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return OnnxEmbedder(folder, meta)


def record_measurement(int8: OnnxEmbedder, measurement: dict[str, Any]) -> dict[str, Any]:
    """Store `measurement` (recall_vs_fp32, ns_fp32, ns_int8, set) with the int8 export and decide
    whether the export may be used; returns the stored quantisation record."""
    recall = float(measurement["recall_vs_fp32"])
    drop = float(measurement["ns_fp32"]) - float(measurement["ns_int8"])
    before = int8.meta.quantization or {}
    if not before.get("integer_ops", 1):
        allowed, reason = False, str(before.get("reason"))
    else:
        allowed = recall >= MIN_RECALL_VS_FP32 and drop <= MAX_NS_DROP
        reason = "" if allowed else (
            f"measured on {measurement.get('set')}: recall@10 against fp32 {recall:.4f}, N-S "
            f"{measurement['ns_int8']:.3f} vs {measurement['ns_fp32']:.3f} fp32 (needs {INT8_RULE})")
    record = {**before, "allowed": allowed, "reason": reason, "measurement": measurement}
    meta = replace(int8.meta, quantization=record)
    meta.write(int8.folder)
    return record
