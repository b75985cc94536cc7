"""The contrastive loss of FuseMix: symmetric InfoNCE with a learnable temperature.

Introduced in chapter 4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LearnableTemperature(nn.Module):
    """The softmax temperature tau, learned with the adapters.

    The parameter holds tau itself (the raw value, as in the official code, not its log). Calling
    the module returns it and changes nothing; the training loop calls :meth:`clamp_` after each
    optimiser step (as open_clip clamps ``logit_scale``), which puts it back into
    ``[min_value, max_value]`` (0.001 and 0.5 in the paper) in place, so it can leave a bound
    again: a functional clamp would zero its gradient there. Introduced in chapter 4.
    """

    def __init__(self, init: float = 0.07, min_value: float = 0.001, max_value: float = 0.5):
        super().__init__()
        if not 0 < min_value <= init <= max_value:
            raise ValueError(f"need 0 < min_value <= init <= max_value, got {min_value}, {init}, {max_value}")
        self.min_value, self.max_value = min_value, max_value
        self.tau = nn.Parameter(torch.tensor(float(init)))

    def forward(self) -> torch.Tensor:
        return self.tau

    @torch.no_grad()
    def clamp_(self) -> None:
        """Put tau back into ``[min_value, max_value]`` (in place; called after each optimiser step)."""
        self.tau.clamp_(self.min_value, self.max_value)

    def extra_repr(self) -> str:
        return f"tau={self.tau.item():.4f}, clamp=[{self.min_value}, {self.max_value}]"


def clip_loss(a: torch.Tensor, b: torch.Tensor, temperature: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE: row i of ``a`` and row i of ``b`` are a positive pair, all else negatives.

    Both inputs are L2-normalised here, logits are cosine similarities divided by ``temperature``,
    and the loss is the mean of the cross-entropies in the a->b and b->a directions. A temperature
    that is not one finite number > 0 raises ``ValueError`` (a number or a constant CPU tensor; the
    learned one of training is kept in bounds by :meth:`LearnableTemperature.clamp_`, with no device sync). Introduced in chapter 4.
    """
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"clip_loss expects 2-D [batch, dim] inputs, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape != b.shape:
        raise ValueError(f"clip_loss needs matching shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
    if not isinstance(temperature, torch.Tensor) or (temperature.device.type == "cpu"
                                                     and not temperature.requires_grad):
        try:
            t = torch.as_tensor(temperature, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            t = torch.tensor(float("nan"))
        if t.numel() != 1 or not bool(torch.isfinite(t).all() & (t > 0).all()):
            raise ValueError(f"temperature must be one finite number > 0 (0 divides by zero, a negative one "
                             f"flips the objective), got {temperature!r}")
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.T / temperature
    labels = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
