"""What FuseMix is compared with: other latent augmentations, and closed-form linear maps.

- :func:`augment` applies one of the paper's ablation augmentations (Fig. 5) to a batch of pairs:
  ``"none"``, ``"noise"`` (Gaussian, as the paper says; the official code used uniform noise) or
  ``"quantize"`` (random quantisation). Unlike FuseMix, each modality is perturbed independently.
- :func:`procrustes` and :func:`cca` fit a linear map per modality on training pairs in closed form.
  They return a :class:`LinearMap` with ``encode_a`` / ``encode_b``, like a trained ``FusionModel``,
  so both are evaluated by the same code.

Introduced in chapter 5.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn

AUGMENTS = ("none", "noise", "quantize")


def gaussian_noise(x: torch.Tensor, std: float = 0.01, generator: torch.Generator | None = None) -> torch.Tensor:
    """``x`` plus N(0, std^2) noise on every coordinate (std in the latents' own units).

    Introduced in chapter 5.
    """
    if std < 0:
        raise ValueError(f"noise std must be >= 0, got {std}")
    noise = torch.randn(x.shape, generator=generator, device=x.device if generator is None else generator.device)
    return x + std * noise.to(x.device, x.dtype)


def random_quantize(x: torch.Tensor, levels: tuple[int, int] = (16, 64),
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Random quantisation of each latent (row), after Wu et al. 2023 ("Randomized Quantization").

    Per row: draw a number of levels L uniformly in ``levels`` (inclusive), cut the row's value range
    [min, max] into L bins at L-1 uniformly random edges, and replace every value by one random point
    of its bin (one point per bin and row). Coarse, irregular bins destroy fine detail while keeping
    the coarse shape of the vector. Introduced in chapter 5.
    """
    lo, hi = int(levels[0]), int(levels[1])
    if not 2 <= lo <= hi:
        raise ValueError(f"levels must be (min, max) with 2 <= min <= max, got {levels}")
    gdev = x.device if generator is None else generator.device
    b = x.shape[0]
    n_levels = torch.randint(lo, hi + 1, (b, 1), generator=generator, device=gdev).to(x.device)
    u = torch.rand((b, hi - 1), generator=generator, device=gdev).to(x.device)
    point = torch.rand((b, hi), generator=generator, device=gdev).to(x.device)
    # edges beyond a row's L-1 are pushed to 1.0 (= the row max): empty bins at the top
    slot = torch.arange(hi - 1, device=x.device)[None, :]
    u = torch.where(slot < n_levels - 1, u, torch.ones_like(u)).sort(dim=1).values
    xmin, xmax = x.min(dim=1, keepdim=True).values, x.max(dim=1, keepdim=True).values
    bounds = xmin + torch.cat([torch.zeros_like(xmin), u, torch.ones_like(xmin)], 1) * (xmax - xmin)
    edges = bounds[:, 1:-1].contiguous()
    idx = torch.searchsorted(edges, x.contiguous())                  # bin of each value: #edges < value
    low, high = bounds.gather(1, idx), bounds.gather(1, idx + 1)
    return (low + point.gather(1, idx) * (high - low)).to(x.dtype)


def augment(x: torch.Tensor, y: torch.Tensor, kind: str = "none", generator: torch.Generator | None = None,
            noise_std: float = 0.01, quant_levels: tuple[int, int] = (16, 64)) -> tuple[torch.Tensor, torch.Tensor]:
    """Perturb a batch of pairs with one of the baseline augmentations, modality by modality.

    Introduced in chapter 5.
    """
    if kind not in AUGMENTS:
        raise ValueError(f"unknown augmentation {kind!r}; choose one of {AUGMENTS} (FuseMix is fusemix.fusemix)")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must hold the same number of pairs, got {x.shape[0]} and {y.shape[0]}")
    if kind == "noise":
        return gaussian_noise(x, noise_std, generator), gaussian_noise(y, noise_std, generator)
    if kind == "quantize":
        return random_quantize(x, quant_levels, generator), random_quantize(y, quant_levels, generator)
    return x, y


# ---- closed-form linear maps ---------------------------------------------------------------------
class LinearMap(nn.Module):
    """``encode(x) = normalize((normalize(x) - mean) @ W)`` for each modality. Introduced in chapter 5."""

    def __init__(self, mean_a, w_a, mean_b, w_b, name: str = "linear"):
        super().__init__()
        self.name = name
        for k, v in {"mean_a": mean_a, "w_a": w_a, "mean_b": mean_b, "w_b": w_b}.items():
            self.register_buffer(k, torch.as_tensor(np.asarray(v), dtype=torch.float32))

    def _encode(self, x: torch.Tensor, mean: torch.Tensor, w: torch.Tensor, side: str) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != w.shape[0]:
            raise ValueError(f"{self.name} map for modality {side} expects latents [batch, {w.shape[0]}], "
                             f"got {tuple(x.shape)}")
        return F.normalize((F.normalize(x.to(w.dtype), dim=-1) - mean) @ w, dim=-1)

    def encode_a(self, x: torch.Tensor) -> torch.Tensor:
        return self._encode(x, self.mean_a, self.w_a, "a")

    def encode_b(self, y: torch.Tensor) -> torch.Tensor:
        return self._encode(y, self.mean_b, self.w_b, "b")


def _training_pairs(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Paired rows as float64 numpy, L2-normalised (the maps see directions, as cosine does)."""
    if y is None:                                   # a PairedLatents
        x, y = x.pairs()
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    y = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(f"need 2-D latents, got shapes {x.shape} and {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must hold the same number of pairs, got {x.shape[0]} and {y.shape[0]}")
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 training pairs, got {x.shape[0]}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("training latents contain NaN or Inf")
    x, y = x.astype(np.float64), y.astype(np.float64)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    y /= np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    return x, y


def _pca(z: np.ndarray, k: int) -> np.ndarray:
    """Top-``k`` principal directions [d, k] of centred ``z``."""
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    return vt[:k].T


def procrustes(x, y=None, dim: int | None = None) -> LinearMap:
    """Orthogonal Procrustes: rotate modality A's latents onto modality B's.

    Both sides are L2-normalised, centred and reduced by PCA to a common ``dim`` (default: the
    smaller latent dim, at most pairs - 1); then R = U V^T from the SVD of Xp^T Yp minimises
    ||Xp R - Yp|| over rotations. ``x`` may be a ``PairedLatents`` (then leave ``y`` out).
    Introduced in chapter 5.
    """
    x, y = _training_pairs(x, y)
    k = _check_dim(dim, x, y)
    ma, mb = x.mean(0), y.mean(0)
    xc, yc = x - ma, y - mb
    pa, pb = _pca(xc, k), _pca(yc, k)
    u, _, vt = np.linalg.svd((xc @ pa).T @ (yc @ pb))
    return LinearMap(ma, pa @ (u @ vt), mb, pb, name="procrustes")


def cca(x, y=None, dim: int | None = None, reg: float = 1e-3) -> LinearMap:
    """Regularised canonical correlation analysis: the ``dim`` maximally correlated projections.

    On L2-normalised, centred latents: whiten each side with (C + reg * mean_eig * I)^(-1/2) and take
    the top singular vectors of the whitened cross-covariance. ``reg`` keeps it stable when a latent
    dim exceeds the number of pairs. ``x`` may be a ``PairedLatents``. Introduced in chapter 5.
    """
    if reg < 0:
        raise ValueError(f"reg must be >= 0, got {reg}")
    x, y = _training_pairs(x, y)
    k = _check_dim(dim, x, y)
    ma, mb = x.mean(0), y.mean(0)
    xc, yc = x - ma, y - mb
    n = x.shape[0]

    def inv_sqrt(c: np.ndarray) -> np.ndarray:
        c = c + reg * np.trace(c) / c.shape[0] * np.eye(c.shape[0])
        vals, vecs = scipy.linalg.eigh(c)
        return (vecs / np.sqrt(np.maximum(vals, 1e-12))) @ vecs.T

    wa, wb = inv_sqrt(xc.T @ xc / (n - 1)), inv_sqrt(yc.T @ yc / (n - 1))
    u, _, vt = np.linalg.svd(wa @ (xc.T @ yc / (n - 1)) @ wb, full_matrices=False)
    return LinearMap(ma, wa @ u[:, :k], mb, wb @ vt[:k].T, name="cca")


def _check_dim(dim: int | None, x: np.ndarray, y: np.ndarray) -> int:
    most = min(x.shape[1], y.shape[1], x.shape[0] - 1)
    k = most if dim is None else int(dim)
    if not 1 <= k <= most:
        raise ValueError(f"dim must be in [1, {most}] (latent dims {x.shape[1]}, {y.shape[1]}, "
                         f"{x.shape[0]} pairs), got {dim}")
    return k
