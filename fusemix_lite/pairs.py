"""Paired latents in memory: what training and evaluation consume.

:class:`PairedLatents` holds one split's item latents [N, d_a], caption latents [M, d_b] and the
pairing ``caption_item`` [M] (caption j describes item ``caption_item[j]``), as tensors on one
device. :meth:`PairedLatents.take_items` keeps some items with all their captions (an evaluation
subset); :meth:`PairedLatents.take_captions` keeps some captions, that is some training pairs, and
all the items. :func:`load_pairs` reads one split from the latent store (:mod:`fusemix_lite.store`,
the disk cache); :func:`resolve_device` is the library's one rule for ``device="auto"``.
Introduced in chapter 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import StoreCorruptError, StoreMismatchError
from .store import LatentStore, StoreKey


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> CUDA if available, else CPU; anything else as given. Introduced in chapter 4."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


_NP_DTYPE = {torch.float32: np.float32, torch.long: np.int64}


def _to_tensor(x, dtype: torch.dtype, device: torch.device | None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(device=device if device is not None else x.device, dtype=dtype)
    arr = np.asarray(x)
    target = device if device is not None else torch.device("cpu")
    if target.type == "cpu":
        return torch.from_numpy(np.array(arr, dtype=_NP_DTYPE[dtype]))
    out = torch.empty(arr.shape, dtype=dtype, device=target)       # copy a memmap in slices: no full RAM copy
    step = max(1, (1 << 26) // max(1, arr[:1].nbytes))
    for s in range(0, arr.shape[0], step):
        out[s:s + step] = torch.from_numpy(np.array(arr[s:s + step])).to(target, dtype=dtype)
    return out


@dataclass
class PairedLatents:
    """Latents of one split, paired: ``items`` [N, d_a], ``texts`` [M, d_b], ``caption_item`` [M].

    Caption j describes item ``caption_item[j]``; training uses one pair per caption (:meth:`pairs`).
    ``split`` (when known) lets training refuse to select checkpoints on the test split.
    Introduced in chapter 2.
    """

    items: torch.Tensor
    texts: torch.Tensor
    caption_item: torch.Tensor
    captions: list[str] | None = None
    item_ids: list[str] | None = None
    split: str | None = None
    dataset: str | None = None

    def __post_init__(self) -> None:
        where = f" ({self.dataset}/{self.split})" if self.split else ""
        for name in ("items", "texts"):
            t = getattr(self, name)
            if not isinstance(t, torch.Tensor) or t.ndim != 2:
                raise ValueError(f"PairedLatents.{name} must be a 2-D tensor, got "
                                 f"{type(t).__name__} {tuple(getattr(t, 'shape', ()))}{where}")
            if not t.is_floating_point():
                raise ValueError(f"PairedLatents.{name} must be floating point, got {t.dtype}{where}")
        n, m = self.items.shape[0], self.texts.shape[0]
        if n == 0 or m == 0:
            raise ValueError(f"empty split{where}: {n} items and {m} captions")
        if self.caption_item.dtype != torch.long or self.caption_item.shape != (m,):
            raise ValueError(f"caption_item must be a LongTensor with one entry per caption ({m}), got "
                             f"{self.caption_item.dtype} {tuple(self.caption_item.shape)}{where}")
        lo, hi = int(self.caption_item.min()), int(self.caption_item.max())
        if lo < 0 or hi >= n:
            raise ValueError(f"caption_item holds indices in [{lo}, {hi}] but there are {n} items{where}")
        for name in ("items", "texts"):
            bad = ~torch.isfinite(getattr(self, name)).all(dim=1)
            if bad.any():
                raise ValueError(f"{name} latents contain NaN or Inf in {int(bad.sum())} rows "
                                 f"(first: row {int(bad.nonzero()[0])}){where}")
        if self.captions is not None and len(self.captions) != m:
            raise ValueError(f"{len(self.captions)} captions for {m} text latents{where}")
        if self.item_ids is not None and len(self.item_ids) != n:
            raise ValueError(f"{len(self.item_ids)} item ids for {n} item latents{where}")

    @classmethod
    def from_arrays(cls, items, texts, caption_item=None, captions: list[str] | None = None,
                    item_ids: list[str] | None = None, split: str | None = None,
                    dataset: str | None = None, device=None) -> "PairedLatents":
        """Build from numpy arrays or tensors; ``caption_item=None`` means one caption per item, in order."""
        dev = None if device is None else resolve_device(device)
        items_t = _to_tensor(items, torch.float32, dev)
        texts_t = _to_tensor(texts, torch.float32, dev)
        if caption_item is None:
            if items_t.shape[0] != texts_t.shape[0]:
                raise ValueError(f"without caption_item, items and texts must pair row by row, got "
                                 f"{items_t.shape[0]} items and {texts_t.shape[0]} texts")
            caption_item = torch.arange(items_t.shape[0])
        if isinstance(caption_item, torch.Tensor):
            dtype, integral = caption_item.dtype, not (caption_item.is_floating_point() or caption_item.is_complex()
                                                       or caption_item.dtype == torch.bool)
        else:
            arr = np.asarray(caption_item)
            dtype, integral = arr.dtype, arr.size == 0 or np.issubdtype(arr.dtype, np.integer)
        if not integral:
            raise ValueError(f"caption_item must hold integer item indices, got dtype {dtype} "
                             "(floats would be truncated)")
        cap = _to_tensor(caption_item, torch.long, items_t.device)
        return cls(items_t, texts_t, cap, captions, item_ids, split, dataset)

    @property
    def n_items(self) -> int:
        return self.items.shape[0]

    @property
    def n_texts(self) -> int:
        return self.texts.shape[0]

    @property
    def device(self) -> torch.device:
        return self.items.device

    def pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One (item latent, text latent) row per caption: ``(items[caption_item], texts)``."""
        return self.items[self.caption_item], self.texts

    def text_key(self) -> torch.Tensor | None:
        """One int per caption, equal for identical caption texts (None without captions)."""
        if self.captions is None:
            return None
        codes: dict[str, int] = {}
        return torch.tensor([codes.setdefault(c, len(codes)) for c in self.captions], dtype=torch.long)

    def take_items(self, idx, split: str | None = None) -> "PairedLatents":
        """The items ``idx`` (in that order, no repeats) with all their captions, re-indexed: an
        evaluation subset, e.g. test items to compare with a smaller split. Captions keep their
        order; ``split`` names the result (default: this split's name). Introduced in chapter 5."""
        idx = self._indices(idx, self.n_items, "item")
        if len(idx) == 0:
            raise ValueError("take_items needs at least one item index")
        if len(torch.unique(idx)) != len(idx):
            raise ValueError("take_items: item indices repeat; an item can be taken once")
        new_index = torch.full((self.n_items,), -1, dtype=torch.long, device=self.device)
        new_index[idx] = torch.arange(len(idx), device=self.device)
        rows = (new_index[self.caption_item] >= 0).nonzero().squeeze(1)
        if len(rows) == 0:
            raise ValueError("take_items: none of the chosen items has a caption")
        ids = idx.tolist()
        return PairedLatents(self.items[idx], self.texts[rows], new_index[self.caption_item[rows]],
                             [self.captions[r] for r in rows.tolist()] if self.captions else None,
                             [self.item_ids[i] for i in ids] if self.item_ids else None,
                             self.split if split is None else split, self.dataset)

    def take_captions(self, rows, split: str | None = None) -> "PairedLatents":
        """The captions ``rows`` (training pairs; repeats allowed) and every item, so ``caption_item``
        keeps its meaning: a training subset, as the studies of chapters 9 and 10 draw them
        (``train_ensemble``'s ``subsets``). ``split`` names the result (default: this split's name).
        Introduced in chapter 9."""
        rows = self._indices(rows, self.n_texts, "caption")
        if len(rows) == 0:
            raise ValueError("take_captions needs at least one caption index")
        return PairedLatents(self.items, self.texts[rows], self.caption_item[rows],
                             [self.captions[r] for r in rows.tolist()] if self.captions else None,
                             self.item_ids, self.split if split is None else split, self.dataset)

    def _indices(self, idx, n: int, what: str) -> torch.Tensor:
        """``idx`` as a 1-D LongTensor on this device, every entry in [0, n); a clear error otherwise."""
        if isinstance(idx, torch.Tensor):
            dtype, integral = idx.dtype, not (idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool)
        else:
            arr = np.asarray(idx)
            dtype, integral = arr.dtype, arr.size == 0 or np.issubdtype(arr.dtype, np.integer)
            if integral:
                idx = torch.from_numpy(arr.astype(np.int64).reshape(arr.shape))
        if not integral:
            raise ValueError(f"{what} indices must be integers, got dtype {dtype}")
        if idx.ndim != 1:
            raise ValueError(f"{what} indices must be a 1-D sequence, got shape {tuple(idx.shape)}")
        idx = idx.to(device=self.device, dtype=torch.long)
        if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise ValueError(f"{what} indices must lie in [0, {n}), got values in "
                             f"[{int(idx.min())}, {int(idx.max())}]")
        return idx

    def to(self, device) -> "PairedLatents":
        """A copy on ``device`` (no copy if already there)."""
        dev = resolve_device(device)
        if self.items.device == dev and self.texts.device == dev and self.caption_item.device == dev:
            return self
        return PairedLatents(self.items.to(dev), self.texts.to(dev), self.caption_item.to(dev),
                             self.captions, self.item_ids, self.split, self.dataset)


def to_device(x, device="auto"):
    """Move a tensor or :class:`PairedLatents` to ``device`` once, so that training steps index it
    there without any host work. Introduced in chapter 4."""
    dev = resolve_device(device)
    if isinstance(x, PairedLatents):
        return x.to(dev)
    if isinstance(x, torch.Tensor):
        return x.to(dev)
    return _to_tensor(x, torch.float32, dev)


def load_pairs(store: LatentStore, dataset, split: str, item_modality: str, item_encoder: str,
               text_encoder: str, device=None, expect: dict | None = None,
               verify: bool | str = True, variant: str | None = None) -> PairedLatents:
    """The paired latents of one split: item latents and caption latents with their pairing.

    ``dataset`` is a :class:`~fusemix_lite.data.format.PairedDataset` (its name and variant make
    the keys) or a dataset name (then ``variant``, or the only variant stored). Checks that both were
    made from the same dataset manifest. ``expect`` is checked against both manifests; captions come
    from the text manifest's ``captions`` field when the extractor saved it. Introduced in chapter 2.
    """
    if not isinstance(dataset, str):
        dataset, variant = dataset.name, dataset.variant
    item_key = StoreKey(dataset, split, item_modality, item_encoder, variant)
    text_key = StoreKey(dataset, split, "text", text_encoder, variant)
    items = store.load(item_key, expect=expect, verify=verify)
    texts = store.load(text_key, expect=expect, verify=verify)
    item_key, text_key = items.key, texts.key
    if texts.item_index is None:
        raise StoreCorruptError(f"{text_key}: text latents carry no item_index, cannot pair captions with items")
    ha, hb = items.manifest.get("data_manifest_hash"), texts.manifest.get("data_manifest_hash")
    if ha != hb:
        raise StoreMismatchError(f"{item_key} and {text_key} were made from different data: data_manifest_hash "
                                 f"{ha!r} vs {hb!r}; re-extract one of them")
    if texts.item_index.max() >= len(items):
        raise StoreCorruptError(f"{text_key}: item_index reaches {int(texts.item_index.max())} "
                                f"but {item_key} has {len(items)} rows")
    return PairedLatents.from_arrays(items.array, texts.array, texts.item_index,
                                     captions=texts.manifest.get("captions"), item_ids=items.ids,
                                     split=split, dataset=dataset, device=device)
