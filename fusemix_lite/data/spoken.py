"""``spoken``: scene captions spoken by Debian's ``espeak-ng`` (audio-text).

Each item is one short utterance (about 2-4 s, 16 kHz mono WAV) of a caption from the scenes
grammar, spoken with a voice drawn from several English accents and speaker variants at a random
speed and pitch. ``captions[0]`` is the spoken text; ``n_captions > 1`` adds paraphrases of the same
scene. :func:`speak` speaks any text to a file (used by the audio chapters). Introduced in chapter 1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import signal

from ..errors import MissingDataError
from . import debian, scenes
from .captions import build_or_load, distinct, item_rng, make_config, pick, thread_map
from .format import Item, PairedDataset
from .sounds import write_wav

NAME = "spoken"
VERSION = 1
ESPEAK = "espeak-ng"
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan")
VARIANTS = ("", "+f1", "+f2", "+f3", "+f4", "+f5", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7")


def espeak_executable() -> str:
    """Path of ``espeak-ng``, or a :class:`MissingDataError` that says how to install it."""
    root = os.environ.get(debian.ROOT_ENV)  # a Debian root other than / (tests): look there only
    exe = shutil.which(ESPEAK, path=os.pathsep.join(str(Path(root, d)) for d in ("usr/bin", "bin")) if root else None)
    if exe is None:
        raise MissingDataError(
            f"espeak-ng was not found: install it with `{debian.GET_COMMAND}` as root (Colab, Docker) or "
            "`sudo apt-get install espeak-ng`. The spoken dataset and the audio chapters 7-8 need it.")
    return exe


@lru_cache(maxsize=1)
def espeak_version() -> str:
    """``espeak-ng --version`` (recorded in the dataset info: other versions speak differently)."""
    out = subprocess.run([espeak_executable(), "--version"], capture_output=True, text=True, check=False)
    return " ".join(out.stdout.split()[:5])


@lru_cache(maxsize=1)
def installed_voices() -> tuple[frozenset[str], frozenset[str]]:
    """Names espeak-ng accepts for ``-v``: (languages and voices, ``+variant`` names), lower case."""
    def table(arg: str) -> list[list[str]]:
        out = subprocess.run([espeak_executable(), arg], capture_output=True, text=True, check=False).stdout
        return [line.split() for line in out.splitlines()[1:] if len(line.split()) >= 5]

    voices = {w.lower() for row in table("--voices") for w in (row[1], row[3], row[4], row[4].split("/")[-1])}
    variants = {w.lower() for row in table("--voices=variant") for w in (row[3], row[4].split("/")[-1])}
    return frozenset(voices), frozenset(variants)


def _check_voice(voice: str) -> None:
    base, _, variant = voice.partition("+")
    voices, variants = installed_voices()
    if base.lower() not in voices:
        english = sorted(v for v in voices if v.startswith("en"))
        raise ValueError(f"espeak-ng has no voice {base!r}; English ones: {english}")
    if variant and variant.lower() not in variants:
        raise ValueError(f"espeak-ng has no voice variant {variant!r}; e.g. f1-f5, m1-m7")


def _wav_payload(data: bytes) -> tuple[np.ndarray, int]:
    """Samples of the WAV that espeak-ng writes to stdout (its header sizes are not filled in)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RuntimeError("espeak-ng did not return WAV data")
    sr = int.from_bytes(data[24:28], "little")
    pos = data.find(b"data", 12)
    if pos < 0:
        raise RuntimeError("espeak-ng returned a WAV file without a data chunk")
    pcm = data[pos + 8:]
    pcm = pcm[: len(pcm) // 2 * 2]
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768, sr


def synthesize_speech(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50,
                      sample_rate: int = 16000) -> np.ndarray:
    """``text`` spoken by espeak-ng as float32 mono samples at ``sample_rate``. Introduced in chapter 1."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("synthesize_speech needs a non-empty text")
    if not voice or any(c.isspace() for c in voice):
        raise ValueError(f"not a valid espeak-ng voice name: {voice!r}")
    _check_voice(voice)  # espeak-ng falls back to a default voice silently when reading stdin
    if not 80 <= int(speed) <= 450:
        raise ValueError(f"speed must be in [80, 450] words per minute, got {speed}")
    if not 0 <= int(pitch) <= 99:
        raise ValueError(f"pitch must be in [0, 99], got {pitch}")
    cmd = [espeak_executable(), "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch)), "--stdout"]
    # the text goes through stdin, so a caption that starts with "-" is not read as an option
    out = subprocess.run(cmd, input=text.encode(), capture_output=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"espeak-ng failed for voice {voice!r}: {out.stderr.decode(errors='replace').strip()}")
    x, sr = _wav_payload(out.stdout)
    if sr != sample_rate:
        g = np.gcd(int(sample_rate), int(sr))
        x = signal.resample_poly(x, sample_rate // g, sr // g).astype(np.float32)
    return np.clip(x, -1, 1).astype(np.float32)


def speak(text: str, path: str | Path, voice: str = "en-us", speed: int = 160, pitch: int = 50,
          sample_rate: int = 16000) -> Path:
    """Speak ``text`` into a 16-bit mono WAV file at ``path`` (atomically). Introduced in chapter 1."""
    return write_wav(path, synthesize_speech(text, voice, speed, pitch, sample_rate), sample_rate)


# ScenesConfig fields that describe a scene (not its dataset's sizes or seed): SpokenConfig.scene
SCENE_FIELDS = {f.name for f in fields(scenes.ScenesConfig)} - {"seed", "n_captions", *scenes.SPLIT_SIZES}


@dataclass
class SpokenConfig:
    """Sizes and knobs of the spoken dataset. Introduced in chapter 1."""

    seed: int = 0
    n_train: int = 800
    n_val: int = 100
    n_test: int = 200
    sample_rate: int = 16000
    n_captions: int = 1          # 1: the spoken text; more: plus paraphrases of the same scene
    max_objects: int = 2         # scenes of 1..max_objects shapes keep utterances short
    scene: dict = field(default_factory=dict)  # other ScenesConfig fields, e.g. scenes.PICTURE_BOOK
    min_words: int = 5           # utterances of about 2-4 s
    max_words: int = 11
    accents: tuple[str, ...] = ACCENTS
    variants: tuple[str, ...] = VARIANTS
    speed_range: tuple[int, int] = (140, 190)   # words per minute
    pitch_range: tuple[int, int] = (30, 70)

    def __post_init__(self) -> None:
        for k in ("n_train", "n_val", "n_test"):
            if not isinstance(getattr(self, k), int) or getattr(self, k) < 0:
                raise ValueError(f"SpokenConfig.{k} must be a non-negative int, got {getattr(self, k)!r}")
        if self.n_train + self.n_val + self.n_test == 0:
            raise ValueError("SpokenConfig: all split sizes are 0")
        self.accents, self.variants = tuple(self.accents), tuple(self.variants)
        self.speed_range, self.pitch_range = tuple(self.speed_range), tuple(self.pitch_range)
        if not self.accents or not self.variants:
            raise ValueError("SpokenConfig: accents and variants must not be empty")
        if not 80 <= self.speed_range[0] <= self.speed_range[1] <= 450:
            raise ValueError(f"SpokenConfig.speed_range must lie in [80, 450], got {self.speed_range}")
        if not 0 <= self.pitch_range[0] <= self.pitch_range[1] <= 99:
            raise ValueError(f"SpokenConfig.pitch_range must lie in [0, 99], got {self.pitch_range}")
        if not 1 <= self.max_objects <= 3 or not 1 <= self.min_words <= self.max_words or self.n_captions < 1:
            raise ValueError("SpokenConfig: need 1 <= max_objects <= 3, 1 <= min_words <= max_words, n_captions >= 1")
        self.scene = dict(self.scene)
        self.scene_config()  # unknown or invalid scene fields fail here, not in a worker thread

    def scene_config(self) -> scenes.ScenesConfig:
        """The scenes the utterances describe: ``max_objects`` plus the ``scene`` overrides."""
        bad = sorted(set(self.scene) - SCENE_FIELDS)
        if bad:
            raise ValueError(f"SpokenConfig.scene: unknown ScenesConfig field(s) {bad}; known: {sorted(SCENE_FIELDS)}")
        return scenes.ScenesConfig(**{"max_objects": self.max_objects, **self.scene})


def sample_utterance(rng: np.random.Generator, cfg: SpokenConfig) -> dict:
    """A scene, its short spoken caption and a voice (accent + variant, speed, pitch)."""
    scene_cfg = cfg.scene_config()
    spec = scenes.sample_scene(rng, scene_cfg)
    caps = scenes.scene_captions(spec, rng, k=8)
    n_words = lambda c: len(c.split())  # noqa: E731
    fits = [c for c in caps if cfg.min_words <= n_words(c) <= cfg.max_words]
    text = pick(rng, fits) if fits else min(caps, key=lambda c: abs(n_words(c) - (cfg.min_words + cfg.max_words) / 2))
    others = [c for c in caps if c != text]
    return {"text": text, "paraphrases": others, "scene": spec,
            "voice": pick(rng, cfg.accents) + pick(rng, cfg.variants),
            "speed": int(rng.integers(cfg.speed_range[0], cfg.speed_range[1] + 1)),
            "pitch": int(rng.integers(cfg.pitch_range[0], cfg.pitch_range[1] + 1))}


def _generate(cfg: SpokenConfig, root: Path, workers: int | None = None) -> list[Item]:
    tasks = [(s, i) for s in ("train", "val", "test") for i in range(getattr(cfg, f"n_{s}"))]
    utts = [sample_utterance(item_rng(cfg.seed, s, i), cfg) for s, i in tasks]

    def one(k: int) -> Item:
        (split, i), u = tasks[k], utts[k]
        x = synthesize_speech(u["text"], u["voice"], u["speed"], u["pitch"], cfg.sample_rate)
        iid = f"{split}-{i:05d}"
        write_wav(root / "audio" / f"{iid}.wav", x, cfg.sample_rate)
        caps = distinct([u["text"]] + u["paraphrases"], cfg.n_captions)
        meta = {"voice": u["voice"], "speed": u["speed"], "pitch": u["pitch"], "text": u["text"],
                "duration": round(len(x) / cfg.sample_rate, 4), "scene": u["scene"]}
        return Item(id=iid, split=split, captions=caps, audio=f"audio/{iid}.wav",
                    label=u["voice"].split("+")[0], meta=meta)

    return thread_map(one, range(len(tasks)), workers)


def build(root: str | Path | None = None, seed: int = 0, workers: int | None = None, **sizes) -> PairedDataset:
    """Generate the spoken dataset into ``root`` on first use (needs espeak-ng), load it afterwards.

    ``sizes`` are :class:`SpokenConfig` fields (``n_train=800, n_val=100, n_test=200``, ...);
    ``workers`` espeak-ng processes run at once (the result does not depend on it).
    Introduced in chapter 1.
    """
    cfg = make_config(SpokenConfig, seed=seed, **sizes)

    def generate(r: Path) -> list[Item]:
        espeak_executable()  # fail early, with the install hint
        installed_voices()  # once, before the threads start
        return _generate(cfg, r, workers)

    ds = build_or_load(NAME, cfg, root, generate, media="audio",
                       info={"sample_rate": cfg.sample_rate, "espeak": espeak_version() if shutil.which(ESPEAK) else None},
                       version=VERSION)
    return ds
