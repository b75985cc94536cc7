"""Full profile: audio-to-image generation with a pretrained unCLIP decoder (``diffusers``).

unCLIP-style generators draw an image from a CLIP **image** embedding. The pipeline used here is
Stable unCLIP (``StableUnCLIPImg2ImgPipeline``): its ``image_embeds`` argument takes the place of
``image_encoder(feature_extractor(image)).image_embeds``, the embedding of an image by the
pipeline's own CLIP vision tower (OpenCLIP ViT-H/14, 1024-d, for
``stabilityai/stable-diffusion-2-1-unclip``; CLIP ViT-L/14, 768-d, for ``-unclip-small``). A CLIP
*text* embedding of the same width is not that: text and image embeddings occupy different
regions of CLIP's space (the modality gap), and the decoder was never trained on text ones.

So the audio has to reach the image-embedding space, and the API names the space of every
embedding it is given (:class:`EmbeddingSpace`); :func:`generate` refuses any other than the
pipeline's :func:`image_space`. Two routes get there:

1. Align the audio adapter to image embeddings: targets from :func:`image_embeds_of` (the
   pipeline's own image tower on the images paired with the sounds), pairs from
   :func:`image_target_pairs`.
2. Align the audio to CLIP text embeddings (sounds come with captions, not images), then map text
   embeddings to image embeddings with a prior: :class:`LinearPrior`, a ridge regression fitted on
   image-caption pairs (:func:`fit_prior`, e.g. on COCO), the simplest deterministic stand-in for
   unCLIP's diffusion prior.

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
import torch.nn.functional as F
from torch import Tensor

from .encoders.hub import hub_offline
from .errors import OfflineError

__all__ = ["EmbeddingSpace", "CLIP_IMAGE", "CLIP_TEXT", "UnclipSpec", "UNCLIP_MODELS", "require_diffusers",
           "load_unclip", "embed_dim_of", "image_space", "image_embeds_of", "image_target_pairs", "LinearPrior",
           "text_space", "fit_prior",
           "typical_norm", "rescale", "generate", "tiny_stable_unclip"]

CLIP_IMAGE = "clip-image"
CLIP_TEXT = "clip-text"


@dataclass(frozen=True)
class EmbeddingSpace:
    """Which vectors these are: their kind (``"clip-image"``, ``"clip-text"``, ...), the model that
    made them, and their width. Two spaces are the same only if all three match. Introduced in chapter 8."""

    kind: str
    model: str
    dim: int

    def __str__(self) -> str:
        return f"{self.kind} embeddings of {self.model} ({self.dim}-d)"


@dataclass(frozen=True)
class UnclipSpec:
    """A pretrained unCLIP pipeline on the Hugging Face hub and the CLIP embedding it reads.

    ``clip_text_encoder`` names the text tower of the same CLIP in :mod:`fusemix_lite.encoders`
    (a source space for :class:`LinearPrior`).
    """

    repo_id: str
    embed_dim: int
    clip_model: str
    clip_text_encoder: str
    note: str = ""

    @property
    def image_space(self) -> EmbeddingSpace:
        """The space ``image_embeds`` is read in: this CLIP's image embeddings."""
        return EmbeddingSpace(CLIP_IMAGE, self.clip_model, self.embed_dim)

    @property
    def text_space(self) -> EmbeddingSpace:
        """The same CLIP's text embeddings: *not* what the decoder reads (see :class:`LinearPrior`)."""
        return EmbeddingSpace(CLIP_TEXT, self.clip_model, self.embed_dim)


UNCLIP_MODELS: dict[str, UnclipSpec] = {
    "stable-unclip-l": UnclipSpec("stabilityai/stable-diffusion-2-1-unclip-small", 768, "CLIP ViT-L/14",
                                  "openclip-ViT-L-14-openai-text", "768 px images; about 5 GB in fp16"),
    "stable-unclip-h": UnclipSpec("stabilityai/stable-diffusion-2-1-unclip", 1024, "OpenCLIP ViT-H/14",
                                  "openclip-ViT-H-14-laion2b_s32b_b79k-text", "768 px images; about 5 GB in fp16"),
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
    pipe = pipe.to(device)
    clip = UNCLIP_MODELS[name].clip_model if name in UNCLIP_MODELS else f"the image encoder of {repo}"
    pipe._fusemix_image_space = EmbeddingSpace(CLIP_IMAGE, clip, embed_dim_of(pipe))
    return pipe


def embed_dim_of(pipe: Any) -> int:
    """Width of the CLIP image embedding the pipeline is conditioned on."""
    normalizer = getattr(pipe, "image_normalizer", None)
    if normalizer is None:
        raise TypeError(f"{type(pipe).__name__} has no image_normalizer: is it a Stable unCLIP pipeline?")
    return int(normalizer.mean.shape[-1])


def image_space(pipe: Any) -> EmbeddingSpace:
    """The space the pipeline's ``image_embeds`` are read in: its own CLIP image embeddings."""
    space = getattr(pipe, "_fusemix_image_space", None)
    if space is None:  # a pipeline not made by load_unclip / tiny_stable_unclip
        name = getattr(getattr(pipe.image_encoder, "config", None), "_name_or_path", "") or "an unnamed CLIP"
        space = EmbeddingSpace(CLIP_IMAGE, f"the image encoder of {name}", embed_dim_of(pipe))
    return space


@torch.no_grad()
def image_embeds_of(pipe: Any, images: Any, batch_size: int = 32) -> Tensor:
    """The CLIP image embeddings the decoder reads, of ``images``: Tensor[N, D] (float32, CPU).

    Exactly what the pipeline computes from an ``image=`` argument (its ``feature_extractor`` and
    ``image_encoder``), so these are the right alignment targets for sounds paired with images.
    ``images``: PIL images, paths to image files, or a float Tensor [N, 3, H, W] in [0, 1].
    Introduced in chapter 8.
    """
    from PIL import Image

    if isinstance(images, Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be a Tensor [N, 3, H, W] in [0, 1], got {tuple(images.shape)}")
        arrays = (images.detach().float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        images = [Image.fromarray(a) for a in arrays]
    images = list(images)
    if not images:
        raise ValueError("no images given")
    enc = pipe.image_encoder
    param = next(enc.parameters())
    out = []
    for i in range(0, len(images), batch_size):
        batch = [Image.open(im).convert("RGB") if isinstance(im, (str, os.PathLike)) else im.convert("RGB")
                 for im in images[i:i + batch_size]]
        pixels = pipe.feature_extractor(images=batch, return_tensors="pt").pixel_values
        out.append(enc(pixels.to(device=param.device, dtype=param.dtype)).image_embeds.float().cpu())
    return torch.cat(out)


def image_target_pairs(items: Tensor, image_embeds: Tensor, split: str | None = None,
                       dataset: str | None = None) -> Any:
    """Training pairs for an aligner into the image space: item i (e.g. a clip's Whisper latent)
    with ``image_embeds[i]`` (the embedding of its paired image, from :func:`image_embeds_of`), as a
    ``PairedLatents`` for :func:`fusemix_lite.train.train`. Introduced in chapter 8."""
    from .pairs import PairedLatents

    if items.ndim != 2 or image_embeds.ndim != 2 or len(items) != len(image_embeds):
        raise ValueError(f"need one image embedding per item, got items {tuple(items.shape)} and image "
                         f"embeddings {tuple(image_embeds.shape)}")
    return PairedLatents(items.float(), image_embeds.float(), torch.arange(len(items)), split=split, dataset=dataset)


class LinearPrior(torch.nn.Module):
    """A deterministic prior: the ridge-regression map from one space (e.g. CLIP text embeddings)
    to another (the CLIP image embeddings a decoder reads), fitted in closed form on pairs.

    Inputs are L2-normalised first (in :meth:`fit` and when called), so unit-norm outputs of a
    FuseMix adapter and raw encoder outputs are treated alike. It predicts the *mean* image
    embedding of a caption, where unCLIP's diffusion prior samples one: simpler, less varied.
    Introduced in chapter 8.
    """

    def __init__(self, weight: Tensor, bias: Tensor, source: EmbeddingSpace, target: EmbeddingSpace):
        super().__init__()
        if tuple(weight.shape) != (source.dim, target.dim) or tuple(bias.shape) != (target.dim,):
            raise ValueError(f"weight {tuple(weight.shape)} / bias {tuple(bias.shape)} do not map "
                             f"{source.dim}-d to {target.dim}-d")
        self.register_buffer("weight", weight.float())
        self.register_buffer("bias", bias.float())
        self.source, self.target = source, target

    @classmethod
    def fit(cls, x: Tensor, y: Tensor, source: EmbeddingSpace, target: EmbeddingSpace,
            ridge: float = 1e-3) -> "LinearPrior":
        """Fit on pairs: ``x`` [M, source.dim] (e.g. caption embeddings) and ``y`` [M, target.dim]
        (the embedding of each caption's image). ``ridge`` is relative to the mean squared input."""
        if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
            raise ValueError(f"need paired rows, got x {tuple(x.shape)} and y {tuple(y.shape)}")
        if x.shape[1] != source.dim or y.shape[1] != target.dim:
            raise ValueError(f"x is {x.shape[1]}-d and y {y.shape[1]}-d, but the spaces say "
                             f"{source.dim}-d ({source}) and {target.dim}-d ({target})")
        if ridge <= 0:
            raise ValueError(f"ridge must be positive, got {ridge}")
        x = F.normalize(x.double(), dim=1)
        y = y.double()
        mx, my = x.mean(0), y.mean(0)
        xc, yc = x - mx, y - my
        gram = xc.T @ xc
        gram += ridge * gram.diagonal().mean() * torch.eye(gram.shape[0], dtype=gram.dtype)
        weight = torch.linalg.solve(gram, xc.T @ yc)
        return cls(weight, my - mx @ weight, source, target)

    def forward(self, x: Tensor, space: EmbeddingSpace | None = None) -> Tensor:
        """Map ``x`` [B, source.dim] to the target space; ``space`` (if given) must be the source."""
        if space is not None and space != self.source:
            raise ValueError(f"the prior maps {self.source}; got {space}")
        if x.ndim != 2 or x.shape[1] != self.source.dim:
            raise ValueError(f"the prior maps {self.source}; got a tensor of shape {tuple(x.shape)}")
        return F.normalize(x.float(), dim=1).to(self.weight) @ self.weight + self.bias


def text_space(text_encoder: str, dim: int) -> EmbeddingSpace:
    """The space of a text encoder's latents (``clip-text`` for an open_clip text tower)."""
    return EmbeddingSpace(CLIP_TEXT if text_encoder.startswith("openclip-") else "text", text_encoder, dim)


def fit_prior(pipe: Any, dataset: Any, text_encoder: Any, split: str = "train", n_items: int | None = None,
              store: Any = None, ridge: float = 1e-3, batch_size: int = 32, **extract_kw: Any) -> LinearPrior:
    """A :class:`LinearPrior` from ``text_encoder``'s caption latents to ``pipe``'s image space,
    fitted on the image-caption pairs of ``dataset``/``split`` (its first ``n_items`` images, e.g.
    COCO's): every caption's latent is paired with :func:`image_embeds_of` its image. The caption
    latents come from the latent store (extracted on first use). Introduced in chapter 8.
    """
    import numpy as np

    from .extract import extract
    from .paths import latent_dir
    from .store import LatentStore

    lat = extract(dataset, split, "text", text_encoder, store or LatentStore(latent_dir()), **extract_kw)
    texts = torch.from_numpy(np.array(lat.array, dtype=np.float32))
    item = torch.from_numpy(np.array(lat.item_index)).long()
    items = dataset.split(split).items
    n = len(items) if n_items is None else min(int(n_items), len(items))
    if n < 2:
        raise ValueError(f"need at least 2 images to fit a prior, got {n}")
    keep = item < n
    images = image_embeds_of(pipe, [dataset.path(it.image) for it in items[:n]], batch_size)
    name = getattr(text_encoder, "name", text_encoder)  # a registry name or an Encoder
    return LinearPrior.fit(texts[keep], images[item[keep]], text_space(name, texts.shape[1]), image_space(pipe), ridge)


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
def generate(pipe: Any, embeds: Tensor, *, space: EmbeddingSpace, steps: int = 20, guidance: float = 10.0,
             noise_level: int = 0, seed: int = 0, prompt: str = "", height: int | None = None,
             width: int | None = None, norm: float | None | str = "auto") -> Tensor:
    """Images drawn by a Stable unCLIP pipeline from embeddings: Tensor[B, 3, H, W] in [0, 1].

    ``embeds`` [B, D] must be in the space the pipeline reads, and ``space`` says which space they
    are in: it must equal :func:`image_space` (``pipe``'s CLIP image embeddings), else this raises
    ``ValueError``. Aligned audio gets there by training against :func:`image_embeds_of` targets,
    or through a :class:`LinearPrior` (then pass ``space=prior.target``). ``norm="auto"`` rescales each row to :func:`typical_norm`; a number rescales to that norm;
    ``None`` leaves them as they are. ``noise_level`` (0-1000) noises the embedding first, as
    Stable unCLIP does for variations; ``prompt`` is an optional text prompt used alongside
    (empty by default: the sound alone decides). The same seed gives the same images.
    Introduced in chapter 8.
    """
    require_diffusers()
    if not isinstance(embeds, Tensor) or embeds.ndim != 2:
        raise ValueError(f"embeds must be a Tensor [B, D], got {getattr(embeds, 'shape', type(embeds))}")
    want = image_space(pipe)
    if not isinstance(space, EmbeddingSpace):
        raise TypeError(f"space must be an EmbeddingSpace (e.g. image_space(pipe)), got {type(space).__name__}")
    if space.kind != CLIP_IMAGE:
        raise ValueError(f"this unCLIP decoder reads {want} through image_embeds; got {space}. Those sit "
                         "elsewhere in CLIP's space (the modality gap) and the decoder was never trained on "
                         "them: align the audio to image_embeds_of(pipe, images) of its paired images, or map "
                         "the embeddings into the image space with a prior (LinearPrior) first")
    if embeds.shape[1] != want.dim:
        raise ValueError(f"the pipeline expects {want.dim}-d image embeddings, got {embeds.shape[1]}-d: "
                         f"align the audio encoder into this CLIP space (adapter out_dim = {want.dim})")
    if space != want:
        raise ValueError(f"this unCLIP decoder reads {want}; got {space}: another model's space")
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
    pipe._fusemix_image_space = EmbeddingSpace(CLIP_IMAGE, f"a tiny random CLIP (seed {seed})", embed_dim)
    return pipe
