"""A small conditional image generator: the offline stand-in for a pretrained text-to-image model.

No pretrained generator can be had offline, so the book trains its own: a small U-Net that turns
noise into a 32-px scene, conditioned on one vector (the frozen text encoder's caption latent).
It is trained with rectified flow (flow matching on straight noise-to-image paths) and
classifier-free guidance (the condition is dropped with probability ``cond_dropout``), and it
samples with a few dozen Euler steps. :func:`cached_generator` trains it once and reloads it on a
rebuild. Once it is trained it stays frozen: FuseMix then aligns audio latents into its
conditioning space (:func:`condition_aligner`), so that a sound can take the caption's place.
Introduced in chapter 8.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checkpoint import tensors_sha256
from .train import param_groups

__all__ = [
    "GeneratorConfig",
    "FlowUNet",
    "train_generator",
    "sample",
    "save_generator",
    "load_generator",
    "param_count",
    "velocity",
    "load_images",
    "cached_generator",
    "condition_aligner",
    "caption_conditions",
]

CONFIG_FILE = "generator.json"
WEIGHTS_FILE = "generator.safetensors"


@dataclass
class GeneratorConfig:
    """Size of the U-Net and how it is trained. The defaults train in a few minutes on 2 CPU cores.

    Introduced in chapter 8.
    """

    image_size: int = 32  # square images, a multiple of patch * 2 ** (len(channel_mults) - 1)
    cond_dim: int = 384  # width of the conditioning vector (MiniLM caption latent: 384)
    patch: int = 2  # pixel-unshuffle factor: the U-Net starts at image_size / patch px
    channels: int = 32  # base width of the U-Net
    channel_mults: tuple[int, ...] = (1, 2, 2)  # one level each: 16 -> 8 -> 4 (32 px, patch 2)
    attention: bool = True  # one self-attention block at the lowest resolution
    emb_dim: int = 128  # width of the time + condition embedding that modulates every block
    predict: str = "x"  # the network outputs the clean image ("x") or the velocity ("v") directly
    cond_dropout: float = 0.15  # probability of training on the "no condition" embedding (for CFG)
    steps: int = 2000  # optimisation steps
    batch_size: int = 64
    lr: float = 2e-3
    warmup: int = 100  # linear warm-up steps, then cosine decay to lr / 20
    ema_decay: float = 0.995  # the returned model is the exponential moving average of the weights
    seed: int = 0

    def __post_init__(self) -> None:
        self.channel_mults = tuple(int(m) for m in self.channel_mults)
        if not self.channel_mults or min(self.channel_mults) < 1:
            raise ValueError(f"channel_mults must be positive integers, got {self.channel_mults}")
        if self.patch not in (1, 2, 4):
            raise ValueError(f"patch must be 1, 2 or 4, got {self.patch}")
        factor = self.patch * 2 ** (len(self.channel_mults) - 1)
        if self.image_size < factor or self.image_size % factor:
            raise ValueError(
                f"image_size {self.image_size} must be a multiple of {factor} "
                f"(patch * 2 ** (levels - 1) for patch {self.patch}, channel_mults {self.channel_mults})"
            )
        if self.channels % 8:
            raise ValueError(f"channels must be a multiple of 8 (GroupNorm), got {self.channels}")
        if self.predict not in ("x", "v"):
            raise ValueError(f"predict must be 'x' or 'v', got {self.predict!r}")
        if not 0.0 <= self.cond_dropout < 1.0:
            raise ValueError(f"cond_dropout must be in [0, 1), got {self.cond_dropout}")
        for name in ("cond_dim", "emb_dim", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")

    @classmethod
    def tiny(cls, **overrides) -> "GeneratorConfig":
        """A few-second configuration for tests."""
        base = dict(image_size=16, patch=2, channels=16, channel_mults=(1, 2), attention=False, emb_dim=32,
                    steps=60, batch_size=16, warmup=5, ema_decay=0.9)
        base.update(overrides)
        return cls(**base)


# ---- the network ----------------------------------------------------------------------------


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal features of t in [0, 1] (scaled by 1000, as for diffusion timesteps)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    """Two 3x3 convolutions; the embedding scales and shifts the features in between (FiLM)."""

    def __init__(self, cin: int, cout: int, emb_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(F.silu(h))


class SelfAttention(nn.Module):
    """Single-head self-attention over the pixels of a small feature map."""

    def __init__(self, ch: int):
        super().__init__()
        self.norm = nn.GroupNorm(8, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.out = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=2)  # [B, HW, C] each
        a = F.scaled_dot_product_attention(q, k, v)
        return x + self.out(a.transpose(1, 2).reshape(b, c, h, w))


class FlowUNet(nn.Module):
    """U-Net that denoises x_t: it outputs the clean image (``predict="x"``) or the velocity.

    The image is first cut into ``patch`` x ``patch`` pixel patches stacked as channels (pixel
    unshuffle), so the U-Net runs at 16x16 for a 32-px image: cheap enough for a CPU. (4 x 4
    patches, at 8x8, train about twice as fast, but after 2,000 steps on chapter 8's picture-book
    scenes the judge found the caption's shape in 66 % of their pictures, against 83 % with 2 x 2;
    ``benchmarks/bench_generator.py``.) The time t and the condition vector are embedded, summed
    and injected into every block by FiLM. Two coordinate channels are appended to the input so
    that positions ("on the left") are easy to express. ``cond=None`` (or a ``drop`` mask)
    selects the learned "no condition" embedding used by classifier-free guidance. Introduced in
    chapter 8.
    """

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        C, E = cfg.channels, cfg.emb_dim
        self.time_mlp = nn.Sequential(nn.Linear(E, E), nn.SiLU(), nn.Linear(E, E))
        self.cond_mlp = nn.Sequential(nn.LayerNorm(cfg.cond_dim), nn.Linear(cfg.cond_dim, E), nn.SiLU(), nn.Linear(E, E))
        self.null_cond = nn.Parameter(torch.zeros(E))
        s = torch.linspace(-1.0, 1.0, cfg.image_size // cfg.patch)
        self.register_buffer("coords", torch.stack(torch.meshgrid(s, s, indexing="ij"))[None], persistent=False)
        self.stem = nn.Conv2d(3 * cfg.patch**2 + 2, C, 3, padding=1)

        widths = [C * m for m in cfg.channel_mults]
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        ch = C
        for i, w in enumerate(widths):
            self.down.append(ResBlock(ch, w, E))
            ch = w
            last = i == len(widths) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        self.mid1 = ResBlock(ch, ch, E)
        self.attn = SelfAttention(ch) if cfg.attention else nn.Identity()
        self.mid2 = ResBlock(ch, ch, E)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            self.up.append(ResBlock(ch + w, w, E))
            ch = w
            self.upsample.append(nn.Identity() if i == 0 else nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, widths[i - 1], 3, padding=1)))
            if i > 0:
                ch = widths[i - 1]
        self.head = nn.Sequential(nn.GroupNorm(8, ch), nn.SiLU())
        # the output also sees the (unshuffled) input: the velocity e - x carries the full noise e,
        # which a narrow feature map could not pass on for every pixel of a patch
        self.out = nn.Conv2d(ch + 3 * cfg.patch**2, 3 * cfg.patch**2, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def embed(self, t: Tensor, cond: Tensor | None, drop: Tensor | None = None) -> Tensor:
        """Time embedding plus condition embedding (the null embedding where ``drop`` is True)."""
        emb = self.time_mlp(timestep_embedding(t, self.cfg.emb_dim))
        if cond is None:
            return emb + self.null_cond
        c = self.cond_mlp(cond)
        if drop is not None:
            c = torch.where(drop[:, None], self.null_cond.expand_as(c), c)
        return emb + c

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None, drop: Tensor | None = None) -> Tensor:
        emb = self.embed(t, cond, drop)
        x = F.pixel_unshuffle(x, self.cfg.patch)  # [B, 3 p^2, S / p, S / p]: patches as channels
        h = self.stem(torch.cat([x, self.coords.expand(x.shape[0], -1, -1, -1)], dim=1))
        skips = []
        for block, down in zip(self.down, self.downsample):
            h = block(h, emb)
            skips.append(h)
            h = down(h)
        h = self.mid2(self.attn(self.mid1(h, emb)), emb)
        for block, up in zip(self.up, self.upsample):
            h = up(block(torch.cat([h, skips.pop()], dim=1), emb))
        return F.pixel_shuffle(self.out(torch.cat([self.head(h), x], dim=1)), self.cfg.patch)


T_MIN = 0.05  # x-prediction divides by t; below this the velocity is taken at t = T_MIN


def velocity(model: "FlowUNet", x: Tensor, t: Tensor, cond: Tensor | None, drop: Tensor | None = None) -> Tensor:
    """The rectified-flow velocity (noise - image) at x_t. With ``predict="x"`` the network
    outputs a clean image x0 and v = (x_t - x0) / t, which keeps flat colours clean in a narrow
    network; with ``predict="v"`` it outputs v itself. Introduced in chapter 8."""
    out = model(x, t, cond, drop)
    if model.cfg.predict == "v":
        return out
    return (x - out) / t.clamp_min(T_MIN)[:, None, None, None]


def param_count(model: nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in model.parameters())


# ---- checks ---------------------------------------------------------------------------------


def _check_cond(cond: Tensor, cfg: GeneratorConfig, n: int | None = None) -> Tensor:
    if not isinstance(cond, Tensor):
        raise TypeError(f"cond must be a torch.Tensor [N, {cfg.cond_dim}], got {type(cond).__name__}")
    if cond.ndim != 2 or cond.shape[1] != cfg.cond_dim:
        raise ValueError(f"cond must have shape [N, {cfg.cond_dim}] (cfg.cond_dim), got {tuple(cond.shape)}")
    if n is not None and cond.shape[0] != n:
        raise ValueError(f"{n} images but {cond.shape[0]} condition vectors")
    if not torch.isfinite(cond).all():
        raise ValueError("cond has NaN or infinite values")
    return cond.float()


def load_images(dataset, size: int = 32, split: str | None = None) -> Tensor:
    """The images of a dataset's items as Tensor[N, 3, size, size] in [0, 1] (box-filtered).

    Scale to the generator's range with ``x * 2 - 1``. Introduced in chapter 8.
    """
    import numpy as np
    from PIL import Image

    ds = dataset.split(split) if split else dataset
    out = torch.empty(len(ds.items), 3, size, size)
    from .extract import read_image  # regular files only, size limits, 16-bit scaled: as extraction reads them

    for i, item in enumerate(ds.items):
        im = read_image(ds.path(item.image))
        arr = np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BOX), dtype=np.float32)
        out[i] = torch.from_numpy(arr).permute(2, 0, 1) / 255.0
    return out


def _check_images(images: Tensor, cfg: GeneratorConfig) -> Tensor:
    s = cfg.image_size
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor [N, 3, {s}, {s}], got {type(images).__name__}")
    if images.ndim != 4 or tuple(images.shape[1:]) != (3, s, s):
        raise ValueError(f"images must have shape [N, 3, {s}, {s}] (cfg.image_size={s}), got {tuple(images.shape)}")
    if images.shape[0] < 2:
        raise ValueError("need at least 2 training images")
    images = images.float()
    if not torch.isfinite(images).all():
        raise ValueError("images have NaN or infinite values")
    lo, hi = images.min().item(), images.max().item()
    if lo < -1.0 - 1e-4 or hi > 1.0 + 1e-4:
        raise ValueError(f"images must be scaled to [-1, 1] (x * 2 - 1 from [0, 1]); got range [{lo:.3g}, {hi:.3g}]")
    return images


# ---- training -------------------------------------------------------------------------------


def train_generator(
    images: Tensor,
    cond: Tensor,
    cfg: GeneratorConfig | None = None,
    progress: bool = True,
    cond_item: Tensor | None = None,
) -> tuple[FlowUNet, list[dict]]:
    """Train a :class:`FlowUNet` on images in [-1, 1] paired with condition vectors.

    ``images`` [N, 3, S, S]; ``cond`` [N, D], one vector per image, or [M, D] with ``cond_item``
    [M] giving the image of each vector (several captions per image, as in ``PairedLatents``).
    Rectified flow: for an image x, noise e and a time t in (0, 1) (logit-normal), the model sees
    x_t = (1 - t) x + t e, and the loss is the squared error of its velocity against e - x (see
    :func:`velocity` for x-prediction). With probability ``cfg.cond_dropout``
    the condition is replaced by the null embedding. Returns the EMA model (in eval mode) and a
    history of ``{"step", "loss", "lr", "seconds"}`` rows (loss averaged since the previous row).
    Deterministic for a fixed ``cfg.seed`` on the same machine. Introduced in chapter 8.
    """
    cfg = cfg or GeneratorConfig()
    images = _check_images(images, cfg)
    if cond_item is None:
        cond = _check_cond(cond, cfg, images.shape[0])
        cond_item = torch.arange(images.shape[0])
    else:
        cond = _check_cond(cond, cfg)
        if not isinstance(cond_item, Tensor) or cond_item.ndim != 1 or cond_item.shape[0] != cond.shape[0]:
            raise ValueError(f"cond_item must be a 1-D LongTensor with one entry per condition vector ({cond.shape[0]})")
        cond_item = cond_item.long()
        if cond_item.min() < 0 or cond_item.max() >= images.shape[0]:
            raise ValueError(f"cond_item must index the {images.shape[0]} images, got [{cond_item.min()}, {cond_item.max()}]")
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    model = FlowUNet(cfg)
    ema = FlowUNet(cfg)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(param_groups(model, 0.01), lr=cfg.lr, betas=(0.9, 0.99))

    def lr_at(step: int) -> float:
        if step < cfg.warmup:
            return cfg.lr * (step + 1) / cfg.warmup
        frac = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))

    n = cond.shape[0]  # training pairs
    bs = min(cfg.batch_size, n)
    log_every = max(1, min(50, cfg.steps // 20))
    history: list[dict] = []
    window: list[float] = []
    perm = torch.randperm(n, generator=g)
    pos = 0
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, desc="generator", leave=False)
    model.train()
    for step in range(cfg.steps):
        if pos + bs > n:
            perm, pos = torch.randperm(n, generator=g), 0
        idx = perm[pos:pos + bs]
        pos += bs
        x, c = images[cond_item[idx]], cond[idx]
        noise = torch.randn(x.shape, generator=g)
        t = torch.sigmoid(torch.randn(bs, generator=g))  # logit-normal: most steps at mid noise
        drop = torch.rand(bs, generator=g) < cfg.cond_dropout
        xt = (1 - t)[:, None, None, None] * x + t[:, None, None, None] * noise
        loss = F.mse_loss(velocity(model, xt, t, c, drop), noise - x)
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(cfg.ema_decay, (1 + step) / (10 + step))  # short warm-up of the average
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - d)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"generator loss became {loss.item()} at step {step}; lower cfg.lr")
        window.append(loss.item())
        if (step + 1) % log_every == 0 or step == cfg.steps - 1:
            row = {"step": step + 1, "loss": sum(window) / len(window), "lr": lr_at(step),
                   "seconds": time.perf_counter() - start}
            history.append(row)
            window = []
            if bar is not None:
                bar.set_postfix(loss=f"{row['loss']:.4f}")
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    ema.eval()
    return ema, history


# ---- sampling -------------------------------------------------------------------------------


@torch.no_grad()
def sample(
    model: FlowUNet,
    cond: Tensor,
    steps: int = 30,
    guidance: float = 3.0,
    seed: int | torch.Generator = 0,
    batch_size: int = 256,
) -> Tensor:
    """Generate one image per condition vector: Tensor[B, 3, H, W] in [0, 1].

    Euler integration of the learned velocity from pure noise (t = 1) to an image (t = 0).
    ``guidance`` is the classifier-free guidance scale w: v = v_null + w (v_cond - v_null);
    w = 1 uses the conditional model alone, w = 0 ignores the condition. The same seed gives the
    same images. Introduced in chapter 8.
    """
    cfg = model.cfg
    cond = _check_cond(cond, cfg)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if guidance < 0:
        raise ValueError(f"guidance must be >= 0, got {guidance}")
    device = next(model.parameters()).device
    g = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))
    was_training = model.training
    model.eval()
    s = cfg.image_size
    x = torch.randn((cond.shape[0], 3, s, s), generator=g).to(device)
    cond = cond.to(device)
    ts = torch.linspace(1.0, 0.0, steps + 1)
    outs = []
    for lo in range(0, cond.shape[0], batch_size):
        xb, cb = x[lo:lo + batch_size], cond[lo:lo + batch_size]
        b = xb.shape[0]
        for i in range(steps):
            t = torch.full((b,), float(ts[i]), device=device)
            if guidance == 1.0:
                v = velocity(model, xb, t, cb)
            elif guidance == 0.0:
                v = velocity(model, xb, t, None)
            else:
                drop = torch.cat([torch.zeros(b, dtype=torch.bool), torch.ones(b, dtype=torch.bool)]).to(device)
                v_c, v_u = velocity(model, torch.cat([xb, xb]), torch.cat([t, t]), torch.cat([cb, cb]), drop).chunk(2)
                v = v_u + guidance * (v_c - v_u)
            xb = xb + float(ts[i + 1] - ts[i]) * v
        outs.append(xb)
    model.train(was_training)
    return ((torch.cat(outs) + 1) / 2).clamp(0, 1).cpu()


# ---- checkpoints ----------------------------------------------------------------------------


def save_generator(model: FlowUNet, folder: str | Path, extra: dict | None = None) -> Path:
    """Write ``generator.safetensors`` + ``generator.json`` (config and ``extra``) atomically
    (:func:`~fusemix_lite.checkpoint.save_checkpoint`)."""
    from .checkpoint import save_checkpoint

    return save_checkpoint(folder, model, WEIGHTS_FILE, CONFIG_FILE,
                           {"config": asdict(model.cfg), "extra": extra or {}, "format": 1})


def load_generator(folder: str | Path, device: str | torch.device = "cpu") -> tuple[FlowUNet, dict]:
    """Load a generator saved by :func:`save_generator` (strictly); returns (model, extra).

    A corrupt or foreign file, or an unknown config field, raises
    :class:`~fusemix_lite.errors.CheckpointError` naming the file (and the field).
    """
    from .checkpoint import config_from, field, load_checkpoint

    def build(meta: dict, path: Path) -> FlowUNet:
        if "extra" in meta:
            field(meta, "extra", dict, path)
        return FlowUNet(config_from(GeneratorConfig, field(meta, "config", dict, path), path))

    model, meta = load_checkpoint(folder, WEIGHTS_FILE, CONFIG_FILE, build)
    model.to(device).eval()
    return model, meta.get("extra", {})


def cached_generator(
    images: Tensor,
    cond: Tensor,
    cfg: GeneratorConfig,
    root: str | Path,
    cond_item: Tensor | None = None,
    extra: dict | None = None,
    progress: bool = True,
) -> tuple[FlowUNet, list[dict], Path, bool]:
    """Train a generator once and reuse it: ``root/<key>/`` holds the checkpoint.

    The key hashes the config, ``extra`` (e.g. the text encoder's name) and the training data
    themselves, so another config or other data train a new model, and a rebuild of the book
    loads the old one. Returns (model, history, folder, loaded_from_cache). Introduced in chapter 8.
    """
    extra = dict(extra or {})
    key = json.dumps({"config": asdict(cfg), "extra": extra,
                      "data": tensors_sha256(images, cond, *(() if cond_item is None else (cond_item,)))},
                     sort_keys=True, default=str)
    folder = Path(root) / f"generator-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (folder / WEIGHTS_FILE).exists() and (folder / CONFIG_FILE).exists():
        model, saved = load_generator(folder)
        if model.cfg == cfg:
            return model, saved.get("history", []), folder, True
    model, history = train_generator(images, cond, cfg, progress=progress, cond_item=cond_item)
    save_generator(model, folder, extra={**extra, "history": history})
    return model, history, folder, False


def condition_aligner(in_dim: int, cond_dim: int, width: int = 256, standardise: bool = True,
                      seed: int | None = None):
    """A ``FusionModel`` that aligns another modality (side a) into a generator's conditioning space.

    Side a is a trainable CPU-preset adapter whose output has the condition's width. Side b is the
    conditioning space itself, frozen (:func:`~fusemix_lite.adapters.bind`): a LayerNorm (the first
    layer of the generator's condition MLP is one too) and the identity, so ``encode_b(y)`` =
    normalise(LN(y)), and the generator draws the same image from ``encode_b(y)`` as from ``y``.
    ``standardise=False`` drops the LayerNorm (``encode_b(y)`` = normalise(y)): the choice for a CLIP
    space, as unCLIP expects (see :mod:`fusemix_lite.unclip`). Train it with
    :func:`fusemix_lite.train.train`: only side a learns. ``seed`` fixes side a's initial weights
    (as :func:`~fusemix_lite.adapters.bind`'s; ``None``: the global RNG). Introduced in chapter 8.
    """
    from .adapters import Adapter, AdapterConfig, bind, seeded

    if in_dim < 1 or cond_dim < 1:
        raise ValueError(f"in_dim and cond_dim must be >= 1, got {in_dim}, {cond_dim}")
    with seeded(0):  # its random weights are overwritten: leave the caller's RNG to side a
        space = Adapter(AdapterConfig(cond_dim, out_dim=cond_dim, depth=0, dropout=0.0))
    with torch.no_grad():
        space.proj.weight.copy_(torch.eye(cond_dim))
        space.proj.bias.zero_()
    if not standardise:
        space.norm = nn.Identity()
    return bind(replace(AdapterConfig.cpu(in_dim), out_dim=cond_dim, width=width), space, seed=seed)


def caption_conditions(dataset, split: str, text_encoder: str, store) -> tuple[Tensor, Tensor, list[str]]:
    """The conditions of a split from the latent store: (caption latents [M, D], the image of each
    caption [M], the captions). Extracted once; later calls (and chapters) hit the cache.
    Introduced in chapter 8a."""
    import numpy as np

    from .extract import extract

    lat = extract(dataset, split, "text", text_encoder, store)
    return (torch.from_numpy(np.array(lat.array)), torch.from_numpy(np.array(lat.item_index)).long(),
            list(lat.manifest["captions"]))
