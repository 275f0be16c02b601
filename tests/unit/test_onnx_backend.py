"""The ONNX Runtime backend: exports equal to torch (tiny SigLIP/CLIP, the real EfficientNet-Lite0),
the same rankings, a corrupt or stale export remade and never used, int8 refused until measured, and
a query that imports neither torch, timm nor transformers once the export exists."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_image

from lookalike.embedders import create_embedder
from lookalike.embedders.onnx_cache import IMAGE_FILE, SIDECAR, export_dir, file_sha256
from lookalike.errors import InvalidArgumentError, ModelLoadError

TEXTS = ["a photo of a dog", "Two CATS, on a sofa!", "the grass is green " * 10]
HEAVY = {"torch", "timm", "transformers", "torchvision"}


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def effnet_onnx(onnx_cache: Path):
    """The real EfficientNet-Lite0 exported once per test session."""
    return create_embedder("efficientnet-lite0", backend="onnx", cache_dir=onnx_cache)


def _pictures(count: int, start: int = 0) -> list:
    return [pattern_image(seed, (96, 80)) for seed in range(start, start + count)]


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))


@pytest.mark.parametrize("which", ["siglip", "clip"])
def test_tiny_model_exports_match_torch(which: str, request: pytest.FixtureRequest, onnx_cache: Path) -> None:
    folder = request.getfixturevalue(f"tiny_{which}_dir")
    torch_model = create_embedder(str(folder), precision="fp32")
    onnx_model = create_embedder(str(folder), backend="onnx", cache_dir=onnx_cache)
    assert type(onnx_model).__name__ == "OnnxEmbedder"
    assert onnx_model.spec == torch_model.spec  # libraries built with either backend accept the other's queries
    pictures = _pictures(6)
    assert _min_cosine(onnx_model.embed_images(pictures), torch_model.embed_images(pictures)) >= 0.9999
    assert _min_cosine(onnx_model.embed_texts(TEXTS), torch_model.embed_texts(TEXTS)) >= 0.9999
    sidecar = json.loads((export_dir(onnx_cache, str(folder), "fp32") / SIDECAR).read_text())
    assert sidecar["model"] == str(folder) and sidecar["precision"] == "fp32"
    assert sidecar["input_shape"] == [3, 32, 32]
    assert sidecar["parity"]["images"] >= 0.9999 and sidecar["parity"]["texts"] >= 0.9999
    assert sidecar["text"]["kind"] == ("sentencepiece-siglip" if which == "siglip" else "tokenizers")
    for name, digest in sidecar["files"].items():
        assert file_sha256(export_dir(onnx_cache, str(folder), "fp32") / name) == digest


def test_trained_head_exports_with_its_base(tiny_siglip, tiny_siglip_dir: Path, onnx_cache: Path,
                                            tmp_path: Path) -> None:
    import torch

    from lookalike.embedders.head import ProjectionHead
    from lookalike.embedders.headfile import save_head

    torch.manual_seed(1)
    head = ProjectionHead(tiny_siglip.spec.dim, 8, 16)
    torch.nn.init.normal_(head.mlp[2].weight)
    path = tmp_path / "head.pt"
    save_head({"kind": "projection", "loss": "supcon", "in_dim": tiny_siglip.spec.dim, "dim": 8, "hidden": 16,
               "base_model": str(tiny_siglip_dir), "base_spec": json.loads(tiny_siglip.spec.to_json()),
               "state": head.state_dict()}, path)
    torch_head = create_embedder(str(path), precision="fp32")
    onnx_head = create_embedder(str(path), backend="onnx", cache_dir=onnx_cache)
    assert type(onnx_head).__name__ == "OnnxEmbedder" and onnx_head.spec == torch_head.spec
    pictures = _pictures(4)
    assert _min_cosine(onnx_head.embed_images(pictures), torch_head.embed_images(pictures)) >= 0.9999
    assert _min_cosine(onnx_head.embed_texts(TEXTS), torch_head.embed_texts(TEXTS)) >= 0.9999


def test_efficientnet_export_gives_torch_vectors_and_rankings(effnet_onnx, effnet) -> None:
    assert type(effnet_onnx).__name__ == "OnnxEmbedder"
    assert effnet_onnx.meta.parity["images"] >= 0.9999
    assert effnet_onnx.spec == effnet.spec
    pictures = _pictures(12)
    torch_fp32 = create_embedder("efficientnet-lite0", precision="fp32")
    ours, theirs = effnet_onnx.embed_images(pictures), torch_fp32.embed_images(pictures)
    assert _min_cosine(ours, theirs) >= 0.9999
    np.testing.assert_array_equal(np.argsort(-(ours @ ours.T), axis=1, kind="stable")[:, :5],
                                  np.argsort(-(theirs @ theirs.T), axis=1, kind="stable")[:, :5])


def test_efficientnet_export_pads_with_constants(effnet_onnx, tmp_path: Path) -> None:
    """Its "same" padding is folded into constants: no shape arithmetic is left, and ONNX Runtime fuses
    every Pad into its convolution (one blocked-layout chain, no Pad node) with the vectors unchanged."""
    import onnx
    import onnxruntime as ort

    graph = onnx.load(str(effnet_onnx.folder / IMAGE_FILE)).graph
    constants = {item.name for item in graph.initializer}
    pads = [node for node in graph.node if node.op_type == "Pad"]
    assert pads and all(node.input[1] in constants for node in pads)
    assert not {node.op_type for node in graph.node} & {"Shape", "Ceil", "ConstantOfShape"}
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    ort.InferenceSession(str(effnet_onnx.folder / IMAGE_FILE), options, providers=["CPUExecutionProvider"])
    optimised = [node.op_type for node in onnx.load(str(tmp_path / "optimised.onnx")).graph.node]
    assert "Pad" not in optimised and optimised.count("Conv") == 49


def test_corrupt_and_stale_exports_are_remade(tiny_clip_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "clip"
    model.mkdir()
    for item in tiny_clip_dir.iterdir():
        (model / item.name).write_bytes(item.read_bytes())
    first = create_embedder(str(model), backend="onnx", cache_dir=tmp_path / "cache")
    expected = first.embed_images(_pictures(3))
    image = export_dir(tmp_path / "cache", str(model), "fp32") / IMAGE_FILE
    damaged = bytearray(image.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    image.write_bytes(bytes(damaged))
    capsys.readouterr()
    again = create_embedder(str(model), backend="onnx", cache_dir=tmp_path / "cache")
    assert "corrupt: image.onnx does not match its checksum" in capsys.readouterr().err
    assert file_sha256(image) == again.meta.files[IMAGE_FILE]
    np.testing.assert_allclose(again.embed_images(_pictures(3)), expected, atol=1e-6)
    weights = next(model.glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    third = create_embedder(str(model), backend="onnx", cache_dir=tmp_path / "cache")
    assert "stale: the model's weights changed" in capsys.readouterr().err
    assert third.meta.fingerprint != again.meta.fingerprint


def test_int8_is_refused_until_measured(effnet_onnx, onnx_cache: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"int8 refused: no int8 measurement.*lookalike quantize"):
        create_embedder("efficientnet-lite0", backend="auto", precision="int8", cache_dir=onnx_cache)
    with pytest.raises(InvalidArgumentError, match="int8 runs on ONNX Runtime"):
        create_embedder("efficientnet-lite0", backend="torch", precision="int8")
    with pytest.raises(InvalidArgumentError, match="ONNX Runtime runs fp32 or int8"):
        create_embedder("efficientnet-lite0", backend="onnx", precision="bf16")


def test_int8_is_used_only_after_a_passing_measurement(tiny_clip_dir: Path, tmp_path: Path) -> None:
    from lookalike.embedders.quantize import make_int8, record_measurement

    fp32 = create_embedder(str(tiny_clip_dir), backend="onnx", cache_dir=tmp_path)
    int8 = make_int8(str(tiny_clip_dir), fp32, tmp_path)
    with pytest.raises(ModelLoadError, match="int8 refused: not measured yet"):
        create_embedder(str(tiny_clip_dir), precision="int8", backend="auto", cache_dir=tmp_path)
    failing = {"set": "s", "recall_vs_fp32": 0.9, "ns_fp32": 3.5, "ns_int8": 3.49}
    assert not record_measurement(int8, failing)["allowed"]
    with pytest.raises(ModelLoadError, match=r"recall@10 against fp32 0\.9000"):
        create_embedder(str(tiny_clip_dir), precision="int8", backend="auto", cache_dir=tmp_path)
    assert record_measurement(int8, {**failing, "recall_vs_fp32": 0.995})["allowed"]
    used = create_embedder(str(tiny_clip_dir), precision="int8", backend="auto", cache_dir=tmp_path)
    assert used.meta.precision == "int8" and used.meta.quantization["measurement"]["recall_vs_fp32"] == 0.995
    pictures = _pictures(4)
    assert _min_cosine(used.embed_images(pictures), fp32.embed_images(pictures)) > 0.9


def test_auto_picks_onnx_on_a_cpu_and_torch_on_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from lookalike.embedders import onnx_backend

    monkeypatch.setattr(onnx_backend, "nvidia_gpu_present", lambda: False)
    assert onnx_backend.choose_backend("auto", "auto", "auto") == "onnx"
    assert onnx_backend.choose_backend("auto", "cpu", "fp32") == "onnx"
    assert onnx_backend.choose_backend("auto", "cpu", "bf16") == "torch"  # ONNX Runtime runs no bf16 here
    assert onnx_backend.choose_backend("auto", "cuda:0", "auto") == "torch"
    monkeypatch.setattr(onnx_backend, "nvidia_gpu_present", lambda: True)
    assert onnx_backend.choose_backend("auto", "auto", "auto") == "torch"
    assert onnx_backend.choose_backend("auto", "auto", "int8") == "onnx"
    with pytest.raises(InvalidArgumentError, match="runs on the CPU"):
        onnx_backend.choose_backend("onnx", "cuda", "fp32")
    monkeypatch.setattr(onnx_backend, "nvidia_gpu_present", lambda: False)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # an install without the onnx extra
    assert onnx_backend.choose_backend("auto", "cpu", "fp32") == "torch"
    assert onnx_backend.choose_backend("onnx", "cpu", "fp32") == "onnx"  # asked for: its missing extra is one line


def _imported(stderr: str) -> set[str]:
    """Top-level module names in `python -X importtime` output."""
    return {match.group(1).split(".")[0] for match in re.finditer(r"^import time:.*\|\s+(\S+)\s*$", stderr, re.M)}


def _cli(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LOOKALIKE_BACKEND="auto", LOOKALIKE_MODEL_CACHE=str(cache), PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "lookalike", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_query_path_imports_no_torch(effnet_onnx, onnx_cache: Path, tiny_siglip_dir: Path, tmp_path: Path) -> None:
    from lookalike.service import Lookalike
    from lookalike.settings import Settings

    photos = tmp_path / "photos"
    photos.mkdir()
    for seed, picture in enumerate(_pictures(5)):
        picture.save(photos / f"p{seed}.jpg", quality=90)
    query = tmp_path / "query.jpg"
    pattern_image(99, (96, 80)).save(query, quality=90)
    with Lookalike(Settings(backend="onnx", model_cache=onnx_cache)) as service:
        service.index(photos, model="efficientnet-lite0")
        service.index(photos, model=str(tiny_siglip_dir))  # exports the tiny SigLIP into the cache
    searched = _cli("search", str(query), "--library", str(photos / ".lookalike" / "efficientnet-lite0"),
                    "-k", "3", cache=onnx_cache)
    assert searched.returncode == 0, searched.stderr[-2000:]
    assert searched.stdout.count("p") >= 3 and "photos" in searched.stdout
    assert not HEAVY & _imported(searched.stderr)
    assert "onnxruntime" in _imported(searched.stderr)
    text = _cli("search", "--text", "a dog", str(photos), "-m", str(tiny_siglip_dir), "-k", "2", cache=onnx_cache)
    assert text.returncode == 0, text.stderr[-2000:]
    assert "p" in text.stdout and not HEAVY & _imported(text.stderr)
    lean = subprocess.run([sys.executable, "-X", "importtime", "-c", "import lookalike"], capture_output=True,
                          text=True, timeout=60)
    assert not (HEAVY | {"onnxruntime"}) & _imported(lean.stderr)
