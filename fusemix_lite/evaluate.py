"""Evaluating a trained model on one split: embed its items and captions, then Recall@K.

What the library hands back for analysis lives on the CPU, whatever device the model runs on.
Introduced in chapter 4 (``evaluate``) and chapter 5 (``embed``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .retrieval import recall_at_k

if TYPE_CHECKING:
    from .pairs import PairedLatents


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU for a module without any)."""
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")


@torch.no_grad()
def embed(model, pairs: PairedLatents, batch_size: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised embeddings of a split's items and captions (in eval mode), on the CPU whatever
    device the model runs on: what the library hands back for analysis lives on the CPU.
    Introduced in chapter 5."""
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        pairs = pairs.to(model_device(model))
        a = torch.cat([model.encode_a(pairs.items[s:s + batch_size]) for s in range(0, pairs.n_items, batch_size)])
        b = torch.cat([model.encode_b(pairs.texts[s:s + batch_size]) for s in range(0, pairs.n_texts, batch_size)])
    finally:
        model.train(was_training)
    return a.float().cpu(), b.float().cpu()


def evaluate(model, pairs: PairedLatents, ks=(1, 5, 10), text_key=None, chunk_size: int | None = 1024,
             batch_size: int = 8192) -> dict:
    """Retrieval metrics of ``model`` (a ``FusionModel`` or a baseline map) on one split.

    ``text_key="captions"`` applies the identical-caption-counts-as-a-hit rule from the split's
    captions. Introduced in chapter 4.
    """
    if isinstance(text_key, str) and text_key == "captions":
        text_key = pairs.text_key()
        if text_key is None:
            raise ValueError("text_key='captions' needs pairs that carry their captions")
    a, b = embed(model, pairs, batch_size)
    return recall_at_k(a, b, pairs.caption_item, ks=ks, text_key=text_key, chunk_size=chunk_size)
