"""Emoji from ``fonts-noto-color-emoji``: one image per single-code-point emoji, its Unicode name
as the caption ("steam locomotive", "face with cowboy hat").

Each code point of the font's character map that Python's ``unicodedata`` names (so the count
depends a little on the Python version: names of newer emoji are missing in older Pythons) is
drawn with PIL at the font's one bitmap size (109 px) onto white and saved as PNG. Skipped:
ASCII, joiners/variation selectors/tags, regional-indicator letters (flags are sequences of
two), skin-tone and hair components. ``label`` is a coarse group read off the code point's range
(:data:`GROUPS`), close to the Unicode emoji groups. Introduced in chapter 1.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import MissingDataError
from ..paths import data_dir
from . import debian
from .format import Item, PairedDataset

NAME = "emoji"
PACKAGE = "fonts-noto-color-emoji"
FONT_SIZE = 109  # Noto Color Emoji is a bitmap font with this one size
FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
VERSION = 1

# (first, last, group): the first matching range wins, so the narrow exceptions come first.
# Checked against Unicode 15.0's emoji-test.txt: 1,212 of the font's 1,357 named emoji (89 %) agree.
GROUPS: list[tuple[int, int, str]] = [
    (0x1F38C, 0x1F38C, "flags"), (0x1F3C1, 0x1F3C1, "flags"), (0x1F3F3, 0x1F3F4, "flags"),
    (0x1F6A9, 0x1F6A9, "flags"),
    (0x2614, 0x2614, "travel & places"), (0x2615, 0x2615, "food & drink"),
    (0x2639, 0x263A, "smileys & emotion"), (0x2763, 0x2764, "smileys & emotion"),
    (0x261D, 0x261D, "people & body"), (0x270A, 0x270D, "people & body"),
    (0x26BD, 0x26BE, "activities"), (0x265F, 0x2666, "activities"),
    (0x2600, 0x2604, "travel & places"), (0x26C4, 0x26C8, "travel & places"),
    (0x26E9, 0x26FD, "travel & places"), (0x2708, 0x2708, "travel & places"),
    (0x2709, 0x2712, "objects"), (0x2692, 0x269A, "objects"), (0x231A, 0x231B, "travel & places"),
    (0x23F0, 0x23F3, "travel & places"),               # clocks
    (0x1F004, 0x1F0FF, "activities"),                  # mahjong, playing cards
    (0x1F300, 0x1F32C, "travel & places"),             # sky and weather
    (0x1F32D, 0x1F330, "food & drink"), (0x1F331, 0x1F344, "animals & nature"),  # plants
    (0x1F345, 0x1F37F, "food & drink"), (0x1F399, 0x1F39E, "objects"),
    (0x1F3A0, 0x1F3A2, "travel & places"), (0x1F3B5, 0x1F3BC, "objects"),  # music
    (0x1F3C2, 0x1F3C4, "people & body"), (0x1F3CA, 0x1F3CC, "people & body"),  # sportspeople
    (0x1F380, 0x1F3D3, "activities"),
    (0x1F3D4, 0x1F3F0, "travel & places"), (0x1F400, 0x1F43F, "animals & nature"),
    (0x1F493, 0x1F49F, "smileys & emotion"),           # hearts
    (0x1F4A2, 0x1F4AF, "smileys & emotion"),           # comic symbols
    (0x1F451, 0x1F462, "objects"),                     # clothing
    (0x1F479, 0x1F480, "smileys & emotion"),           # monsters
    (0x1F440, 0x1F487, "people & body"), (0x1F488, 0x1F4FF, "objects"),
    (0x1F518, 0x1F524, "symbols"), (0x1F500, 0x1F506, "symbols"), (0x1F507, 0x1F52E, "objects"),
    (0x1F52F, 0x1F54E, "symbols"),
    (0x1F550, 0x1F567, "travel & places"),             # clock faces
    (0x1F5FA, 0x1F5FE, "travel & places"), (0x1F56F, 0x1F5FF, "objects"),
    (0x1F645, 0x1F647, "people & body"), (0x1F64B, 0x1F64F, "people & body"),
    (0x1F600, 0x1F64F, "smileys & emotion"),           # Emoticons block
    (0x1F6AB, 0x1F6C5, "symbols"), (0x1F680, 0x1F6FF, "travel & places"),  # Transport and Map
    (0x1F7E0, 0x1F7FF, "symbols"),                     # coloured circles and squares
    (0x1F910, 0x1F917, "smileys & emotion"), (0x1F920, 0x1F925, "smileys & emotion"),
    (0x1F927, 0x1F92F, "smileys & emotion"), (0x1F90C, 0x1F93E, "people & body"),
    (0x1F942, 0x1F944, "food & drink"), (0x1F93F, 0x1F94F, "activities"),
    (0x1F950, 0x1F96F, "food & drink"), (0x1F970, 0x1F97A, "smileys & emotion"),
    (0x1F97B, 0x1F97F, "objects"), (0x1F980, 0x1F9AF, "animals & nature"),
    (0x1F9B4, 0x1F9BF, "people & body"), (0x1F9C0, 0x1F9CB, "food & drink"),
    (0x1F9D0, 0x1F9D0, "smileys & emotion"), (0x1F9CC, 0x1F9E0, "people & body"),
    (0x1FA80, 0x1FA86, "activities"), (0x1F9E1, 0x1FAAF, "objects"), (0x1FAB0, 0x1FABF, "animals & nature"),
    (0x1FAC0, 0x1FACD, "people & body"), (0x1FACE, 0x1FACF, "animals & nature"),
    (0x1FAD0, 0x1FADF, "food & drink"), (0x1FAE0, 0x1FAEF, "smileys & emotion"),
    (0x1FAF0, 0x1FAFF, "people & body"),
]
SKIP_RANGES = [(0x1F1E6, 0x1F1FF), (0x1F3FB, 0x1F3FF), (0x1F9B0, 0x1F9B3)]  # flag letters, components


def group_of(cp: int) -> str:
    """Coarse emoji group of a code point from its range; "symbols" when no range matches."""
    for first, last, group in GROUPS:
        if first <= cp <= last:
            return group
    return "symbols"


def emoji_code_points(font_path: str | Path) -> list[int]:
    """The single-code-point emoji of a font that ``unicodedata`` names, sorted."""
    try:
        from fontTools.ttLib import TTFont
    except ImportError as e:  # fontTools comes with matplotlib
        raise MissingDataError("reading the emoji font needs fontTools: pip install fonttools") from e
    cmap = TTFont(str(font_path), lazy=True)["cmap"].getBestCmap()
    keep = []
    for cp in sorted(cmap):
        ch = chr(cp)
        if cp < 0x80 or unicodedata.category(ch)[0] in "CMZ" or unicodedata.category(ch) == "Sk":
            continue
        if any(a <= cp <= b for a, b in SKIP_RANGES) or not unicodedata.name(ch, ""):
            continue
        keep.append(cp)
    return keep


def render(ch: str, font: ImageFont.FreeTypeFont) -> Image.Image:
    """One emoji drawn in colour onto a white RGB canvas just large enough for it."""
    left, top, right, bottom = font.getbbox(ch)
    img = Image.new("RGB", (max(1, right - left), max(1, bottom - top)), "white")
    ImageDraw.Draw(img).text((-left, -top), ch, font=font, embedded_color=True)
    return img


def build(root: str | Path | None = None, seed: int = 0, source: str | Path | None = None,
          fractions: dict[str, float] | None = None, rebuild: bool = False) -> PairedDataset:
    """Render the emoji dataset into ``root`` (default ``data_dir()/emoji``) or load it.

    ``source`` is where the font package lives (default: installed under ``/`` or unpacked by
    ``data_scripts/get_debian_data.py``). A second call loads; another ``seed`` or ``fractions``
    only re-draws the splits. Introduced in chapter 1.
    """
    root = Path(root) if root is not None else data_dir() / NAME
    fractions = dict(fractions or FRACTIONS)
    if not rebuild and (root / "manifest.jsonl").exists():
        return debian.resplit(PairedDataset.load(root), seed, fractions)

    font_path = debian.find_package_file(PACKAGE, source)
    font = ImageFont.truetype(str(font_path), FONT_SIZE)
    info = {"source": f"Debian package {PACKAGE} ({font_path})", "licence": "OFL-1.1 / Apache-2.0",
            "font_size": FONT_SIZE, "unicodedata_version": unicodedata.unidata_version,
            "caption": "unicodedata.name, lower-cased", "background": "white", "version": VERSION,
            "label": "coarse group from the code-point range (GROUPS); ~9 in 10 agree with Unicode's"}
    with debian.staged_dir(root, NAME) as tmp:
        items = []
        for cp in emoji_code_points(font_path):
            img = render(chr(cp), font)
            rel = f"images/{cp:05x}.png"
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            img.save(tmp / rel)
            items.append(Item(id=f"u{cp:05x}", split="", captions=[unicodedata.name(chr(cp)).lower()],
                              image=rel, label=group_of(cp),
                              meta={"char": chr(cp), "codepoint": f"U+{cp:04X}", "size": list(img.size)}))
        if not items:
            raise MissingDataError(f"no named emoji found in {font_path}")
        ds = debian.resplit(PairedDataset(NAME, tmp, items, info), seed, fractions)
    ds.root = root
    return ds


def caption_keys(dataset: PairedDataset) -> np.ndarray:
    """Equal ints for identical normalised captions (see :func:`debian.caption_keys`)."""
    return debian.caption_keys(dataset)
