"""Tux Paint stamps (``tuxpaint-stamps-default``): clip art and photos with human-written captions,
and for some a real sound effect.

A stamp is ``stamps/<category>/.../<stem>.png`` or ``.svg``. Its caption is the first line of
``<stem>.txt`` (English; the other lines are translations, ``de.utf8=...``; the ``en_*`` ones are
kept in ``meta["caption_variants"]``). ``<stem>.ogg`` is its sound effect (``Item.audio``);
``<stem>_desc.ogg`` a spoken description (``meta["desc_audio"]``, not used as a pair). A sound
file whose samples are all zero (the package ships four: iguana, giraffe, wombat, rhea) is not a
sound of its stamp: it is left out (``info["silent_sounds"]``), the stamp kept. The label is
the top category (animals, food, ...). Transparent images are composited onto white and saved as
RGB PNG at their own size (some are tiny: ``meta["size"]``). Where a stamp has both, the PNG is
used; an SVG-only stamp is rendered with cairosvg (``svg="render"``) or left out (``svg="skip"``).
Licence GPL-2: never commit the data. Introduced in chapter 1.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import MissingDataError
from ..paths import data_dir
from . import debian
from .format import Item, PairedDataset

NAME = "tuxpaint"
PACKAGE = "tuxpaint-stamps-default"
FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
VERSION = 2  # 2: silent sound files left out


def on_white(img: Image.Image) -> Image.Image:
    """Composite an image with transparency (RGBA, LA, P with tRNS) onto white; returns RGB."""
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def read_caption(txt: Path) -> tuple[str | None, dict[str, str]]:
    """The English caption (first line, stripped) of a stamp's ``.txt`` and its ``en_*`` variants."""
    lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
    first = lines[0].strip() if lines else ""
    variants = {}
    for line in lines[1:]:
        lang, sep, text = line.partition("=")
        if sep and lang.startswith("en") and text.strip():
            variants[lang.removesuffix(".utf8")] = text.strip()
    return (first or None), variants


def render_svg(path: Path) -> Image.Image:
    """Render an SVG at its own size with cairosvg (RGBA)."""
    try:
        import cairosvg
    except ImportError as e:
        raise MissingDataError("rendering Tux Paint SVG stamps needs cairosvg: pip install cairosvg "
                               "(or build with svg='skip')") from e
    return Image.open(io.BytesIO(cairosvg.svg2png(url=str(path))))


def find_stamps(stamps: Path) -> dict[str, Path]:
    """Stamp id (path below ``stamps/`` without suffix) -> its image, the PNG where both exist."""
    found: dict[str, Path] = {}
    for path in sorted(stamps.rglob("*")):
        if path.suffix in (".png", ".svg") and path.is_file():
            key = path.relative_to(stamps).with_suffix("").as_posix()
            if key not in found or path.suffix == ".png":
                found[key] = path
    return found


def _sound_meta(path: Path) -> dict:
    import soundfile as sf

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return {"sample_rate": sr, "duration": round(len(data) / sr, 3), "channels": data.shape[1],
            "peak": float(np.abs(data).max()) if data.size else 0.0}


def build(root: str | Path | None = None, seed: int = 0, source: str | Path | None = None,
          fractions: dict[str, float] | None = None, svg: str = "render",
          rebuild: bool = False) -> PairedDataset:
    """Convert the stamps into ``root`` (default ``data_dir()/tuxpaint``) or load them.

    ``source``: where the package lives (default: installed under ``/`` or unpacked by
    ``data_scripts/get_debian_data.py``). ``svg``: "render" or "skip" the SVG-only stamps. A second
    call loads; another ``seed`` or ``fractions`` only re-draws the (label-stratified) splits.
    Introduced in chapter 1.
    """
    if svg not in ("render", "skip"):
        raise ValueError(f"svg must be 'render' or 'skip', got {svg!r}")
    root = Path(root) if root is not None else data_dir() / NAME
    fractions = dict(fractions or FRACTIONS)
    ds = PairedDataset.load(root) if not rebuild and (root / "manifest.jsonl").exists() else None
    if ds is not None and ds.info.get("version") == VERSION:  # (an older version is rebuilt below)
        if ds.info.get("svg") != svg:
            raise ValueError(f"{root} was built with svg={ds.info.get('svg')!r}; "
                             "pass rebuild=True to change it")
        return debian.resplit(ds, seed, fractions)

    stamps = debian.find_package_file(PACKAGE, source)
    no_caption: list[str] = []
    silent_sounds: list[str] = []
    svg_left_out: dict[str, str] = {}
    with debian.staged_dir(root, NAME) as tmp:
        items = []
        for key, path in find_stamps(stamps).items():
            txt = path.with_suffix(".txt")
            caption, variants = read_caption(txt) if txt.exists() else (None, {})
            if caption is None:
                no_caption.append(key)
                continue
            if path.suffix == ".svg" and svg == "skip":
                svg_left_out[key] = "svg='skip'"
                continue
            try:
                raw = render_svg(path) if path.suffix == ".svg" else Image.open(path)
                raw.load()
            except (OSError, ValueError, SyntaxError) as e:  # cairosvg/defusedxml or PIL refusing a file
                if path.suffix != ".svg":
                    raise ValueError(f"cannot read Tux Paint stamp {path}: {e}") from e
                svg_left_out[key] = f"{type(e).__name__}: {e}"
                continue
            img = on_white(raw)
            rel_img = f"images/{key}.png"
            (tmp / rel_img).parent.mkdir(parents=True, exist_ok=True)
            img.save(tmp / rel_img)
            category, *sub = key.split("/")
            meta = {"subcategory": "/".join(sub[:-1]), "source": path.suffix[1:], "size": list(img.size),
                    "mode": raw.mode}
            if variants:
                meta["caption_variants"] = variants
            audio = None
            for suffix, field in (("", "audio"), ("_desc", "desc_audio")):
                ogg = path.with_name(path.stem + suffix + ".ogg")
                sound = _sound_meta(ogg) if ogg.exists() and field == "audio" else None
                if sound is not None and sound["peak"] == 0.0:
                    silent_sounds.append(key)
                    continue
                if ogg.exists():
                    rel = f"audio/{key}{suffix}.ogg"
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(ogg, tmp / rel)
                    if field == "audio":
                        audio = rel
                        meta.update(sound)
                    else:
                        meta["desc_audio"] = rel
            items.append(Item(id=key, split="", captions=[caption], image=rel_img, audio=audio,
                              label=category, meta=meta))
        if not items:
            raise MissingDataError(f"no captioned Tux Paint stamps under {stamps}")
        info = {"source": f"Debian package {PACKAGE} ({stamps})", "licence": "GPL-2.0",
                "caption": "first line of <stem>.txt, stripped", "label": "top stamp category",
                "background": "white (transparency composited)", "svg": svg,
                "svg_renderer": "cairosvg, own size; a stamp with PNG and SVG uses the PNG",
                "svg_left_out": svg_left_out, "no_caption": no_caption, "silent_sounds": silent_sounds,
                "audio": "<stem>.ogg sound effect; meta desc_audio = <stem>_desc.ogg spoken description",
                "n_with_audio": sum(it.audio is not None for it in items), "version": VERSION}
        ds = debian.resplit(PairedDataset(NAME, tmp, items, info), seed, fractions)
    ds.root = root
    return ds


def caption_keys(dataset: PairedDataset) -> np.ndarray:
    """Equal ints for identical normalised captions: "A goat." twice gives one key. Use it as
    ``recall_at_k(..., text_key=caption_keys(ds))``. Introduced in chapter 5."""
    return debian.caption_keys(dataset)
