"""The one interface every frozen encoder follows, and the small helpers they share.

An :class:`Encoder` turns raw items (a ``PIL.Image``, a ``str``, or ``(waveform, sample_rate)``)
into one float32 vector each. It is split in two halves so that a ``DataLoader`` can run the
first half in worker processes:

* ``prepare(raw)`` -- CPU only, no model: decode/resize/tokenise one item (runs in workers);
* ``collate(prepared)`` -- stack a list of prepared items into a batch (runs in workers too);
* ``forward(batch)`` -- run the frozen model and pool, giving ``Tensor[B, dim]``. Work that is
  cheaper on a whole batch (the offline image CNNs' normalisation) is done here, not per item.

``encode(raws)`` chains the three under ``torch.inference_mode()`` for quick use in a notebook.
Introduced in chapter 2.
"""

from __future__ import annotations

import gc
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .. import files
from ..pairs import resolve_device  # the library's one rule for device="auto"

MODALITIES = ("image", "text", "audio")

# ImageNet statistics (torchvision, DINOv2, MobileNetV2).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None`` -> float16 on a GPU (bfloat16 where supported), float32 on a CPU."""
    if dtype is None:
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if isinstance(dtype, str):
        names = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16,
                 "float16": torch.float16, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}
        if dtype not in names:
            raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(names)}")
        return names[dtype]
    return dtype


@contextmanager
def single_threaded():
    """Run CPU preprocessing (``prepare``/``collate``) on one torch thread.

    On a small, busy machine, tiny tensor ops (normalise, stack, STFT) are up to 25x slower with
    OpenMP threads waiting on each other; and one thread makes the prepared inputs the same
    whether they are made in the main process or in a DataLoader worker (which uses one thread).
    """
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


_SHA_CACHE: dict[tuple, str] = {}


def file_sha256(*paths: str | Path) -> str:
    """SHA-256 of the concatenated bytes of ``paths`` (:func:`fusemix_lite.files.file_sha256`),
    cached per path, size and mtime: weights files are hashed once per session."""
    key = tuple((str(Path(p).resolve()), os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = files.file_sha256(*paths)
    return _SHA_CACHE[key]


def state_dict_sha256(model: torch.nn.Module) -> str:
    """SHA-256 over a module's parameter and buffer names and bytes (for injected models)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------
def to_rgb(image, background=(255, 255, 255)):
    """A ``PIL.Image`` in RGB; transparent images are composited onto ``background`` (white)."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        raise TypeError(f"an image encoder expects a PIL.Image, got {type(image).__name__}")
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def image_geometry(size: int, fit: str = "crop", interpolation: str = "bicubic"):
    """Resize + centre-crop (``fit="crop"``) or letterbox onto white (``fit="pad"``): a callable
    ``PIL.Image -> PIL.Image`` of ``size`` x ``size`` pixels."""
    from torchvision import transforms as T

    if fit not in ("crop", "pad"):
        raise ValueError(f"fit must be 'crop' or 'pad', got {fit!r}")
    interp = {"bicubic": T.InterpolationMode.BICUBIC, "bilinear": T.InterpolationMode.BILINEAR}[interpolation]
    if fit == "crop":
        return T.Compose([T.Resize(size, interpolation=interp), T.CenterCrop(size)])
    return _Letterbox(size, interp)


def image_transform(size: int, mean: Sequence[float], std: Sequence[float], fit: str = "crop",
                    interpolation: str = "bicubic"):
    """:func:`image_geometry`, then normalise: a callable ``PIL.Image -> FloatTensor[3, size, size]``."""
    from torchvision import transforms as T

    return T.Compose([image_geometry(size, fit, interpolation), T.ToTensor(), T.Normalize(list(mean), list(std))])


class _Letterbox:
    """Resize the longer side to ``size`` and pad onto a white square (keeps whole clip art)."""

    def __init__(self, size: int, interp):
        self.size, self.interp = size, interp

    def __call__(self, img):
        from PIL import Image
        from torchvision.transforms import functional as F

        w, h = img.size
        scale = self.size / max(w, h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        img = F.resize(img, [nh, nw], interpolation=self.interp)
        canvas = Image.new("RGB", (self.size, self.size), (255, 255, 255))
        canvas.paste(img, ((self.size - nw) // 2, (self.size - nh) // 2))
        return canvas


def image_preprocessing(size: int, mean, std, fit: str, interpolation: str, pooling: str) -> dict:
    """The JSON-able description of :func:`image_transform` stored with the latents."""
    return {"input": "PIL image; transparency composited onto white; RGB",
            "resize": f"shorter side to {size}, {interpolation}" if fit == "crop"
            else f"longer side to {size}, {interpolation}, pad onto white square",
            "crop": f"centre {size}x{size}" if fit == "crop" else "none",
            "size": size, "mean": [float(m) for m in mean], "std": [float(s) for s in std],
            "pooling": pooling}


# ---------------------------------------------------------------------------------------------
# The interface
# ---------------------------------------------------------------------------------------------
class Encoder:
    """A frozen unimodal encoder: raw items -> ``FloatTensor[B, dim]``. Introduced in chapter 2.

    Subclasses set ``name``, ``modality``, ``dim`` and ``preprocessing`` and implement
    ``_build()`` (the ``nn.Module`` on CPU), ``_weights_identity()``, ``prepare`` and ``forward``.
    """

    def __init__(self, name: str, modality: str, dim: int, preprocessing: dict):
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        self.name = name
        self.modality = modality
        self.dim = int(dim)
        self.preprocessing = dict(preprocessing)
        self.model: torch.nn.Module | None = None
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        self._weights_id: str | None = None

    def __repr__(self) -> str:
        state = f"loaded on {self.device}" if self.loaded else "not loaded"
        return f"{type(self).__name__}({self.name!r}, {self.modality}, dim={self.dim}, {state})"

    # ---- identity -----------------------------------------------------------------------
    @property
    def weights_id(self) -> str:
        """A string that changes whenever the weights change (e.g. the weight file's SHA-256)."""
        if self._weights_id is None:
            self._weights_id = self._weights_identity()
        return self._weights_id

    def _weights_identity(self) -> str:
        raise NotImplementedError

    def describe(self) -> dict:
        """Name, modality, dim, weights id and preprocessing: what the latent store records."""
        return {"encoder": self.name, "modality": self.modality, "dim": self.dim,
                "weights_id": self.weights_id, "preprocessing": self.preprocessing}

    # ---- life cycle ---------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self.model is not None

    def _build(self) -> torch.nn.Module:
        raise NotImplementedError

    def load(self, device: str | torch.device = "auto", dtype: str | torch.dtype | None = None) -> "Encoder":
        """Build the frozen model in eval mode on ``device`` (float16/bfloat16 on a GPU by default)."""
        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        if self.model is None:
            self.model = self._build()
        self.model = self.model.eval().requires_grad_(False).to(device=device, dtype=dtype)
        self.device, self.dtype = device, dtype
        return self

    def unload(self) -> None:
        """Release the model (and the GPU memory it held)."""
        self.model = None
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def __getstate__(self) -> dict:  # DataLoader workers (spawn) get the preprocessing only
        state = self.__dict__.copy()
        state["model"] = None
        return state

    # ---- the two halves ------------------------------------------------------------------
    def prepare(self, raw: Any) -> Any:
        """One raw item -> model input (CPU, no model; safe in DataLoader workers)."""
        raise NotImplementedError

    def collate(self, prepared: list) -> Any:
        """A list of prepared items -> one batch (runs in DataLoader workers too)."""
        return torch.stack(prepared)

    def forward(self, batch: Any) -> torch.Tensor:
        """A collated batch -> ``Tensor[B, dim]`` (any float dtype, on the model's device)."""
        raise NotImplementedError

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        """Move a tensor to the model's device; floating tensors also take the model's dtype."""
        if x.is_floating_point():
            return x.to(self.device, self.dtype, non_blocking=True)
        return x.to(self.device, non_blocking=True)

    @torch.inference_mode()
    def encode_batch(self, batch: Any) -> torch.Tensor:
        """``forward`` in inference mode, checked and returned as float32 on the CPU."""
        if self.model is None:
            raise RuntimeError(f"encoder {self.name!r} is not loaded; call .load(device) first")
        out = self.forward(batch)
        if out.ndim != 2 or out.shape[1] != self.dim:
            raise RuntimeError(f"encoder {self.name!r} returned shape {tuple(out.shape)}, expected [B, {self.dim}]")
        return out.float().cpu()

    def encode(self, raws: Sequence) -> torch.Tensor:
        """Raw items -> ``FloatTensor[B, dim]`` (float32, CPU); loads the model on first use."""
        if isinstance(raws, (str, bytes)) or not isinstance(raws, Sequence):
            raise TypeError(f"encode expects a list of raw items, got {type(raws).__name__}")
        if len(raws) == 0:
            return torch.empty(0, self.dim)
        if self.model is None:
            self.load()
        with single_threaded():
            batch = self.collate([self.prepare(r) for r in raws])
        return self.encode_batch(batch)


def as_float_mono(wave: Any, sample_rate: Any) -> tuple[np.ndarray, int]:
    """Check an audio raw item: a 1-D float numpy waveform and a positive integer sample rate."""
    if not isinstance(wave, np.ndarray):
        raise TypeError(f"audio must be a numpy array, got {type(wave).__name__}")
    if wave.ndim != 1:
        raise ValueError(f"audio must be mono, a 1-D array; got shape {wave.shape} "
                         "(average or pick the channels first)")
    if not np.issubdtype(wave.dtype, np.floating):
        raise ValueError(f"audio must be float samples in [-1, 1], got dtype {wave.dtype}")
    if wave.size == 0:
        raise ValueError("audio is empty (0 samples)")
    if not np.isfinite(wave).all():
        raise ValueError("audio contains NaN or infinite samples")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample rate must be a positive integer, got {sample_rate!r}")
    return wave.astype(np.float32, copy=False), int(sample_rate)
