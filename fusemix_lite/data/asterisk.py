"""Asterisk telephone prompts (``asterisk-core-sounds-en-wav`` + ``asterisk-core-sounds-en``): real
recorded English speech, one speaker, with exact transcripts: a speech-text dataset.

Transcripts come from ``core-sounds-en.txt.gz`` (``digits/5: five``); audio from
``sounds/en_US_f_Allison/<key>.wav`` (8 kHz, 16-bit mono). The WAV files are copied unchanged
(``meta["sample_rate"]``; the encoder resamples). Bracketed notes are dropped from a caption
(``letters/at: at [@]`` -> "at"); prompts with no spoken words (tones, silence) are left out
unless ``nonspeech=True``. The label is the prompt family (digits, letters, voicemail, ...).
Licence CC-BY-SA-3.0: never commit the data. Introduced in chapter 1.
"""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import numpy as np

from ..errors import MissingDataError
from ..paths import data_dir
from . import debian
from .format import Item, PairedDataset

NAME = "asterisk"
SOUNDS, TRANSCRIPTS = "asterisk-core-sounds-en-wav", "asterisk-core-sounds-en"
FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
VERSION = 1
# file-name prefix of a top-level prompt -> family (label); other prompts are "general"
FAMILIES = {"vm": "voicemail", "conf": "conference", "confbridge": "conference", "queue": "queue",
            "dir": "directory", "spy": "spy", "demo": "demo", "agent": "agent"}
NOTE = re.compile(r"\[[^\]]*\]|\([^)]*\)")  # [ascending tones], (1 second of silence), [@]


def read_transcripts(path: Path) -> dict[str, str]:
    """``key: text`` lines of ``core-sounds-en.txt(.gz)``; ``;`` lines are comments."""
    opener = gzip.open if path.suffix == ".gz" else open
    out: dict[str, str] = {}
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith(";"):
                continue
            key, sep, text = line.partition(":")
            if not sep or not key.strip():
                raise ValueError(f"{path}:{n}: expected 'name: transcript', got {line!r}")
            out[key.strip()] = text.strip()
    return out


def spoken_text(transcript: str) -> str:
    """The words actually spoken: bracketed notes removed, spaces collapsed ("" for a tone)."""
    return " ".join(NOTE.sub(" ", transcript).split())


def family(key: str) -> str:
    """Label of a prompt: its folder (digits, letters, ...) or its name's prefix family."""
    if "/" in key:
        return key.split("/", 1)[0]
    return FAMILIES.get(re.split(r"[-_]", key, maxsplit=1)[0], "general")


def build(root: str | Path | None = None, seed: int = 0, source: str | Path | None = None,
          fractions: dict[str, float] | None = None, nonspeech: bool = False,
          rebuild: bool = False) -> PairedDataset:
    """Copy the prompts into ``root`` (default ``data_dir()/asterisk``) or load them.

    ``source``: where the packages live (default: installed under ``/`` or unpacked by
    ``data_scripts/get_debian_data.py``). ``nonspeech=True`` keeps tones and silence, captioned by
    their note ("ascending tones"). A second call loads; another ``seed`` or ``fractions`` only
    re-draws the (label-stratified) splits. Introduced in chapter 1.
    """
    root = Path(root) if root is not None else data_dir() / NAME
    fractions = dict(fractions or FRACTIONS)
    if not rebuild and (root / "manifest.jsonl").exists():
        ds = PairedDataset.load(root)
        if ds.info.get("nonspeech") != nonspeech:
            raise ValueError(f"{root} was built with nonspeech={ds.info.get('nonspeech')}; "
                             "pass rebuild=True to change it")
        return debian.resplit(ds, seed, fractions)

    import soundfile as sf

    sounds = debian.find_package_file(SOUNDS, source)
    transcripts = read_transcripts(debian.find_package_file(TRANSCRIPTS, source))
    no_audio, left_out = [], []
    with debian.staged_dir(root, NAME) as tmp:
        items = []
        for key, transcript in sorted(transcripts.items()):
            wav = sounds / f"{key}.wav"
            if not wav.exists():
                no_audio.append(key)
                continue
            caption = spoken_text(transcript)
            if not caption:
                if not nonspeech:
                    left_out.append(key)
                    continue
                caption = " ".join(re.sub(r"[\[\]()]", " ", transcript).split())
            rel = f"audio/{key}.wav"
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(wav, tmp / rel)
            info = sf.info(str(wav))
            items.append(Item(id=key, split="", captions=[caption], audio=rel, label=family(key),
                              meta={"transcript": transcript, "sample_rate": info.samplerate,
                                    "duration": round(info.duration, 3), "channels": info.channels,
                                    "speech": bool(spoken_text(transcript))}))
        if not items:
            raise MissingDataError(f"no prompts with transcripts found under {sounds}")
        info = {"source": f"Debian packages {SOUNDS} + {TRANSCRIPTS} ({sounds})",
                "licence": "CC-BY-SA-3.0", "speaker": "Allison Smith (one female US English voice)",
                "caption": "transcript without bracketed notes", "label": "prompt family",
                "audio": "original WAV copied unchanged (8 kHz mono); the encoder resamples",
                "nonspeech": nonspeech, "left_out_nonspeech": left_out, "no_audio": no_audio,
                "version": VERSION}
        ds = debian.resplit(PairedDataset(NAME, tmp, items, info), seed, fractions)
    ds.root = root
    return ds


def caption_keys(dataset: PairedDataset) -> np.ndarray:
    """Equal ints for identical normalised transcripts (a few prompts repeat, e.g. "Thank you.")."""
    return debian.caption_keys(dataset)
