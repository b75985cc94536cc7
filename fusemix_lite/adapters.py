"""Fusion adapters: small residual MLPs that map each frozen encoder's latents to a shared space.

Introduced in chapter 4.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .errors import UnknownNameError
from .loss import LearnableTemperature, clip_loss


@dataclass(frozen=True)
class AdapterConfig:
    """Shape of one adapter: ``depth`` residual blocks of width ``in_dim``, then ``in_dim -> out_dim``.

    ``width`` (not in the paper, default ``None`` = ``in_dim``) first maps ``in_dim -> width`` with a
    linear layer so the blocks run narrower: the CPU preset uses it to keep a step cheap.
    Introduced in chapter 4.
    """

    in_dim: int
    out_dim: int = 512
    depth: int = 4
    expansion: int = 4
    dropout: float = 0.6
    width: int | None = None

    @property
    def block_dim(self) -> int:
        """Width of the residual stream."""
        return self.width or self.in_dim

    def __post_init__(self) -> None:
        for name in ("in_dim", "out_dim", "expansion", "block_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"AdapterConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.depth < 0:
            raise ValueError(f"AdapterConfig.depth must be >= 0, got {self.depth}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"AdapterConfig.dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def paper(cls, in_dim: int) -> "AdapterConfig":
        """The paper's adapter: 4 blocks, expansion 4, dropout 0.6, 512-d output."""
        return cls(in_dim, out_dim=512, depth=4, expansion=4, dropout=0.6)

    @classmethod
    def cpu(cls, in_dim: int) -> "AdapterConfig":
        """A preset that trains in seconds to minutes on a laptop CPU: a linear map to 256-d, then
        2 blocks of expansion 4, dropout 0.1, 256-d output.

        The offline profile has thousands of pairs, not millions, and a few dozen epochs, not 500:
        narrow blocks keep a step cheap, and heavy dropout (0.6) mostly slows convergence in so few
        steps (FuseMix itself already regularises).
        """
        return cls(in_dim, out_dim=256, depth=2, expansion=4, dropout=0.1, width=256)

    @classmethod
    def preset(cls, name: str, in_dim: int) -> "AdapterConfig":
        """The preset called ``name`` ("paper" or "cpu", a profile's ``adapter_preset``) for ``in_dim``;
        an unknown name raises ``UnknownNameError`` listing the presets."""
        presets = {"paper": cls.paper, "cpu": cls.cpu}
        if name not in presets:
            raise UnknownNameError(f"unknown adapter preset {name!r}; known presets: {', '.join(presets)}")
        return presets[name](in_dim)

    def to_dict(self) -> dict:
        return asdict(self)


class ResidualBlock(nn.Module):
    """Pre-LayerNorm MLP block: ``x + Linear(h->d)(Dropout(GELU(Linear(d->h)(LN(x)))))``, h = expansion*d.

    Introduced in chapter 4.
    """

    def __init__(self, dim: int, expansion: int = 4, dropout: float = 0.6):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, expansion * dim)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(expansion * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.drop(F.gelu(self.fc1(self.norm(x)))))


class Adapter(nn.Module):
    """One modality's adapter: residual blocks, a final LayerNorm, and a projection to ``out_dim``.

    Introduced in chapter 4.
    """

    def __init__(self, cfg: AdapterConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.block_dim
        self.inp = nn.Identity() if d == cfg.in_dim else nn.Linear(cfg.in_dim, d)
        self.blocks = nn.Sequential(*[ResidualBlock(d, cfg.expansion, cfg.dropout) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(d)
        self.proj = nn.Linear(d, cfg.out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[-1] != self.cfg.in_dim:
            raise ValueError(f"adapter expects latents of shape [batch, {self.cfg.in_dim}], "
                             f"got {tuple(x.shape)} (latent dim {x.shape[-1] if x.ndim else None}); "
                             "was it built for another encoder?")
        return self.proj(self.norm(self.blocks(self.inp(x))))


@contextmanager
def seeded(seed: int | None):
    """Run the block on torch's CPU RNG seeded with ``seed``, then restore the caller's RNG state
    (``None``: the global RNG, untouched by this). Introduced in chapter 4."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class FusionModel(nn.Module):
    """Two adapters and a temperature: the whole trainable part of FuseMix.

    ``encode_a`` / ``encode_b`` give L2-normalised embeddings in the shared space;
    ``forward(x, y)`` returns the symmetric contrastive loss of a batch of pairs.
    ``seed`` fixes the initial weights (drawn from a forked RNG, so the caller's global random
    state neither decides them nor changes); ``None`` draws them from the global RNG, as
    ``nn.Linear`` does. Introduced in chapter 4.
    """

    def __init__(self, cfg_a: AdapterConfig, cfg_b: AdapterConfig, temperature: float = 0.07,
                 seed: int | None = None):
        super().__init__()
        if cfg_a.out_dim != cfg_b.out_dim:
            raise ValueError(f"both adapters must map to the same space, got out_dim "
                             f"{cfg_a.out_dim} (a) and {cfg_b.out_dim} (b)")
        self.seed = seed
        with seeded(seed):
            self.adapter_a = Adapter(cfg_a)
            self.adapter_b = Adapter(cfg_b)
        self.temperature = LearnableTemperature(temperature)
        self.frozen: tuple[str, ...] = ()

    def freeze(self, side: str) -> "FusionModel":
        """Freeze adapter ``side`` ("a" or "b"): no gradients, and eval mode whatever ``train()`` is
        called with (its dropout stays off), so training leaves its weights as they were.
        Introduced in chapter 6."""
        if side not in ("a", "b"):
            raise ValueError(f"side must be 'a' or 'b', got {side!r}")
        getattr(self, f"adapter_{side}").requires_grad_(False).eval()
        self.frozen = tuple(sorted({*self.frozen, side}))
        return self

    def train(self, mode: bool = True) -> "FusionModel":
        super().train(mode)
        for side in self.frozen:  # a frozen adapter stays in eval mode
            getattr(self, f"adapter_{side}").eval()
        return self

    @property
    def cfg_a(self) -> AdapterConfig:
        return self.adapter_a.cfg

    @property
    def cfg_b(self) -> AdapterConfig:
        return self.adapter_b.cfg

    def config(self) -> dict:
        """The architecture as plain JSON data (saved with checkpoints)."""
        return {"a": self.cfg_a.to_dict(), "b": self.cfg_b.to_dict()}

    @classmethod
    def from_config(cls, config: dict, path: str = "the config") -> "FusionModel":
        """The model of :meth:`config`'s output; an unknown or invalid field raises
        :class:`~fusemix_lite.errors.CheckpointError` naming it and ``path``."""
        from .checkpoint import config_from, field

        return cls(*(config_from(AdapterConfig, field(config, side, dict, path), path, f"model_config.{side}")
                     for side in ("a", "b")))

    def encode_a(self, x: torch.Tensor) -> torch.Tensor:
        """Modality a's embeddings (L2-normalised); ``x`` may be on any device, it is moved to the model's."""
        return F.normalize(self.adapter_a(x.to(self.adapter_a.proj.weight.device)), dim=-1)

    def encode_b(self, y: torch.Tensor) -> torch.Tensor:
        """Modality b's embeddings (L2-normalised); ``y`` may be on any device, it is moved to the model's."""
        return F.normalize(self.adapter_b(y.to(self.adapter_b.proj.weight.device)), dim=-1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return clip_loss(self.encode_a(x), self.encode_b(y), self.temperature())


def bind(new: AdapterConfig, frozen: nn.Module, seed: int | None = None) -> FusionModel:
    """A new modality's adapter (side a, built from ``new``) against a frozen copy of a trained
    adapter (side b), e.g. ``bind(AdapterConfig.cpu(d_audio), image_text_model.adapter_b)``.

    Train it with :func:`~fusemix_lite.train.train`: only side a learns; the copy stays in eval mode
    with ``requires_grad`` False (:meth:`FusionModel.freeze`), so its weights come out bit-identical
    and side a is pulled into the frozen side's space. ``seed`` gives side a the same initial weights
    as ``FusionModel(new, frozen.cfg, seed=seed)``. Introduced in chapter 6.
    """
    model = FusionModel(new, frozen.cfg, seed=seed)  # side b's fresh weights are replaced by the copy
    model.adapter_b = copy.deepcopy(frozen)
    return model.freeze("b")


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters. Introduced in chapter 4."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
