"""Fold padding that an exported graph computes from its input's shape into constants. Models with
TensorFlow-style "same" padding (EfficientNet-Lite's `tf_` convolutions in timm) export each Pad with its
amounts worked out at run time (Shape, Div, Ceil, Clip, Concat ...). ONNX Runtime cannot fuse such a Pad
into its convolution, so the graph falls out of its blocked (NCHWc) layout and back around every one;
the export's input size is fixed (the preprocessing crops to it), so the amounts are constants. Folded,
EfficientNet-Lite0 runs as one NCHWc chain of 49 Conv nodes, about 1.6x faster on a 2-core AVX-512 CPU,
with identical vectors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..extras import require


def _computed_pads(graph: Any) -> list[str]:
    """The pads inputs of Pad nodes that are computed by other nodes (not stored constants)."""
    constants = {item.name for item in graph.initializer}
    constants |= {out for node in graph.node if node.op_type == "Constant" for out in node.output}
    return sorted({node.input[1] for node in graph.node
                   if node.op_type == "Pad" and len(node.input) > 1 and node.input[1] not in constants})


def _evaluate(model: Any, names: list[str], pixels: np.ndarray) -> list[np.ndarray]:
    onnx = require("onnx", "onnx", "the ONNX backend")
    ort = require("onnxruntime", "onnx", "the ONNX backend")
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend([onnx.helper.make_tensor_value_info(name, onnx.TensorProto.INT64, None)
                               for name in names])
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    return [np.asarray(value) for value in session.run(names, {probe.graph.input[0].name: pixels})]


def _prune(graph: Any) -> None:
    """Drop the nodes, constants and shape notes no graph output depends on any more."""
    needed = {out.name for out in graph.output}
    kept = []
    for node in reversed(list(graph.node)):
        if any(out in needed for out in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    for field in ("initializer", "value_info"):
        items = [item for item in getattr(graph, field) if item.name in needed]
        del getattr(graph, field)[:]
        getattr(graph, field).extend(items)


def fold_shape_pads(path: Path, pixels: np.ndarray) -> int:
    """Rewrite the single-input graph at `path` with every shape-computed Pad amount made a constant,
    evaluated on `pixels` (a batch at the export's fixed input size); an amount that differs between one
    image and the whole batch is left computed. Returns how many Pad inputs were folded."""
    onnx = require("onnx", "onnx", "the ONNX backend")
    names = _computed_pads(onnx.load(str(path), load_external_data=False).graph)  # weights not read
    if not names:
        return 0
    model = onnx.load(str(path))
    whole = _evaluate(model, names, pixels)
    single = _evaluate(model, names, pixels[:1])
    folded = {name: f"{name}_folded" for name, a, b in zip(names, whole, single, strict=True)
              if np.array_equal(a, b)}
    for name, value in zip(names, whole, strict=True):
        if name in folded:
            model.graph.initializer.append(onnx.numpy_helper.from_array(value.astype(np.int64), folded[name]))
    for node in model.graph.node:
        if node.op_type == "Pad" and len(node.input) > 1 and node.input[1] in folded:
            node.input[1] = folded[node.input[1]]
    _prune(model.graph)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return len(folded)
