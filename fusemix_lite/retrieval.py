"""Cross-modal retrieval metrics: Recall@K in both directions, computed in bounded memory.

Conventions (those of the paper's Flickr30K / COCO tables):

- Similarity is the cosine of the embeddings (both sides are L2-normalised here).
- Item -> text (``i2t``): an item is retrieved at the rank of its best-ranked correct caption.
- Text -> item (``t2i``): a caption has one correct item, the one it describes.
- With ``text_key`` (one int per caption, equal for identical caption texts), an identical caption
  counts as a hit: for t2i any item owning a caption with the same key is correct, for i2t any
  caption whose key equals one of the item's caption keys is correct.
- Ranks are 1-based; a candidate is ahead only if its score is **strictly** greater than the best
  correct one's, so ties are resolved in the query's favour.
- Recalls are percentages (0-100); ``rsum`` is the sum of all of them, ``mean_recall`` their mean.

Introduced in chapter 5.
"""

from __future__ import annotations

from numbers import Integral
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F


def _as_tensor(x, dtype: torch.dtype, device=None) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return t.to(device=device if device is not None else t.device, dtype=dtype)


def _as_index(x, name: str, device) -> torch.Tensor:
    """An integer tensor; floats are refused rather than truncated (1.7 is not item 1)."""
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise ValueError(f"{name} must hold integers (indices), got dtype {t.dtype}")
    return t.to(device=device, dtype=torch.long)


def _groups(caption_item: torch.Tensor, text_key: torch.Tensor | None, n_items: int):
    """For each caption, the padded list of its correct items (-1 = padding)."""
    m = caption_item.shape[0]
    if text_key is None:
        return torch.arange(m, device=caption_item.device), caption_item[:, None]
    keys, key_of = torch.unique(text_key, return_inverse=True)
    pairs = torch.unique(key_of * n_items + caption_item)       # distinct (key, item) pairs, sorted
    pk, pi = pairs // n_items, pairs % n_items
    counts = torch.bincount(pk, minlength=keys.shape[0])
    width = int(counts.max())
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(pairs.shape[0], device=pairs.device) - starts[pk]
    table = torch.full((keys.shape[0], width), -1, dtype=torch.long, device=pairs.device)
    table[pk, slot] = pi
    return key_of, table


def recall_at_k(item_emb, text_emb, caption_item, ks: Sequence[int] = (1, 5, 10),
                text_key=None, chunk_size: int | None = 1024) -> dict:
    """Recall@K, mean and median rank for item->text and text->item retrieval.

    ``item_emb`` [N, d] and ``text_emb`` [M, d] (tensors or arrays), ``caption_item`` [M] the index of
    each caption's item. Captions are processed ``chunk_size`` at a time (``None``: all at once), so
    memory is O(chunk_size * N), never O(M * N). Returns a dict with ``i2t_R@k``, ``t2i_R@k``,
    ``i2t_mean_rank``, ``i2t_median_rank``, ``t2i_mean_rank``, ``t2i_median_rank``, ``rsum`` and
    ``mean_recall``. See the module docstring for the conventions. Introduced in chapter 5.
    """
    items = _as_tensor(item_emb, torch.float32)
    texts = _as_tensor(text_emb, torch.float32, items.device)
    cap = _as_index(caption_item, "caption_item", items.device)
    if items.ndim != 2 or texts.ndim != 2:
        raise ValueError(f"embeddings must be 2-D, got item_emb {tuple(items.shape)} and text_emb {tuple(texts.shape)}")
    if items.shape[1] != texts.shape[1]:
        raise ValueError(f"item and text embeddings must share a dim, got {items.shape[1]} and {texts.shape[1]}")
    n, m = items.shape[0], texts.shape[0]
    if n == 0 or m == 0:
        raise ValueError(f"nothing to retrieve: {n} items and {m} captions")
    if cap.shape != (m,):
        raise ValueError(f"caption_item must hold one index per caption ({m}), got shape {tuple(cap.shape)}")
    if int(cap.min()) < 0 or int(cap.max()) >= n:
        raise ValueError(f"caption_item holds indices in [{int(cap.min())}, {int(cap.max())}], items are 0..{n - 1}")
    missing = torch.bincount(cap, minlength=n) == 0
    if missing.any():
        raise ValueError(f"{int(missing.sum())} items have no caption (e.g. item {int(missing.nonzero()[0])}); "
                         "image->text recall is undefined for them")
    if not ks or any(isinstance(k, bool) or not isinstance(k, Integral) or k < 1 for k in ks):
        raise ValueError(f"ks must be positive integers, got {ks}")
    key = None
    if text_key is not None:
        key = _as_index(text_key, "text_key", items.device)
        if key.shape != (m,):
            raise ValueError(f"text_key must hold one key per caption ({m}), got shape {tuple(key.shape)}")
    if not torch.isfinite(items).all() or not torch.isfinite(texts).all():
        raise ValueError("embeddings contain NaN or Inf")
    chunk = m if chunk_size is None else int(chunk_size)
    if chunk < 1:
        raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size}")

    items, texts = F.normalize(items, dim=-1), F.normalize(texts, dim=-1)
    key_of, table = _groups(cap, key, n)
    valid = table >= 0
    t2i_rank = torch.empty(m, dtype=torch.long, device=items.device)
    best_i2t = torch.full((n,), -torch.inf, device=items.device)

    def correct_scores(s: int, sim: torch.Tensor):
        idx = table[key_of[s:s + sim.shape[0]]]                      # [c, width] correct items
        ok = valid[key_of[s:s + sim.shape[0]]]
        vals = sim.gather(1, idx.clamp(min=0)).masked_fill(~ok, -torch.inf)
        return idx, ok, vals

    # pass 1: text->item ranks, and each item's best-scoring correct caption
    for s in range(0, m, chunk):
        sim = texts[s:s + chunk] @ items.T                           # [c, N]
        idx, ok, vals = correct_scores(s, sim)
        best = vals.max(dim=1).values
        t2i_rank[s:s + chunk] = 1 + (sim > best[:, None]).sum(1)
        best_i2t.scatter_reduce_(0, idx[ok], vals[ok], reduce="amax")
    # pass 2: item->text ranks: captions strictly ahead of the item's best correct caption
    ahead = torch.zeros(n, dtype=torch.long, device=items.device)
    for s in range(0, m, chunk):
        sim = texts[s:s + chunk] @ items.T
        idx, ok, _ = correct_scores(s, sim)
        is_correct = torch.zeros_like(sim, dtype=torch.bool)
        is_correct.scatter_(1, idx.clamp(min=0), ok)
        ahead += ((sim > best_i2t[None, :]) & ~is_correct).sum(0)
    i2t_rank = 1 + ahead

    out: dict[str, float] = {}
    for name, rank in (("i2t", i2t_rank), ("t2i", t2i_rank)):
        r = rank.cpu().numpy()
        for k in ks:
            out[f"{name}_R@{int(k)}"] = 100.0 * float(np.mean(r <= int(k)))
        out[f"{name}_mean_rank"] = float(np.mean(r))
        out[f"{name}_median_rank"] = float(np.median(r))
    recalls = [v for k, v in out.items() if "_R@" in k]
    out["rsum"] = float(sum(recalls))
    out["mean_recall"] = float(np.mean(recalls))
    return out


def retrieval_table(metrics: Mapping) -> pd.DataFrame:
    """A tidy table (``direction``, ``k``, ``recall``) of the Recall@K entries of ``metrics``.

    ``metrics`` is one dict from :func:`recall_at_k`, or a mapping name -> such dict, which adds a
    ``model`` column (handy to compare FuseMix with the baselines). Introduced in chapter 5.
    """
    if metrics and all(isinstance(v, Mapping) for v in metrics.values()):
        frames = [retrieval_table(m).assign(model=name) for name, m in metrics.items()]
        return pd.concat(frames, ignore_index=True)[["model", "direction", "k", "recall"]]
    rows = []
    for key, value in metrics.items():
        if "_R@" in key:
            direction, k = key.split("_R@")
            rows.append({"direction": direction, "k": int(k), "recall": float(value)})
    if not rows:
        raise ValueError(f"no Recall@K entries (keys like 't2i_R@1') in {sorted(metrics)}")
    return pd.DataFrame(rows).sort_values(["direction", "k"], ignore_index=True)


def mean_pairwise_cosine(z: torch.Tensor) -> float:
    """Mean cosine between different rows of ``z`` [n, d] (n >= 2): how tightly a set of latents or
    embeddings sits in one narrow cone (near 1: all point one way; near 0: spread out).
    Introduced in chapter 6."""
    if not isinstance(z, torch.Tensor):
        z = torch.as_tensor(np.asarray(z))
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"mean_pairwise_cosine needs a 2-D tensor with at least 2 rows, got shape {tuple(z.shape)}")
    if not torch.isfinite(z).all():
        raise ValueError("mean_pairwise_cosine: z contains NaN or Inf")
    z = F.normalize(z.float(), dim=-1)
    n = z.shape[0]
    s = z @ z.T
    return float((s.sum() - s.diagonal().sum()) / (n * (n - 1)))
