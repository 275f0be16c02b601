"""Preprocessing as data: `prepare_array` (PIL + numpy) gives each model family's own processor or
transform output, needs no torch, and pickled checkpoints are refused before anything unpickles them."""

from __future__ import annotations

import ast
import pickle
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import pattern_image, run_cli
from PIL import Image

from lookalike.embedders import create_embedder
from lookalike.embedders.preprocess import Preprocess, from_hf_processor, from_timm_config, prepare_array, resize_u8
from lookalike.errors import ModelLoadError

TOLERANCE = 1e-4
ODD_SIZES = [(31, 500), (500, 31), (224, 224), (256, 300), (300, 256), (224, 100), (257, 256), (3, 3), (999, 998),
             (225, 224), (640, 13)]
IMAGENET = dict(image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
OPENAI = dict(image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711])


def _bilinear_is_native_u8() -> bool:
    """torch resizes uint8 bilinear natively (what `resize_u8` replicates) on AVX2 and ARM CPUs only."""
    return torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512") or platform.machine() in ("aarch64", "arm64")


def _processors() -> dict[str, object]:
    """Each family's processor with its real model's configuration."""
    from transformers import BitImageProcessor, CLIPImageProcessor, SiglipImageProcessor, ViTImageProcessor

    return {
        "siglip-base (google/siglip-base-patch16-224)": SiglipImageProcessor(),
        "clip-vit-b32 (openai/clip-vit-base-patch32)": CLIPImageProcessor(
            size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}, **OPENAI),
        "vit-base (google/vit-base-patch16-224)": ViTImageProcessor(size={"height": 224, "width": 224}),
        "dinov2-small (facebook/dinov2-small)": BitImageProcessor(
            size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}, **IMAGENET),
    }


def _generated() -> list[Image.Image]:
    """Noise (the harshest case for rounding) and flat patterns, of odd sizes and aspect ratios."""
    rng = np.random.default_rng(7)
    noise = [Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)) for width, height in ODD_SIZES]
    return noise + [pattern_image(seed, size=(123 + 40 * seed, 457 - 60 * seed)) for seed in range(3)]


def _shared(shared_data: Path) -> list[Image.Image]:
    samples = shared_data / "samples"
    paths = sorted((samples / "Images").glob("*.jpg")) + [samples / "Query_Image.jpg"]
    if not paths[:-1]:
        pytest.skip("no sample images")
    return [Image.open(path).convert("RGB") for path in paths]


def _worst_hf(processor: object, images: list[Image.Image]) -> float:
    pre = from_hf_processor(processor)
    assert pre is not None and pre.convention == "transformers"
    worst = 0.0
    for image in images:
        expected = processor(images=[image], return_tensors="np")["pixel_values"][0]  # type: ignore[operator]
        ours = prepare_array(image, pre)
        assert ours.dtype == np.float32 and ours.shape == expected.shape
        worst = max(worst, float(np.abs(ours - expected).max()))
    return worst


@pytest.mark.parametrize("family", list(_processors()))
def test_hf_families_equal_their_processor_on_odd_sizes(family: str) -> None:
    if family.startswith("vit") and not _bilinear_is_native_u8():
        pytest.skip("torch resizes uint8 bilinear in float on this CPU")
    assert _worst_hf(_processors()[family], _generated()) <= TOLERANCE


@pytest.mark.parametrize("family", list(_processors()))
def test_hf_families_equal_their_processor_on_shared_samples(family: str, shared_data: Path) -> None:
    if family.startswith("vit") and not _bilinear_is_native_u8():
        pytest.skip("torch resizes uint8 bilinear in float on this CPU")
    assert _worst_hf(_processors()[family], _shared(shared_data)) <= TOLERANCE


def test_hf_processors_become_the_expected_description() -> None:
    siglip, clip, vit, dinov2 = (from_hf_processor(p) for p in _processors().values())
    assert siglip == Preprocess(size=(224, 224), interpolation="bicubic", rescale=1 / 255, mean=(0.5,) * 3,
                                std=(0.5,) * 3, convention="transformers")
    assert clip is not None and (clip.shortest_edge, clip.crop) == (224, (224, 224))
    assert clip.mean == tuple(OPENAI["image_mean"])
    assert vit is not None and (vit.size, vit.crop, vit.interpolation) == ((224, 224), None, "bilinear")
    assert dinov2 is not None and (dinov2.shortest_edge, dinov2.crop) == (256, (224, 224))


def test_processors_it_does_not_replicate_are_left_to_themselves() -> None:
    from transformers import Siglip2ImageProcessor, SiglipImageProcessorPil

    assert from_hf_processor(SiglipImageProcessorPil()) is None  # another backend: other rounding
    assert from_hf_processor(Siglip2ImageProcessor()) is None  # patch-count sizing
    config = {"input_size": (3, 224, 224), "interpolation": "bicubic", "mean": (0.5,) * 3, "std": (0.5,) * 3,
              "crop_pct": 0.9, "crop_mode": "border"}
    assert from_timm_config(config) is None


TIMM_MODELS = ["tf_efficientnet_lite0", "resnet50.a1_in1k", "vgg16.tv_in1k"]


def _timm_config(name: str) -> dict[str, object]:
    import timm.data
    import timm.models

    return dict(timm.data.resolve_data_config({}, pretrained_cfg=timm.models.get_pretrained_cfg(name).to_dict()))


@pytest.mark.parametrize("name", TIMM_MODELS)
def test_timm_transforms_are_matched(name: str, shared_data: Path) -> None:
    import timm.data

    config = _timm_config(name)
    transform, pre = timm.data.create_transform(**config), from_timm_config(config)
    assert pre is not None and pre.convention == "torchvision"
    for image in _generated() + _shared(shared_data):
        expected = transform(image).numpy()
        ours = prepare_array(image, pre)
        assert ours.shape == expected.shape and float(np.abs(ours - expected).max()) <= TOLERANCE


def test_efficientnet_lite0_prepares_with_its_description(effnet) -> None:
    import timm.data

    assert effnet.preprocess == from_timm_config(effnet.data_config) and effnet.preprocess.shortest_edge == 256
    transform = timm.data.create_transform(**effnet.data_config)
    for image in _generated()[:4]:
        assert np.abs(effnet.prepare(image) - transform(image).numpy()).max() <= TOLERANCE


def test_autoencoder_input_is_unchanged() -> None:
    from lookalike.embedders.autoencoder import pixel_preprocess

    for image in _generated()[:5]:
        before = np.asarray(image.resize((64, 64), Image.Resampling.BILINEAR), np.float32) / 255.0
        assert np.array_equal(prepare_array(image, pixel_preprocess(64)), before.transpose(2, 0, 1))


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_resize_u8_is_torchs_resize_bit_for_bit(interpolation: str) -> None:
    from torchvision.transforms.v2 import functional as tvF

    if interpolation == "bilinear" and not _bilinear_is_native_u8():
        pytest.skip("torch resizes uint8 bilinear in float on this CPU")
    mode = tvF.InterpolationMode.BICUBIC if interpolation == "bicubic" else tvF.InterpolationMode.BILINEAR
    rng = np.random.default_rng(3)
    shapes = [((480, 640), (224, 224)), ((50, 60), (224, 224)), ((300, 224), (224, 224)), ((224, 300), (224, 100)),
              ((7, 1000), (333, 5)), ((1, 1), (4, 4))]
    for (height, width), target in shapes:
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        expected = tvF.resize(torch.from_numpy(pixels.copy()).permute(2, 0, 1), list(target), interpolation=mode,
                              antialias=True).permute(1, 2, 0).numpy()
        assert np.array_equal(resize_u8(pixels, *target, interpolation), expected)


def test_preparing_an_image_imports_no_torch(tmp_path: Path) -> None:
    picture = tmp_path / "p.png"
    pattern_image(1, size=(300, 200)).save(picture)
    code = (
        "import sys\nfrom PIL import Image\n"
        "from lookalike.embedders.preprocess import Preprocess, prepare_array\n"
        "pre = Preprocess(shortest_edge=256, crop=(224, 224), mean=(0.5,) * 3, std=(0.5,) * 3, "
        "convention='transformers')\n"
        f"array = prepare_array(Image.open({str(picture)!r}), pre)\n"
        "assert array.shape == (3, 224, 224), array.shape\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'torchvision', 'transformers', 'timm'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _module_imports(path: Path, package: list[str]) -> set[str]:
    """Modules of lookalike.embedders that `path` imports anywhere (functions included), except under
    `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    skipped = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
               and ast.unparse(block.test).endswith("TYPE_CHECKING") for item in block.body for node in ast.walk(item)}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level and id(node) not in skipped:
            base = package[: len(package) - node.level + 1]
            target = ".".join([*base, node.module or ""]).strip(".")
            names = [target] if node.module else [f"{target}.{alias.name}" for alias in node.names]
            found.update(names)
    return found


def test_embedders_have_no_import_circle() -> None:
    folder = Path(__file__).resolve().parents[2] / "src" / "lookalike" / "embedders"
    modules = {path.stem: path for path in folder.glob("*.py") if path.stem != "__init__"}
    graph = {name: {target.split(".")[1] for target in _module_imports(path, ["embedders"])
                    if target.startswith("embedders.") and target.split(".")[1] in modules} - {name}
             for name, path in modules.items()}
    assert "registry" in graph["head"] or "head" in graph["registry"]  # the check sees the edges

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in graph[start])

    circles = [name for name in graph if reaches(name, name, {name})]
    assert not circles, {name: sorted(graph[name]) for name in circles}


class _Touch:
    """A pickle that, once loaded, creates a file: proof that it ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return Path.touch, (self.marker,)


@pytest.fixture
def hostile_model(tmp_path: Path) -> tuple[Path, Path]:
    from tiny_models import build_tiny_siglip

    folder = build_tiny_siglip(tmp_path / "hostile", with_tokenizer=False)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "it-ran"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Touch(marker)))
    return folder, marker


def test_a_pickled_checkpoint_is_refused_in_our_words(hostile_model: tuple[Path, Path]) -> None:
    folder, marker = hostile_model
    with pytest.raises(ModelLoadError) as caught:
        create_embedder(str(folder))
    message = str(caught.value)
    assert f"model {folder}: pickled checkpoint pytorch_model.bin refused" in message
    assert "safetensors" in message and "weights_only" not in message and "\n" not in message
    assert not marker.exists()


def test_the_cli_refuses_a_pickled_checkpoint(hostile_model: tuple[Path, Path], image_folder: Path) -> None:
    folder, marker = hostile_model
    done = run_cli("pairs", str(image_folder), "-m", str(folder), check=False)
    assert done.returncode == 1 and "pickled checkpoint pytorch_model.bin refused" in done.stderr
    assert "Traceback" not in done.stderr and "weights_only" not in done.stderr and not marker.exists()
