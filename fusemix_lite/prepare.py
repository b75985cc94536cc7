"""Cached paired latents in one call, for the chapters after chapter 2 (which shows the steps).

For each split: encode the items (images or sounds) and the captions with the frozen encoders,
or take them from the latent store when they are already there, then pair them.
Introduced in chapter 2.
"""

from __future__ import annotations

from typing import Sequence

from .data import scenes
from .data.format import PairedDataset
from .data.registry import get_dataset
from .extract import extract
from .paths import latent_dir
from .pairs import PairedLatents, load_pairs
from .profiles import Profile
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


def profile_pairs(profile: Profile, n_train: int, n_val: int, n_test: int, n_compositional: int = 0,
                  compositional: bool = False) -> tuple[PairedDataset, dict[str, PairedLatents]]:
    """The image-caption latents a training chapter uses, as ``profile`` says: ``(dataset, {split: pairs})``.

    Offline: the scenes of chapter 1 (``scenes.build(seed=0, ...)`` at these sizes), splits train,
    val and test, plus "compositional" when ``compositional`` and ``n_compositional > 0``. Full: the
    paper's protocol, train and val of the profile's training dataset (COCO) and the test split of
    its evaluation dataset (Flickr30K); the sizes are then those of the prepared datasets.
    ``dataset`` is the training dataset. Introduced in chapter 4.
    """
    if profile.offline:
        ds = scenes.build(seed=0, n_train=n_train, n_val=n_val, n_test=n_test, n_compositional=n_compositional)
        splits = ["train", "val", "test"] + (["compositional"] if compositional and n_compositional > 0 else [])
        return ds, paired_latents(ds, splits, "image", profile.image_encoder, profile.text_encoder)
    ds = get_dataset(profile.image_text_dataset)
    pairs = paired_latents(ds, ["train", "val"], "image", profile.image_encoder, profile.text_encoder)
    pairs["test"] = paired_latents(get_dataset(profile.eval_dataset), ["test"], "image",
                                   profile.image_encoder, profile.text_encoder)["test"]
    return ds, pairs
