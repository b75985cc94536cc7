"""``sounds``: non-speech sounds synthesised with numpy/scipy, captioned from their parameters.

A small AudioCaps stand-in: tones (pitch, timbre, loudness envelope), chirps sweeping up or down,
noise (white, pink, low rumble, high hiss; long or in short bursts), beeps (how many, how fast) and
two-part sequences ("a low hum, then three short high beeps"). Each clip is 16 kHz mono WAV of
about 1-4 s; ``Item.meta`` holds the parameters (enough to synthesise the clip again with
:func:`synthesize`). Introduced in chapter 1.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import signal

from .captions import (article, build_or_load, distinct, item_rng, make_config, number_word, pick,
                       sentence, thread_map)
from ..files import write_atomic
from .format import Item, PairedDataset

NAME = "sounds"
VERSION = 1
KINDS = ("tone", "chirp", "noise", "beeps", "sequence")

PITCHES: dict[str, tuple[float, float]] = {"low": (90.0, 220.0), "mid": (330.0, 800.0), "high": (1300.0, 3200.0)}
PITCH_WORDS = {"low": ["low", "deep", "low-pitched"], "mid": ["medium-pitched", "mid-range", "mid-pitched"],
               "high": ["high", "high-pitched", "shrill"]}
TONE_NOUNS = {"low": ["hum", "drone", "tone"], "mid": ["tone", "note"], "high": ["whistle", "tone", "ringing tone"]}
TIMBRES = ("sine", "square", "sawtooth", "triangle")
TIMBRE_WORDS = {"sine": ["pure", "smooth", "clean"], "square": ["buzzy", "harsh", "square-wave"],
                "sawtooth": ["bright", "brassy", "raspy"], "triangle": ["soft", "mellow", "hollow"]}
ENVELOPES = ("steady", "fade in", "fade out", "pulsing")
ENVELOPE_ADJ = {"steady": ["steady", "constant", "sustained"], "pulsing": ["pulsing", "wobbling", "throbbing"]}
ENVELOPE_SUFFIX = {"fade in": ["that fades in", "that slowly gets louder", "growing louder"],
                   "fade out": ["that fades out", "that dies away", "slowly getting quieter"]}
NOISES = ("white", "pink", "rumble", "hiss")
NOISE_WORDS = {"white": ["white noise", "static"], "pink": ["pink noise", "rushing noise"],
               "rumble": ["low rumbling", "deep rumbling noise"], "hiss": ["high hissing", "sharp hiss"]}
LOUDNESS = {"quiet": 0.15, "normal": 0.45, "loud": 0.85}  # peak amplitude
LOUDNESS_WORDS = {"quiet": ["quiet", "faint", "soft"], "loud": ["loud", "strong", "powerful"]}


@dataclass
class SoundsConfig:
    """Sizes and knobs of the sounds dataset. Introduced in chapter 1."""

    seed: int = 0
    n_train: int = 1200
    n_val: int = 150
    n_test: int = 300
    sample_rate: int = 16000
    n_captions: int = 5
    kinds: tuple[str, ...] = KINDS
    max_duration: float = 4.0
    noise_floor: float = 0.003   # faint white noise under every clip (like a room)

    def __post_init__(self) -> None:
        for k in ("n_train", "n_val", "n_test"):
            if not isinstance(getattr(self, k), int) or getattr(self, k) < 0:
                raise ValueError(f"SoundsConfig.{k} must be a non-negative int, got {getattr(self, k)!r}")
        if self.n_train + self.n_val + self.n_test == 0:
            raise ValueError("SoundsConfig: all split sizes are 0")
        if not 8000 <= self.sample_rate <= 48000:
            raise ValueError(f"SoundsConfig.sample_rate must be in [8000, 48000], got {self.sample_rate}")
        self.kinds = tuple(self.kinds)
        bad = [k for k in self.kinds if k not in KINDS]
        if bad or not self.kinds:
            raise ValueError(f"SoundsConfig.kinds: unknown or empty {bad or self.kinds}; known: {list(KINDS)}")
        if not 2.0 <= self.max_duration <= 10.0:
            raise ValueError(f"SoundsConfig.max_duration must be in [2, 10] s, got {self.max_duration}")
        if self.n_captions < 1:
            raise ValueError(f"SoundsConfig.n_captions must be >= 1, got {self.n_captions}")


# ---- specs ---------------------------------------------------------------------------------
def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def sample_segment(rng: np.random.Generator, kind: str, max_duration: float = 2.5) -> dict:
    """Parameters of one sound of ``kind`` ("tone", "chirp", "noise" or "beeps")."""
    r3 = lambda v: round(float(v), 3)  # noqa: E731
    if kind == "tone":
        pitch = pick(rng, list(PITCHES))
        return {"kind": "tone", "pitch": pitch, "freq": r3(_log_uniform(rng, *PITCHES[pitch])),
                "timbre": pick(rng, TIMBRES), "envelope": pick(rng, ENVELOPES),
                "mod_rate": r3(rng.uniform(3, 7)), "duration": r3(rng.uniform(min(0.8, max_duration), max_duration))}
    if kind == "chirp":
        direction = pick(rng, ["up", "down"])
        lo, hi = _log_uniform(rng, 150, 450), _log_uniform(rng, 1200, 3500)
        duration = r3(rng.uniform(0.3, min(2.0, max_duration)))
        return {"kind": "chirp", "direction": direction, "f0": r3(lo if direction == "up" else hi),
                "f1": r3(hi if direction == "up" else lo), "timbre": pick(rng, ["sine", "sine", "square", "triangle"]),
                "speed": "quick" if duration < 0.7 else "slow", "duration": duration}
    if kind == "noise":
        burst = rng.random() < 0.4
        return {"kind": "noise", "noise": pick(rng, NOISES), "burst": bool(burst),
                "envelope": "steady" if burst else pick(rng, ["steady", "fade in", "fade out"]),
                "duration": r3(rng.uniform(0.15, 0.45) if burst else rng.uniform(min(0.8, max_duration), max_duration)),
                "noise_seed": int(rng.integers(2**31))}
    if kind == "beeps":
        rate = pick(rng, ["slow", "fast"])
        n = int(rng.integers(2, 6))
        period = rng.uniform(0.45, 0.7) if rate == "slow" else rng.uniform(0.15, 0.25)
        period = min(period, max_duration / n)
        pitch = pick(rng, list(PITCHES))
        return {"kind": "beeps", "n": n, "rate": rate, "period": r3(period), "duty": r3(rng.uniform(0.4, 0.6)),
                "pitch": pitch, "freq": r3(_log_uniform(rng, *PITCHES[pitch])),
                "timbre": pick(rng, TIMBRES), "duration": r3(n * period)}
    raise ValueError(f"unknown sound kind {kind!r}; known: {list(KINDS[:-1])}")


def sample_sound(rng: np.random.Generator, cfg: SoundsConfig) -> dict:
    """Parameters of one clip: one segment, or two in a sequence, plus loudness and padding."""
    kind = pick(rng, cfg.kinds)
    if kind == "sequence":
        a, b = rng.choice(KINDS[:-1], size=2, replace=False)
        half = (cfg.max_duration - 0.8) / 2
        segments = [sample_segment(rng, str(a), half), sample_segment(rng, str(b), half)]
        gap = round(float(rng.uniform(0.1, 0.4)), 3)
    else:
        segments, gap = [sample_segment(rng, kind, cfg.max_duration - 0.6)], 0.0
    return {"kind": kind, "segments": segments, "gap": gap,
            "loudness": pick(rng, ["quiet", "normal", "normal", "loud"]),
            "lead": round(float(rng.uniform(0.05, 0.3)), 3), "sample_rate": cfg.sample_rate,
            "noise_floor": cfg.noise_floor, "noise_seed": int(rng.integers(2**31))}


# ---- synthesis -------------------------------------------------------------------------------
def _osc(timbre: str, phase: np.ndarray) -> np.ndarray:
    """A periodic waveform of the given phase (radians): sine, square, sawtooth or triangle."""
    if timbre == "sine":
        return np.sin(phase)
    frac = np.mod(phase / (2 * np.pi), 1.0)  # position within the period, in [0, 1)
    if timbre == "square":
        return np.where(frac < 0.5, 1.0, -1.0)
    if timbre == "sawtooth":
        return 2 * frac - 1
    if timbre == "triangle":
        return 1 - 4 * np.abs(frac - 0.5)
    raise ValueError(f"unknown timbre {timbre!r}; known: {list(TIMBRES)}")


def _envelope(kind: str, t: np.ndarray, duration: float, mod_rate: float = 5.0) -> np.ndarray:
    ramp = np.clip(t / 0.01, 0, 1) * np.clip((duration - t) / 0.01, 0, 1)  # 10 ms: no clicks
    if kind == "fade in":
        return ramp * (t / duration) ** 1.5
    if kind == "fade out":
        return ramp * (1 - t / duration) ** 1.5
    if kind == "pulsing":
        return ramp * (0.55 + 0.45 * np.sin(2 * np.pi * mod_rate * t))
    return ramp


@lru_cache(maxsize=32)
def _butter(cutoff: float, btype: str, sr: int) -> np.ndarray:
    return signal.butter(4, cutoff, btype, fs=sr, output="sos")


def synthesize_segment(seg: dict, sr: int = 16000) -> np.ndarray:
    """One segment as float32 samples with RMS 0.2 (vectorised; no loops over samples)."""
    t = np.arange(int(round(seg["duration"] * sr))) / sr
    kind = seg["kind"]
    if kind == "tone":
        x = _osc(seg["timbre"], 2 * np.pi * seg["freq"] * t) * _envelope(seg["envelope"], t, seg["duration"], seg["mod_rate"])
    elif kind == "chirp":  # exponential sweep f(t) = f0 * k^(t/T); phase is its integral
        f0, k, T = seg["f0"], seg["f1"] / seg["f0"], seg["duration"]
        phase = 2 * np.pi * f0 * T / np.log(k) * (k ** (t / T) - 1)
        x = _osc(seg["timbre"], phase) * _envelope("steady", t, T)
    elif kind == "noise":
        nrng = np.random.default_rng(seg["noise_seed"])
        x = nrng.standard_normal(len(t))
        if seg["noise"] == "pink":  # 1/f power: scale the spectrum by 1/sqrt(f)
            spec = np.fft.rfft(x)
            f = np.fft.rfftfreq(len(x), 1 / sr)
            spec[1:] /= np.sqrt(f[1:] / f[1])
            x = np.fft.irfft(spec, len(x))
        elif seg["noise"] == "rumble":
            x = signal.sosfilt(_butter(180, "lowpass", sr), x)
        elif seg["noise"] == "hiss":
            x = signal.sosfilt(_butter(3000, "highpass", sr), x)
        x = x * _envelope(seg["envelope"], t, seg["duration"])
    elif kind == "beeps":
        period, on = seg["period"], seg["period"] * seg["duty"]
        local = np.mod(t, period)
        gate = (t // period < seg["n"]) * np.clip(local / 0.005, 0, 1) * np.clip((on - local) / 0.005, 0, 1)
        x = _osc(seg["timbre"], 2 * np.pi * seg["freq"] * t) * gate
    else:
        raise ValueError(f"unknown segment kind {kind!r}")
    if kind != "noise" and seg.get("timbre", "sine") != "sine":  # soften aliasing of harsh timbres
        x = signal.sosfilt(_butter(0.42 * sr, "lowpass", sr), x)
    rms = np.sqrt(np.mean(x ** 2)) + 1e-9
    return (0.2 * x / rms).astype(np.float32)


def synthesize(spec: dict) -> np.ndarray:
    """The clip of a spec from :func:`sample_sound` as float32 samples in [-1, 1]. Introduced in chapter 1."""
    sr = spec["sample_rate"]
    parts = [np.zeros(int(spec["lead"] * sr), np.float32)]
    for i, seg in enumerate(spec["segments"]):
        if i:
            parts.append(np.zeros(int(spec["gap"] * sr), np.float32))
        parts.append(synthesize_segment(seg, sr))
    x = np.concatenate(parts)
    x = np.concatenate([x, np.zeros(max(int(1.0 * sr) - len(x), int(0.1 * sr)), np.float32)])  # >= 1 s
    x *= LOUDNESS[spec["loudness"]] / (np.abs(x).max() + 1e-9)
    x += spec["noise_floor"] * np.random.default_rng(spec["noise_seed"]).standard_normal(len(x)).astype(np.float32)
    return np.clip(x, -1, 1).astype(np.float32)


def wav_bytes(x: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM mono WAV bytes of float samples in [-1, 1]."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {x.shape}")
    pcm = np.clip(np.rint(x * 32767), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def write_wav(path: str | Path, x: np.ndarray, sample_rate: int) -> Path:
    """Write float samples as a 16-bit mono WAV file, atomically. Introduced in chapter 1."""
    write_atomic(Path(path), wav_bytes(x, sample_rate))
    return Path(path)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A 16-bit PCM WAV file as (float32 mono samples in [-1, 1], sample rate)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported, got {8 * w.getsampwidth()}-bit")
        sr, ch = w.getframerate(), w.getnchannels()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1)
    return x, sr


# ---- captions ------------------------------------------------------------------------------------
def _maybe(rng: np.random.Generator, p: float, words: list[str]) -> str:
    return pick(rng, words) + " " if rng.random() < p else ""


def segment_phrase(seg: dict, rng: np.random.Generator, full: bool = False) -> str:
    """A noun phrase for one segment, e.g. "three short high beeps". ``full`` keeps every
    distinguishing attribute; otherwise some are left out at random. Introduced in chapter 1."""
    p = 1.0 if full else 0.5
    kind = seg["kind"]
    if kind == "tone":
        adj = _maybe(rng, 0.4, ENVELOPE_ADJ[seg["envelope"]]) if seg["envelope"] in ENVELOPE_ADJ else ""
        if full and seg["envelope"] == "pulsing":
            adj = pick(rng, ENVELOPE_ADJ["pulsing"]) + " "
        text = article(f"{adj}{_maybe(rng, max(p, 0.7), PITCH_WORDS[seg['pitch']])}"
                       f"{_maybe(rng, 0.5 * p, TIMBRE_WORDS[seg['timbre']])}{pick(rng, TONE_NOUNS[seg['pitch']])}")
        if seg["envelope"] in ENVELOPE_SUFFIX and rng.random() < max(p, 0.6):
            text += " " + pick(rng, ENVELOPE_SUFFIX[seg["envelope"]])
        return text
    if kind == "chirp":
        up = seg["direction"] == "up"
        noun = pick(rng, ["whistle", "tone", "sweep", "chirp", "siren-like tone"])
        if rng.random() < 0.5:
            adj = pick(rng, ["rising", "upward sweeping", "ascending"] if up else ["falling", "downward sweeping", "descending"])
            return article(f"{_maybe(rng, 0.5 * p, [seg['speed']])}{adj} {noun}")
        verb = pick(rng, ["that sweeps up", "rising in pitch", "going up"] if up else
                    ["that sweeps down", "falling in pitch", "going down"])
        return article(f"{_maybe(rng, 0.5 * p, [seg['speed']])}{noun}") + " " + verb
    if kind == "noise":
        mass = pick(rng, NOISE_WORDS[seg["noise"]])
        if seg["burst"]:
            return pick(rng, ["a short burst of", "a brief burst of", "a quick blast of"]) + " " + mass
        text = pick(rng, ["", "steady ", "continuous ", "the sound of "]) + mass
        if seg["envelope"] in ENVELOPE_SUFFIX and rng.random() < max(p, 0.6):
            text += " " + pick(rng, ENVELOPE_SUFFIX[seg["envelope"]])
        return text
    if kind == "beeps":
        n, pitch = seg["n"], seg["pitch"]
        style = rng.integers(3)
        pitch_w = _maybe(rng, max(p, 0.7), PITCH_WORDS[pitch])
        rate_w = _maybe(rng, 0.6 * p, ["quick", "rapid"] if seg["rate"] == "fast" else ["slow", "spaced-out"])
        if style == 0 or full:
            return f"{number_word(n)} {rate_w}{'short ' if not rate_w and rng.random() < 0.5 else ''}{pitch_w}beeps"
        if style == 1:
            return article(f"{pitch_w}{_maybe(rng, 0.4 * p, TIMBRE_WORDS[seg['timbre']])}tone") + \
                f" beeping {number_word(n)} times"
        pitch_n = {"low": "low", "mid": "medium", "high": "high"}[pitch]
        return " ".join(["beep"] * n) + (f" at a {pitch_n} pitch" if pitch_w else "")
    raise ValueError(f"unknown segment kind {kind!r}")


def sound_captions(spec: dict, rng: np.random.Generator, k: int = 5) -> list[str]:
    """``k`` different captions of a clip; the first keeps every distinguishing attribute."""
    segs, loud = spec["segments"], spec["loudness"]

    def one(full: bool) -> str:
        if len(segs) == 2:
            a, b = segment_phrase(segs[0], rng, full), segment_phrase(segs[1], rng, full)
            text = pick(rng, [f"{a}, then {b}", f"{a} followed by {b}", f"first {a} and then {b}",
                              f"{b} after {a}", f"{a}, and afterwards {b}"])
        else:
            text = pick(rng, ["{}", "{}", "the sound of {}", "you can hear {}", "a recording of {}"]).format(
                segment_phrase(segs[0], rng, full))
        if loud in LOUDNESS_WORDS and rng.random() < 0.3:
            text += pick(rng, [", {} overall", ", {} in volume", " ({})"]).format(pick(rng, LOUDNESS_WORDS[loud]))
        return sentence(text.replace("the sound of the sound of", "the sound of"), rng)

    caps = [one(True)] + [one(False) for _ in range(k - 1)]
    tries = 0
    while len(distinct(caps, k)) < k and tries < 50:
        caps.append(one(rng.random() < 0.5))
        tries += 1
    return distinct(caps, k)


# ---- the dataset ---------------------------------------------------------------------------------
def make_item(cfg: SoundsConfig, split: str, index: int) -> tuple[Item, np.ndarray]:
    """Spec, captions and samples of one clip; depends only on (cfg, split, index)."""
    rng = item_rng(cfg.seed, split, index)
    spec = sample_sound(rng, cfg)
    caps = sound_captions(spec, rng, cfg.n_captions)
    x = synthesize(spec)
    spec["duration"] = round(len(x) / cfg.sample_rate, 4)
    iid = f"{split}-{index:05d}"
    return Item(id=iid, split=split, captions=caps, audio=f"audio/{iid}.wav", label=spec["kind"], meta=spec), x


def _generate(cfg: SoundsConfig, root: Path, workers: int | None = None) -> list[Item]:
    def one(task: tuple[str, int]) -> Item:
        item, x = make_item(cfg, *task)
        write_wav(root / item.audio, x, cfg.sample_rate)
        return item

    tasks = [(s, i) for s in ("train", "val", "test") for i in range(getattr(cfg, f"n_{s}"))]
    return thread_map(one, tasks, workers)


def build(root: str | Path | None = None, seed: int = 0, workers: int | None = None, **sizes) -> PairedDataset:
    """Generate the sounds dataset into ``root`` on first use, load it afterwards.

    ``sizes`` are :class:`SoundsConfig` fields (``n_train=1200, n_val=150, n_test=300``,
    ``sample_rate=16000``, ``kinds``...). Introduced in chapter 1.
    """
    cfg = make_config(SoundsConfig, seed=seed, **sizes)
    return build_or_load(NAME, cfg, root, lambda r: _generate(cfg, r, workers), media="audio",
                         info={"sample_rate": cfg.sample_rate, "kinds": list(cfg.kinds)}, version=VERSION)
