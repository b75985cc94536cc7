"""Dataset names -> builders. Each builder module exposes ``build(root=None, seed=0, **sizes)``
that returns a :class:`PairedDataset`, generating/unpacking it on first use and loading it after."""

from __future__ import annotations

import importlib

from ..errors import UnknownNameError
from .format import PairedDataset

DATASETS: dict[str, tuple[str, str]] = {
    # name: (module, one-line description)
    "scenes": ("fusemix_lite.data.scenes", "PIL-drawn scenes of 1-3 objects, 5 paraphrased captions each"),
    "spoken": ("fusemix_lite.data.spoken", "scene captions spoken by espeak-ng (16 kHz WAV)"),
    "sounds": ("fusemix_lite.data.sounds", "numpy-synthesised non-speech sounds with captions"),
    "tuxpaint": ("fusemix_lite.data.tuxpaint", "Tux Paint stamps: clip art + human captions (+ sounds)"),
    "emoji": ("fusemix_lite.data.emoji", "Noto colour emoji rendered with their Unicode names"),
    "asterisk": ("fusemix_lite.data.asterisk", "recorded English speech prompts with transcripts"),
    "coco": ("fusemix_lite.data.real", "COCO captions, Karpathy splits (full profile, data_scripts/)"),
    "flickr30k": ("fusemix_lite.data.real", "Flickr30K, Karpathy test (full profile, data_scripts/)"),
    "audiocaps": ("fusemix_lite.data.real", "AudioCaps (full profile, data_scripts/)"),
    "clotho": ("fusemix_lite.data.real", "Clotho (full profile, data_scripts/)"),
}


def list_datasets() -> list[str]:
    return sorted(DATASETS)


def get_dataset(name: str, **kwargs) -> PairedDataset:
    """Build or load a dataset by name; an unknown name lists the known ones."""
    if name not in DATASETS:
        raise UnknownNameError(f"unknown dataset {name!r}; known datasets: {', '.join(list_datasets())}")
    module = importlib.import_module(DATASETS[name][0])
    if name in ("coco", "flickr30k", "audiocaps", "clotho"):
        return module.build(name, **kwargs)
    return module.build(**kwargs)
