"""Which blocks `--finetune-last` trains, on randomly initialised timm models (no weights needed)."""

from __future__ import annotations

import pytest
import torch

from lookalike.errors import LookalikeError
from lookalike.training.finetune import find_blocks


@pytest.mark.parametrize(("name", "prefix", "count"), [
    ("resnet18", "layer", 4),
    ("vit_tiny_patch16_224", "blocks.", 12),
    ("tf_efficientnet_lite0", "blocks.", 7),
])
def test_blocks_of_timm_backbones(name: str, prefix: str, count: int) -> None:
    import timm

    model = timm.create_model(name, pretrained=False, num_classes=0)
    blocks = find_blocks(model)
    assert len(blocks) == count and all(key.startswith(prefix) for key, _ in blocks)
    last_key, last_block = blocks[-1]
    names = dict(model.named_modules())
    assert names[last_key] is last_block  # the prefix is the block's state-dict name


def test_a_model_without_blocks_is_refused() -> None:
    with pytest.raises(LookalikeError, match="cannot find the blocks of Linear"):
        find_blocks(torch.nn.Linear(3, 3))
