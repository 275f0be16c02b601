"""Shared fixtures: tiny real models, the offline EfficientNet-Lite0, generated and shared images."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pg_fixture import fresh_database, postgres_url  # noqa: F401  (fixtures)
from PIL import Image
from tiny_models import build_tiny_clip, build_tiny_siglip

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ("reliability.summary",)  # the reliability summary lines, also under xdist


def shared_data_dir() -> Path | None:
    """../shared/data beside the checkout (or LOOKALIKE_SHARED_DATA), when present."""
    configured = os.environ.get("LOOKALIKE_SHARED_DATA")
    candidate = Path(configured) if configured else REPO.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    found = shared_data_dir()
    if found is None:
        pytest.skip("../shared/data is not present")
    return found


@pytest.fixture(scope="session", autouse=True)
def _offline_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test may reach a model hub, and none sees this machine's caches or settings: an empty
    HF_HOME, so a machine with cached weights behaves like one without, and no user lookalike.toml
    or LOOKALIKE_* variable (subprocesses inherit all of this)."""
    isolated = tmp_path_factory.mktemp("isolated-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        patch.setenv("HF_HOME", str(isolated / "huggingface"))
        patch.setenv("XDG_CONFIG_HOME", str(isolated / "config"))
        for name in list(os.environ):
            if name.startswith("LOOKALIKE_"):
                patch.delenv(name)
        # torch unless a test asks for ONNX Runtime (tests/unit/test_onnx_backend.py): an `auto` default
        # would export every model each test session builds; exports go to this session's cache only
        patch.setenv("LOOKALIKE_BACKEND", "torch")
        patch.setenv("LOOKALIKE_MODEL_CACHE", str(isolated / "models"))
        yield


@pytest.fixture(scope="session")
def tiny_siglip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_siglip(tmp_path_factory.mktemp("siglip") / "model")


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("clip") / "model")


@pytest.fixture(scope="session")
def tiny_siglip(tiny_siglip_dir: Path):
    from lookalike.embedders import create_embedder

    return create_embedder(str(tiny_siglip_dir), precision="fp32")


@pytest.fixture(scope="session")
def effnet():
    from lookalike.embedders import create_embedder

    return create_embedder("efficientnet-lite0")


CIFAR_PER_CLASS = 100


@pytest.fixture(scope="session")
def cifar_sample(shared_data: Path, effnet) -> tuple[np.ndarray, list[str]]:
    """The first 100 images of every CIFAR-10 class (../shared/data/cifar10-test) and their
    EfficientNet-Lite0 vectors, embedded once per session for the tests that need real embeddings."""
    from lookalike.evaluation.labelled import load_labelled
    from lookalike.pipeline import embed_paths

    labelled = load_labelled(shared_data / "cifar10-test")
    taken: dict[str, int] = {}
    keep = []
    for position, label in enumerate(labelled.labels):
        if taken.get(label, 0) < CIFAR_PER_CLASS:
            keep.append(position)
            taken[label] = taken.get(label, 0) + 1
    subset = labelled.subset(keep)
    embedded = embed_paths(effnet, subset.paths)
    assert len(embedded.paths) == 10 * CIFAR_PER_CLASS
    return embedded.vectors, subset.labels


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`python -m lookalike ARGS` offline, as a user runs it; asserts success unless `check` is off."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONIOENCODING="utf-8")
    done = subprocess.run([sys.executable, "-m", "lookalike", *args], capture_output=True, text=True, env=env,
                          timeout=300)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def pattern_image(seed: int, size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A distinct picture per seed: a colour field with a few random rectangles."""
    rng = np.random.default_rng(seed)
    width, height = size
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:] = rng.integers(0, 256, 3)
    for _ in range(4):
        x0, y0 = rng.integers(0, width // 2), rng.integers(0, height // 2)
        x1, y1 = x0 + rng.integers(4, width // 2), y0 + rng.integers(4, height // 2)
        pixels[y0:y1, x0:x1] = rng.integers(0, 256, 3)
    return Image.fromarray(pixels)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Six generated JPEGs in two subfolders."""
    folder = tmp_path / "photos"
    for seed in range(6):
        target = folder / ("a" if seed < 3 else "b") / f"img_{seed}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        pattern_image(seed).save(target, quality=92)
    return folder


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (installed by `make test` through scripts/ensure_chromium.sh;
    never Playwright's own browser download). Skips with the reason when either is missing."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/ensure_chromium.sh could not install it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:  # launch() starts from a fresh temporary profile
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-snapshots", action="store_true",
                     help="rewrite tests/snapshots and the README's console blocks from what the program prints now")


@pytest.fixture(scope="session")
def update_snapshots(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-snapshots"))
