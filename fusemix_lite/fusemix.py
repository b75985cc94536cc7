"""FuseMix: mixup in the latent space, with one lambda and one pairing shared by both modalities.

Introduced in chapter 3.
"""

from __future__ import annotations

import math
from numbers import Real

import torch
from scipy.special import betaincinv

MODES = ("halves", "permute")


def _check_alpha(alpha) -> None:
    """Beta(alpha, alpha) needs a finite alpha > 0 (inf gives NaN lambdas, 0 or less no distribution)."""
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a finite number > 0 for Beta(alpha, alpha), got {alpha!r}")


def sample_lambda(alpha: float = 1.0, generator: torch.Generator | None = None) -> float:
    """One draw of lambda ~ Beta(alpha, alpha), reproducible from ``generator``.

    A uniform from the generator goes through the Beta inverse CDF (torch's own Beta sampler
    takes no generator). With a CPU generator this does no device work at all.
    Introduced in chapter 3.
    """
    _check_alpha(alpha)
    device = generator.device if generator is not None else "cpu"
    u = torch.rand((), generator=generator, dtype=torch.float64, device=device).item()
    return u if alpha == 1.0 else float(betaincinv(alpha, alpha, u))


def fusemix(x: torch.Tensor, y: torch.Tensor, alpha: float = 1.0,
            generator: torch.Generator | None = None, mode: str = "halves",
            lam: float | None = None) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mix a batch of paired latents: ``x`` (modality A) and ``y`` (modality B), row i paired.

    One lambda ~ Beta(alpha, alpha) per call and one pairing, shared by both modalities, so mixed
    row j of ``x`` and mixed row j of ``y`` still describe the same (mixed) pair.

    - ``mode="halves"`` (the official form): shuffle, split into halves z1, z2 and return
      ``lam * z1 + (1 - lam) * z2``: batch // 2 mixed pairs (an odd last row is dropped).
    - ``mode="permute"``: mix the batch with a random permutation of itself: batch mixed pairs.

    The permutation is drawn from ``generator`` on the generator's device (pass one on
    ``x.device`` to keep the step free of host work); ``lam`` may be given to skip sampling it.
    Returns ``(x_mix, y_mix, lam)``. Introduced in chapter 3.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    _check_alpha(alpha)
    if lam is not None and (isinstance(lam, bool) or not isinstance(lam, Real) or not 0 <= lam <= 1):
        raise ValueError(f"lam must be a number in [0, 1] (a convex mix), got {lam!r}")
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(f"fusemix expects 2-D [batch, dim] latents, got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"x and y must hold the same number of pairs, got {n} and {y.shape[0]}")
    if n < 2:
        raise ValueError(f"fusemix needs a batch of at least 2 pairs, got {n}")
    if lam is None:
        lam = sample_lambda(alpha, generator)
    gen_device = generator.device if generator is not None else x.device
    perm = torch.randperm(n, generator=generator, device=gen_device).to(x.device)
    if mode == "halves":
        half = n // 2
        first, second = perm[:half], perm[half:2 * half]
    else:
        first, second = torch.arange(n, device=x.device), perm
    x_mix = lam * x[first] + (1 - lam) * x[second]
    y_mix = lam * y[first] + (1 - lam) * y[second]
    return x_mix, y_mix, lam
