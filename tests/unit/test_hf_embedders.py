"""Tiny random SigLIP and CLIP through the real transformers loading, preprocessing and text paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import pattern_image

from lookalike.embedders import create_embedder
from lookalike.errors import ModelLoadError, SpecMismatchError, UnknownModelError, UnsupportedQueryError
from lookalike.pipeline import PipelineOptions, embed_paths
from lookalike.similarity.query import embed_image


@pytest.fixture(scope="module")
def tiny_clip(tiny_clip_dir: Path):
    return create_embedder(str(tiny_clip_dir), precision="fp32")


@pytest.mark.parametrize("which", ["tiny_siglip", "tiny_clip"])
def test_image_vectors_are_unit_float32_rows(which: str, request: pytest.FixtureRequest) -> None:
    embedder = request.getfixturevalue(which)
    vectors = embedder.embed_images([pattern_image(seed) for seed in range(3)])
    assert vectors.dtype == np.float32 and vectors.shape == (3, embedder.spec.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])


@pytest.mark.parametrize("which", ["tiny_siglip", "tiny_clip"])
def test_same_image_same_vector_in_batch_of_1_and_16(which: str, request: pytest.FixtureRequest) -> None:
    embedder = request.getfixturevalue(which)
    images = [pattern_image(seed) for seed in range(16)]
    alone = embedder.embed_images(images[:1], batch_size=1)[0]
    batched = embedder.embed_images(images, batch_size=16)[0]
    np.testing.assert_allclose(alone, batched, atol=1e-5)


@pytest.mark.parametrize("which", ["tiny_siglip", "tiny_clip"])
def test_text_tower(which: str, request: pytest.FixtureRequest) -> None:
    embedder = request.getfixturevalue(which)
    assert embedder.supports_text
    texts = embedder.embed_texts(["a dog on grass", "a red car"])
    assert texts.shape == (2, embedder.spec.dim)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(texts[0], texts[1])


def test_siglip_text_is_padded_to_max_length(tiny_siglip) -> None:
    short = tiny_siglip.embed_texts(["a dog"])
    again = tiny_siglip.embed_texts(["a dog", "the quick brown fox jumps over the lazy dog"])[0]
    np.testing.assert_allclose(short[0], again, atol=1e-5)  # padding does not depend on the batch


@pytest.mark.parametrize("which", ["tiny_siglip", "tiny_clip"])
def test_preprocessing_equals_the_models_own_processor(which: str, request: pytest.FixtureRequest) -> None:
    """`prepare` is the numpy `Preprocess` derived from the processor, and gives the processor's numbers."""
    embedder = request.getfixturevalue(which)
    assert embedder.preprocess is not None and embedder.preprocess.convention == "transformers"
    image = pattern_image(3, size=(90, 50))
    expected = embedder.processor(images=[image], return_tensors="pt")["pixel_values"][0]
    prepared = embedder.prepare(image)
    assert isinstance(prepared, np.ndarray) and prepared.dtype == np.float32
    assert torch.equal(torch.from_numpy(prepared), expected)


def test_query_and_indexed_images_share_one_path(tiny_siglip, tmp_path: Path) -> None:
    paths = []
    for seed in range(3):
        paths.append(tmp_path / f"{seed}.jpg")
        pattern_image(seed, size=(400, 300)).save(paths[-1], quality=90)
    indexed = embed_paths(tiny_siglip, paths, PipelineOptions(batch_size=2, workers=2))
    for position, path in enumerate(paths):
        np.testing.assert_allclose(embed_image(path, tiny_siglip), indexed.vectors[position], atol=1e-5)


def test_image_only_directory_has_no_text(tiny_siglip_dir: Path, tmp_path: Path) -> None:
    from tiny_models import build_tiny_siglip

    image_only = create_embedder(str(build_tiny_siglip(tmp_path / "m", with_tokenizer=False)), precision="fp32")
    assert not image_only.supports_text
    with pytest.raises(UnsupportedQueryError, match="no text tower"):
        image_only.embed_texts(["a dog"])


def test_spec_records_source_and_changes_with_weights(tiny_siglip, tiny_clip, tiny_siglip_dir: Path,
                                                      tmp_path: Path) -> None:
    import shutil

    from transformers import SiglipModel

    assert tiny_siglip.spec.extra["family"] == "siglip" and tiny_siglip.spec.revision
    with pytest.raises(SpecMismatchError) as caught:
        tiny_siglip.spec.check_compatible(tiny_clip.spec)
    assert caught.value.details == {"expected": tiny_siglip.spec.model, "given": tiny_clip.spec.model}
    tiny_siglip.spec.check_compatible(tiny_siglip.spec)
    retrained = tmp_path / "retrained"  # the same architecture and config, other weights
    shutil.copytree(tiny_siglip_dir, retrained)
    model = SiglipModel.from_pretrained(retrained)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01)
    model.save_pretrained(retrained)
    changed = create_embedder(str(retrained), precision="fp32")
    assert changed.spec.revision != tiny_siglip.spec.revision
    image = [pattern_image(3)]
    assert not np.allclose(changed.embed_images(image), tiny_siglip.embed_images(image), atol=1e-4)
    with pytest.raises(SpecMismatchError):
        tiny_siglip.spec.check_compatible(changed.spec)


def test_bf16_matches_fp32(tiny_siglip_dir: Path) -> None:
    bf16 = create_embedder(str(tiny_siglip_dir), precision="bf16")
    fp32 = create_embedder(str(tiny_siglip_dir), precision="fp32")
    images = [pattern_image(seed) for seed in range(4)]
    cosine = (bf16.embed_images(images) * fp32.embed_images(images)).sum(axis=1)
    assert cosine.min() > 0.98


def test_unknown_and_unloadable_models_explain_themselves(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match="efficientnet-lite0"):
        create_embedder("no-such-model")
    from lookalike.cli.errors import with_hint

    with pytest.raises(ModelLoadError, match="not in the local cache") as caught:
        create_embedder("siglip-base")  # not cached, and the hub is off in tests
    assert "\n" not in str(caught.value) and caught.value.details["offline"]
    assert with_hint(caught.value).endswith("--model efficientnet-lite0 works offline")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="directory"):
        create_embedder(str(tmp_path / "empty"))
    with pytest.raises(ModelLoadError, match="resnet50"):
        create_embedder("resnet50")


def test_an_unforeseen_preprocessing_error_skips_only_that_file(tiny_siglip, tmp_path: Path) -> None:
    """A processor that raises on one picture yields a failure for that file, not a crashed run."""
    from library_helpers import CountingEmbedder

    class Fussy(CountingEmbedder):
        def prepare(self, image):  # type: ignore[no-untyped-def]
            if image.size == (33, 33):
                raise ValueError("unsupported geometry")
            return super().prepare(image)

    paths = []
    for seed, size in enumerate([(40, 30), (33, 33), (50, 40)]):
        paths.append(tmp_path / f"{seed}.png")
        pattern_image(seed, size=size).save(paths[-1])
    result = embed_paths(Fussy(tiny_siglip), paths)
    assert result.paths == [paths[0], paths[2]] and result.vectors.shape[0] == 2
    assert len(result.failures) == 1 and "unsupported geometry" in result.failures[0].reason


def test_dual_tower_vectors_are_the_projected_embeddings(tiny_siglip, tiny_clip) -> None:
    """Image and text land in the shared space: CLIP's projection (16-d here), not the 32-d towers."""
    assert tiny_clip.spec.dim == tiny_clip.model.config.projection_dim == 16
    assert tiny_siglip.spec.dim == tiny_siglip.model.config.vision_config.hidden_size
