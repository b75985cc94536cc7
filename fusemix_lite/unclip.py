"""Full profile: audio-to-image generation with a pretrained unCLIP decoder (``diffusers``).

unCLIP-style generators draw an image from a CLIP *image embedding*. FuseMix aligns audio
latents (Whisper) into that embedding space, with the CLIP side frozen; the aligned audio vector
then takes the place of the CLIP embedding and the pretrained generator is used as is. The
pipeline used here is Stable unCLIP (``StableUnCLIPImg2ImgPipeline``), whose ``image_embeds``
argument accepts such a vector directly.

``diffusers`` is optional (``pip install diffusers``); it is imported only inside functions.
:func:`tiny_stable_unclip` builds a randomly initialised miniature of the same pipeline, with no
download, so that the wiring can run (and be tested) offline: its pictures are noise.
Introduced in chapter 8.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .encoders.hub import hub_offline
from .errors import OfflineError

__all__ = ["UnclipSpec", "UNCLIP_MODELS", "require_diffusers", "load_unclip", "embed_dim_of",
           "typical_norm", "rescale", "generate", "tiny_stable_unclip"]


@dataclass(frozen=True)
class UnclipSpec:
    """A pretrained unCLIP pipeline on the Hugging Face hub and the CLIP embedding it expects."""

    repo_id: str
    embed_dim: int
    clip_model: str
    note: str = ""


UNCLIP_MODELS: dict[str, UnclipSpec] = {
    "stable-unclip-l": UnclipSpec("stabilityai/stable-diffusion-2-1-unclip-small", 768, "CLIP ViT-L/14",
                                  "768 px images; about 5 GB in fp16"),
    "stable-unclip-h": UnclipSpec("stabilityai/stable-diffusion-2-1-unclip", 1024, "OpenCLIP ViT-H/14",
                                  "768 px images; about 5 GB in fp16"),
}


def require_diffusers() -> Any:
    """Import ``diffusers`` or raise an ``ImportError`` that says how to install it."""
    try:
        import diffusers
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "audio-to-image generation with a pretrained unCLIP model needs the optional package "
            "`diffusers`: run `pip install diffusers` (or `pip install fusemix-lite[generate]`)"
        ) from e
    return diffusers


def load_unclip(name: str = "stable-unclip-l", device: str | torch.device | None = None,
                dtype: torch.dtype | None = None, **kwargs: Any) -> Any:
    """Load a pretrained Stable unCLIP pipeline (full profile: downloads about 5 GB once).

    ``name`` is a key of :data:`UNCLIP_MODELS` or a hub id / local folder of a
    ``StableUnCLIPImg2ImgPipeline``. Defaults: CUDA and fp16 when a GPU is present, else CPU and
    fp32. Offline (``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` set, or the hub unreachable: the
    encoders' :func:`~fusemix_lite.encoders.hub.hub_offline`) only a cached copy is used, and its
    absence raises :class:`~fusemix_lite.errors.OfflineError` within seconds. Introduced in chapter 8.
    """
    diffusers = require_diffusers()
    repo = UNCLIP_MODELS[name].repo_id if name in UNCLIP_MODELS else name
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = dtype or (torch.float16 if device.type == "cuda" else torch.float32)
    offline = hub_offline()
    kwargs["local_files_only"] = offline or kwargs.get("local_files_only", False)
    try:
        pipe = diffusers.StableUnCLIPImg2ImgPipeline.from_pretrained(repo, torch_dtype=dtype, **kwargs)
    except (OSError, ValueError) as e:
        if offline:
            raise OfflineError(
                f"the unCLIP pipeline {repo!r} is not in the local Hugging Face cache and this machine is offline; "
                "it belongs to the full profile (run online once, or use the offline generator of chapter 8)"
            ) from e
        raise
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def embed_dim_of(pipe: Any) -> int:
    """Width of the CLIP image embedding the pipeline is conditioned on."""
    normalizer = getattr(pipe, "image_normalizer", None)
    if normalizer is None:
        raise TypeError(f"{type(pipe).__name__} has no image_normalizer: is it a Stable unCLIP pipeline?")
    return int(normalizer.mean.shape[-1])


def typical_norm(pipe: Any) -> float:
    """Expected L2 norm of a CLIP image embedding for this pipeline, from the normaliser's
    per-dimension mean and standard deviation: sqrt(sum(mean^2 + std^2))."""
    n = pipe.image_normalizer
    mean, std = n.mean.detach().float(), n.std.detach().float()
    return float(torch.sqrt((mean**2 + std**2).sum()))


def rescale(embeds: Tensor, norm: float) -> Tensor:
    """Give every row the L2 norm ``norm``. FuseMix adapters output unit vectors; CLIP image
    embeddings that unCLIP was trained on are not normalised, so their scale has to be restored."""
    if norm <= 0:
        raise ValueError(f"norm must be positive, got {norm}")
    return embeds / embeds.norm(dim=-1, keepdim=True).clamp_min(1e-12) * norm


@torch.no_grad()
def generate(pipe: Any, embeds: Tensor, steps: int = 20, guidance: float = 10.0, noise_level: int = 0,
             seed: int = 0, prompt: str = "", height: int | None = None, width: int | None = None,
             norm: float | None | str = "auto") -> Tensor:
    """Images drawn by a Stable unCLIP pipeline from embeddings: Tensor[B, 3, H, W] in [0, 1].

    ``embeds`` [B, D] are aligned audio (or CLIP image) embeddings of the pipeline's width D.
    ``norm="auto"`` rescales each row to :func:`typical_norm`; a number rescales to that norm;
    ``None`` leaves them as they are. ``noise_level`` (0-1000) noises the embedding first, as
    Stable unCLIP does for variations; ``prompt`` is an optional text prompt used alongside
    (empty by default: the sound alone decides). The same seed gives the same images.
    Introduced in chapter 8.
    """
    require_diffusers()
    if not isinstance(embeds, Tensor) or embeds.ndim != 2:
        raise ValueError(f"embeds must be a Tensor [B, D], got {getattr(embeds, 'shape', type(embeds))}")
    dim = embed_dim_of(pipe)
    if embeds.shape[1] != dim:
        raise ValueError(f"the pipeline expects {dim}-d image embeddings, got {embeds.shape[1]}-d: "
                         f"align the audio encoder into this CLIP space (adapter out_dim = {dim})")
    if not torch.isfinite(embeds).all():
        raise ValueError("embeds have NaN or infinite values")
    if norm == "auto":
        embeds = rescale(embeds.float(), typical_norm(pipe))
    elif norm is not None:
        embeds = rescale(embeds.float(), float(norm))
    unet = pipe.unet
    embeds = embeds.to(device=unet.device, dtype=unet.dtype)
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    out = pipe(prompt=[prompt] * embeds.shape[0], image_embeds=embeds, num_inference_steps=steps,
               guidance_scale=guidance, noise_level=noise_level, generator=g, height=height, width=width,
               output_type="pt")
    return out.images.float().clamp(0, 1).cpu()


def _byte_vocab() -> dict[str, int]:
    """A character-level CLIP vocabulary (GPT-2 byte-to-unicode table), no merges."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    chars = [chr(c) for c in cs]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": 256 + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = 512
    vocab["<|endoftext|>"] = 513
    return vocab


def tiny_stable_unclip(embed_dim: int = 32, image_size: int = 32, seed: int = 0) -> Any:
    """A randomly initialised, tiny ``StableUnCLIPImg2ImgPipeline`` taking ``embed_dim``-d image
    embeddings and drawing ``image_size`` px images: the wiring of the full profile, offline, in
    seconds, with no download. Its pictures are noise: it has never been trained.
    Introduced in chapter 8.
    """
    diffusers = require_diffusers()
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import StableUnCLIPImageNormalizer
    from transformers import (CLIPImageProcessor, CLIPTextConfig, CLIPTextModel, CLIPTokenizer,
                              CLIPVisionConfig, CLIPVisionModelWithProjection)

    if embed_dim < 2 or image_size % 8:
        raise ValueError(f"need embed_dim >= 2 and image_size a multiple of 8, got {embed_dim}, {image_size}")
    hidden = 32
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "vocab.json"), "w") as f:
            json.dump(_byte_vocab(), f)
        with open(os.path.join(tmp, "merges.txt"), "w") as f:
            f.write("#version: 0.2\n")
        tokenizer = CLIPTokenizer.from_pretrained(tmp, model_max_length=16)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=514, bos_token_id=512, eos_token_id=513, pad_token_id=513, hidden_size=hidden,
        intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=16))
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=hidden, projection_dim=embed_dim, num_hidden_layers=2, num_attention_heads=4,
        image_size=32, patch_size=8, intermediate_size=37))
    unet = diffusers.UNet2DConditionModel(
        sample_size=image_size, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(32, 64), attention_head_dim=(2, 4), layers_per_block=1, cross_attention_dim=hidden,
        class_embed_type="projection", projection_class_embeddings_input_dim=2 * embed_dim,
        use_linear_projection=True)
    vae = diffusers.AutoencoderKL(block_out_channels=(32,), norm_num_groups=8, latent_channels=4)
    pipe = diffusers.StableUnCLIPImg2ImgPipeline(
        feature_extractor=CLIPImageProcessor(crop_size=32, size=32),
        image_encoder=image_encoder.eval(),
        image_normalizer=StableUnCLIPImageNormalizer(embedding_dim=embed_dim).eval(),
        image_noising_scheduler=diffusers.DDPMScheduler(beta_schedule="squaredcos_cap_v2"),
        tokenizer=tokenizer,
        text_encoder=text_encoder.eval(),
        unet=unet.eval(),
        scheduler=diffusers.DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                          prediction_type="v_prediction", set_alpha_to_one=False, steps_offset=1),
        vae=vae.eval(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
