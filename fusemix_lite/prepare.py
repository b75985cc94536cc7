"""Cached paired latents in one call, for the chapters after chapter 2 (which shows the steps).

For each split: encode the items (images or sounds) and the captions with the frozen encoders,
or take them from the latent store when they are already there, then pair them.
Introduced in chapter 2.
"""

from __future__ import annotations

from typing import Sequence

from .data.format import PairedDataset
from .extract import extract
from .paths import latent_dir
from .pairs import PairedLatents, load_pairs
from .store import LatentStore


def paired_latents(dataset: PairedDataset, splits: Sequence[str], item_modality: str, item_encoder,
                   text_encoder, store: LatentStore | None = None, device: str = "cpu",
                   **extract_kw) -> dict[str, PairedLatents]:
    """``{split: PairedLatents}`` for ``dataset``, extracting only what the store lacks.

    Encoders are names or :class:`~fusemix_lite.encoders.Encoder` objects; the store keys name the
    dataset's variant, so two configurations of one dataset keep their own latents.

    ``extract_kw`` go to :func:`fusemix_lite.extract.extract` (batch size, workers, progress...).
    """
    store = store or LatentStore(latent_dir())
    out = {}
    for split in splits:
        extract(dataset, split, item_modality, item_encoder, store, **extract_kw)
        extract(dataset, split, "text", text_encoder, store, **extract_kw)
        out[split] = load_pairs(store, dataset, split, item_modality, getattr(item_encoder, "name", item_encoder),
                                getattr(text_encoder, "name", text_encoder), device=device, verify="crc32")
    return out
