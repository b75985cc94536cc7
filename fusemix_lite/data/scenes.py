"""``scenes``: PIL-drawn scenes of 1-3 shapes with five paraphrased captions each (image-text).

Every image comes from a *spec* (shapes, colours, sizes, positions, background, texture) stored in
``Item.meta``, and its captions come from a small grammar over the same spec, with synonyms,
different orders and partial descriptions, the way COCO has five captions by five people.

Splits: ``train``, ``val``, ``test`` and ``compositional``. A fixed set of (shape, colour)
combinations (:func:`heldout_combinations`) never occurs in train/val/test; every compositional
item contains at least one of them, so it tests whether a model composes attributes it has only
seen apart. Introduced in chapter 1.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .captions import (article, build_or_load, distinct, item_rng, join_list, make_config,
                       number_word, pick, sentence, thread_map)
from ..files import write_atomic
from .format import Item, PairedDataset

NAME = "scenes"
VERSION = 1
SPLIT_SIZES = ("n_train", "n_val", "n_test", "n_compositional")

# ---- vocabulary: canonical name -> words a caption may use ------------------------------------
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "diamond", "hexagon", "cross", "heart")
SHAPE_WORDS: dict[str, list[str]] = {
    "circle": ["circle", "disc", "round dot"], "square": ["square", "box", "block"],
    "triangle": ["triangle", "triangular shape"], "star": ["star", "five-pointed star"],
    "diamond": ["diamond", "rhombus"], "hexagon": ["hexagon", "six-sided shape"],
    "cross": ["cross", "plus sign"], "heart": ["heart", "heart shape"],
}
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35), "orange": (245, 135, 20), "yellow": (240, 215, 40), "green": (45, 165, 60),
    "blue": (35, 85, 220), "purple": (135, 55, 185), "pink": (245, 125, 185), "brown": (125, 75, 35),
    "white": (245, 245, 245), "black": (20, 20, 20),
}
COLOUR_WORDS: dict[str, list[str]] = {
    "red": ["red", "scarlet"], "orange": ["orange"], "yellow": ["yellow", "golden"], "green": ["green"],
    "blue": ["blue"], "purple": ["purple", "violet"], "pink": ["pink"], "brown": ["brown"],
    "white": ["white"], "black": ["black"],
}
SIZES: dict[str, float] = {"small": 0.075, "medium": 0.115, "large": 0.165}  # radius / image size
SIZE_WORDS: dict[str, list[str]] = {
    "small": ["small", "little", "tiny"], "medium": ["medium-sized", "mid-sized", "medium"],
    "large": ["large", "big"],
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "light grey": (205, 205, 205), "dark grey": (60, 60, 60), "beige": (225, 205, 170),
    "pale blue": (180, 205, 230), "navy": (25, 30, 75), "olive": (110, 110, 55), "teal": (35, 105, 110),
}
BACKGROUND_WORDS: dict[str, list[str]] = {
    "light grey": ["light grey", "pale grey", "light gray"], "dark grey": ["dark grey", "charcoal", "dark gray"],
    "beige": ["beige", "cream"], "pale blue": ["pale blue", "light blue"], "navy": ["navy", "dark blue"],
    "olive": ["olive", "khaki"], "teal": ["teal", "dark turquoise"],
}
POSITIONS = ("top left", "top", "top right", "left", "centre", "right", "bottom left", "bottom", "bottom right")
POSITION_PHRASES: dict[str, list[str]] = {
    "top left": ["in the top left corner", "at the upper left", "in the top left"],
    "top": ["at the top", "near the top", "in the upper middle"],
    "top right": ["in the top right corner", "at the upper right", "in the top right"],
    "left": ["on the left", "on the left side", "at the left"],
    "centre": ["in the centre", "in the middle", "at the center"],
    "right": ["on the right", "on the right side", "at the right"],
    "bottom left": ["in the bottom left corner", "at the lower left", "in the bottom left"],
    "bottom": ["at the bottom", "near the bottom", "in the lower middle"],
    "bottom right": ["in the bottom right corner", "at the lower right", "in the bottom right"],
}
RELATION_WORDS: dict[str, list[str]] = {
    "left of": ["to the left of", "left of", "on the left of"],
    "right of": ["to the right of", "right of", "on the right of"],
    "above": ["above", "over", "higher than"],
    "below": ["below", "under", "beneath"],
    "next to": ["next to", "beside", "near"],
}
INVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above", "next to": "next to"}
MIN_CONTRAST = 100.0  # RGB distance between every object colour and the background colours


@dataclass
class ScenesConfig:
    """Sizes and difficulty knobs of the scenes dataset. Introduced in chapter 1."""

    seed: int = 0
    n_train: int = 2000
    n_val: int = 250
    n_test: int = 500
    n_compositional: int = 250
    image_size: int = 128
    min_objects: int = 1
    max_objects: int = 3
    n_shapes: int = 8           # the first n of SHAPES
    n_colours: int = 10         # the first n of COLOURS
    n_captions: int = 5
    colour_jitter: int = 18     # +- per RGB channel of an object's colour
    rotation_jitter: float = 15.0  # degrees
    size_jitter: float = 0.12   # relative radius jitter within a size class
    size_scale: float = 1.0     # multiplies every size class's radius (bigger objects read better when small)
    position_spread: float = 1.0  # share of the free range an object's centre may take (1: anywhere; small: near the centre)
    gradient_prob: float = 0.5
    texture_prob: float = 0.6   # faint stripes or speckles in the background
    noise_std: float = 4.0      # Gaussian pixel noise over the whole image (0-255 scale)
    supersample: int = 2        # draw at k x size then downsample (anti-aliased edges)

    def __post_init__(self) -> None:
        for k in SPLIT_SIZES:
            if not isinstance(getattr(self, k), int) or getattr(self, k) < 0:
                raise ValueError(f"ScenesConfig.{k} must be a non-negative int, got {getattr(self, k)!r}")
        if self.n_train + self.n_val + self.n_test + self.n_compositional == 0:
            raise ValueError("ScenesConfig: all split sizes are 0")
        if not 32 <= self.image_size <= 1024:
            raise ValueError(f"ScenesConfig.image_size must be in [32, 1024], got {self.image_size}")
        if not 1 <= self.min_objects <= self.max_objects <= 3:
            raise ValueError(f"need 1 <= min_objects <= max_objects <= 3, got {self.min_objects}, {self.max_objects}")
        if not 2 <= self.n_shapes <= len(SHAPES):
            raise ValueError(f"ScenesConfig.n_shapes must be in [2, {len(SHAPES)}], got {self.n_shapes}")
        if not 3 <= self.n_colours <= len(COLOURS):
            raise ValueError(f"ScenesConfig.n_colours must be in [3, {len(COLOURS)}], got {self.n_colours}")
        if self.n_captions < 1:
            raise ValueError(f"ScenesConfig.n_captions must be >= 1, got {self.n_captions}")
        if not 0.5 <= self.size_scale <= 1.8:
            raise ValueError(f"ScenesConfig.size_scale must be in [0.5, 1.8], got {self.size_scale}")
        if self.supersample < 1:
            raise ValueError(f"ScenesConfig.supersample must be >= 1, got {self.supersample}")
        if not 0.0 < self.position_spread <= 1.0:
            raise ValueError(f"ScenesConfig.position_spread must be in (0, 1], got {self.position_spread}")

    @property
    def shapes(self) -> tuple[str, ...]:
        return SHAPES[: self.n_shapes]

    @property
    def colours(self) -> tuple[str, ...]:
        return tuple(COLOURS)[: self.n_colours]


# The "picture book" scenes of chapter 8: one large-ish object of 4 shapes x 6 colours near the
# centre of a plain background, like a flash card. A generator trained for a few CPU minutes at
# 32 px can learn to draw these; on the default scenes (1-3 objects of 8 shapes, 5-10 px wide at
# 32 px, textured backgrounds) it draws colour blobs, and even a classifier trained on real images
# reads the shapes barely above chance. With the object anywhere (position_spread 1) the same
# generator drew the caption's shape in 42 % of its pictures, near the centre in 83 % (floor about
# 27 %; benchmarks/bench_generator.py).
PICTURE_BOOK: dict = {"max_objects": 1, "n_shapes": 4, "n_colours": 6, "size_scale": 1.6,
                      "position_spread": 0.15, "texture_prob": 0.0, "gradient_prob": 0.0}


def heldout_combinations(cfg: ScenesConfig | None = None) -> list[tuple[str, str]]:
    """The (shape, colour) pairs kept out of train/val/test: one colour per shape, on a fixed
    diagonal, so that every shape and most colours still occur in training. Introduced in chapter 1."""
    cfg = cfg or ScenesConfig()
    shapes, colours = cfg.shapes, cfg.colours
    return [(s, colours[(3 * i + 1) % len(colours)]) for i, s in enumerate(shapes)]


# ---- specs -----------------------------------------------------------------------------------
def _region(x: float, y: float) -> str:
    """Position word of a centre given in [0, 1] image coordinates (y down)."""
    col = "left" if x < 1 / 3 else ("right" if x > 2 / 3 else "")
    row = "top" if y < 1 / 3 else ("bottom" if y > 2 / 3 else "")
    return f"{row} {col}".strip() or "centre"


def _relation(a: dict, b: dict) -> str:
    """Where object ``a`` is relative to ``b`` (dominant axis; "next to" when close on both)."""
    dx, dy = b["x"] - a["x"], b["y"] - a["y"]
    if max(abs(dx), abs(dy)) < 0.15:
        return "next to"
    if abs(dx) >= abs(dy):
        return "left of" if dx > 0 else "right of"
    return "above" if dy > 0 else "below"


def _contrast_ok(rgb: tuple[int, int, int], backgrounds: list[tuple[int, int, int]]) -> bool:
    return all(math.dist(rgb, bg) >= MIN_CONTRAST for bg in backgrounds)


def sample_scene(rng: np.random.Generator, cfg: ScenesConfig, compositional: bool = False) -> dict:
    """Draw one scene spec: objects (shape, colour, size, position) that do not overlap, a
    background with enough contrast, and a texture. ``compositional`` puts a held-out
    (shape, colour) pair in the scene; otherwise held-out pairs never appear. Introduced in chapter 1."""
    held = set(heldout_combinations(cfg))
    allowed = [(s, c) for s in cfg.shapes for c in cfg.colours if (s, c) not in held]
    S = cfg.image_size
    gap = 0.03
    for _ in range(100):
        n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
        combos: list[tuple[str, str]] = []
        if compositional:
            combos.append(tuple(pick(rng, sorted(held))))
        while len(combos) < n:
            c = tuple(pick(rng, allowed))
            if c not in combos:
                combos.append(c)
        order = rng.permutation(n)
        combos = [combos[i] for i in order]
        # background colours that contrast with every object colour
        ok = [b for b in BACKGROUNDS if _contrast_ok(BACKGROUNDS[b], [COLOURS[c] for _, c in combos])]
        if not ok:
            continue
        objects: list[dict] = []
        for shape, colour in combos:
            size = pick(rng, list(SIZES))
            r = SIZES[size] * cfg.size_scale * (1 + cfg.size_jitter * (2 * rng.random() - 1))
            for _ in range(200):  # rejection sampling of the centre: bounding circles must not touch
                x, y = rng.uniform(r + 0.02, 1 - r - 0.02, size=2)
                if cfg.position_spread < 1.0:  # pulled towards the centre
                    x, y = 0.5 + cfg.position_spread * (x - 0.5), 0.5 + cfg.position_spread * (y - 0.5)
                if all(math.dist((x, y), (o["x"], o["y"])) >= r + o["r"] + gap for o in objects):
                    break
            else:
                break
            jitter = rng.integers(-cfg.colour_jitter, cfg.colour_jitter + 1, size=3)
            rgb = [int(v) for v in np.clip(np.array(COLOURS[colour]) + jitter, 0, 255)]
            angle = float(rng.uniform(-cfg.rotation_jitter, cfg.rotation_jitter)) if shape != "circle" else 0.0
            objects.append({"shape": shape, "colour": colour, "rgb": rgb, "size": size,
                            "r": round(float(r), 4), "x": round(float(x), 4), "y": round(float(y), 4),
                            "angle": round(angle, 2), "position": _region(x, y),
                            "heldout": (shape, colour) in held})
        if len(objects) < n:
            continue
        bg1 = pick(rng, ok)
        gradient = len(ok) > 1 and rng.random() < cfg.gradient_prob
        bg2 = pick(rng, [b for b in ok if b != bg1]) if gradient else bg1
        texture = pick(rng, ["stripes", "speckles"]) if rng.random() < cfg.texture_prob else "none"
        relations = [{"a": i, "b": j, "relation": _relation(objects[i], objects[j])}
                     for i in range(n) for j in range(i + 1, n)]
        return {
            "objects": objects, "relations": relations, "image_size": S,
            "background": {"kind": "gradient" if gradient else "plain", "colour": bg1, "colour2": bg2,
                           "direction": pick(rng, ["horizontal", "vertical", "diagonal"]) if gradient else None},
            "texture": {"kind": texture, "angle": round(float(rng.uniform(0, 180)), 1),
                        "period": round(float(rng.uniform(4, 12)), 2)},
            "noise_std": cfg.noise_std, "noise_seed": int(rng.integers(2**31)),
        }
    raise RuntimeError("could not place the objects of a scene in 100 tries; use fewer or smaller objects")


# ---- drawing -------------------------------------------------------------------------------------
def shape_polygon(shape: str, cx: float, cy: float, r: float, angle: float = 0.0) -> list[tuple[float, float]]:
    """Vertices of ``shape`` inscribed in the circle (cx, cy, r), rotated by ``angle`` degrees."""
    t = lambda k, n, off=-90.0: np.deg2rad(off + 360.0 * np.arange(k) / n)  # noqa: E731
    if shape == "square":
        a = t(4, 4, 45.0); pts = np.c_[np.cos(a), np.sin(a)]
    elif shape == "triangle":
        a = t(3, 3); pts = np.c_[np.cos(a), np.sin(a)]
        pts[:, 1] += 0.2  # centre the triangle's area in its circle
    elif shape == "star":
        a = t(10, 10); rad = np.where(np.arange(10) % 2 == 0, 1.0, 0.45); pts = np.c_[rad * np.cos(a), rad * np.sin(a)]
    elif shape == "diamond":
        pts = np.array([[0, -1], [0.62, 0], [0, 1], [-0.62, 0]], dtype=float)
    elif shape == "hexagon":
        a = t(6, 6, 0.0); pts = np.c_[np.cos(a), np.sin(a)]
    elif shape == "cross":
        w, L = 0.32, 0.94
        pts = np.array([[-w, -L], [w, -L], [w, -w], [L, -w], [L, w], [w, w], [w, L], [-w, L], [-w, w],
                        [-L, w], [-L, -w], [-w, -w]])
    elif shape == "heart":
        s = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        pts = np.c_[16 * np.sin(s) ** 3, -(13 * np.cos(s) - 5 * np.cos(2 * s) - 2 * np.cos(3 * s) - np.cos(4 * s))]
        pts = (pts - [0, 1.5]) / 17.0
    elif shape == "circle":
        a = t(64, 64); pts = np.c_[np.cos(a), np.sin(a)]
    else:
        raise ValueError(f"unknown shape {shape!r}; known: {list(SHAPES)}")
    th = np.deg2rad(angle)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    pts = pts @ rot.T * r + [cx, cy]
    return [tuple(p) for p in pts.tolist()]


def _draw_object(draw: ImageDraw.ImageDraw, obj: dict, S: int, fill) -> None:
    cx, cy, r = obj["x"] * S, obj["y"] * S, obj["r"] * S
    if obj["shape"] == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        draw.polygon(shape_polygon(obj["shape"], cx, cy, r, obj["angle"]), fill=fill)


def object_mask(obj: dict, image_size: int) -> np.ndarray:
    """Boolean mask of the pixels one object covers (used to check overlap and to score generated
    images by colour inside a shape). Introduced in chapter 1."""
    im = Image.new("L", (image_size, image_size), 0)
    _draw_object(ImageDraw.Draw(im), obj, image_size, 255)
    return np.asarray(im) > 0


def _background(spec: dict) -> np.ndarray:
    """Background (plain or gradient, with faint stripes or speckles) as float32 [S, S, 3]."""
    S = spec["image_size"]
    bg = spec["background"]
    c1 = np.array(BACKGROUNDS[bg["colour"]], np.float32)
    c2 = np.array(BACKGROUNDS[bg["colour2"]], np.float32)
    ramp = np.linspace(0, 1, S, dtype=np.float32)
    direction = bg["direction"]
    if direction is None:
        w = np.zeros((S, S), np.float32)
    elif direction == "horizontal":
        w = np.broadcast_to(ramp[None, :], (S, S))
    elif direction == "vertical":
        w = np.broadcast_to(ramp[:, None], (S, S))
    else:
        w = (ramp[None, :] + ramp[:, None]) / 2
    img = c1 + (c2 - c1) * w[..., None]
    tex = spec["texture"]
    if tex["kind"] == "stripes":
        th = np.deg2rad(tex["angle"])
        u = (ramp[None, :] * np.cos(th) + ramp[:, None] * np.sin(th)) * 128  # period in 128 px units
        img = img + 14.0 * np.sign(np.sin(2 * np.pi * u / tex["period"]))[..., None]
    elif tex["kind"] == "speckles":  # sparse faint dots
        trng = np.random.default_rng(spec["noise_seed"] + 1)
        dots = (trng.random((S, S), np.float32) < 0.04) * trng.choice(np.float32([-1, 1]), size=(S, S))
        img = img + 35.0 * dots[..., None]
    return img


def render_scene(spec: dict, supersample: int = 2) -> Image.Image:
    """Draw a scene spec as an RGB image of ``spec["image_size"]`` pixels. Introduced in chapter 1."""
    S = spec["image_size"]
    canvas = Image.fromarray(np.clip(_background(spec), 0, 255).astype(np.uint8), "RGB")
    big = S * supersample
    if supersample > 1:  # shapes drawn at k x size and box-filtered down: anti-aliased edges
        canvas = canvas.resize((big, big), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(canvas)
    for obj in spec["objects"]:
        _draw_object(draw, obj, big, tuple(obj["rgb"]))
    if supersample > 1:
        canvas = canvas.resize((S, S), Image.Resampling.BOX)
    if spec["noise_std"] <= 0:
        return canvas
    noise = np.random.default_rng(spec["noise_seed"]).standard_normal((S, S, 3), np.float32) * spec["noise_std"]
    arr = np.asarray(canvas, np.float32) + noise
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")


# ---- captions -------------------------------------------------------------------------------------
def _np(obj: dict, rng: np.random.Generator, size: bool | None = None, colour: bool = True,
        position: bool = False, art: bool = True) -> str:
    """Noun phrase of one object, e.g. "a small red star" or "a star in red"."""
    the = article if art else (lambda p: p)
    if size is None:
        size = rng.random() < 0.35
    shape_w = pick(rng, SHAPE_WORDS[obj["shape"]])
    colour_w = pick(rng, COLOUR_WORDS[obj["colour"]])
    size_w = pick(rng, SIZE_WORDS[obj["size"]]) + " " if size else ""
    if colour and rng.random() < 0.12:
        phrase = the(f"{size_w}{shape_w}") + pick(rng, [f" in {colour_w}", f" coloured {colour_w}"])
    else:
        phrase = the(f"{size_w}{colour_w + ' ' if colour else ''}{shape_w}")
    if position:
        phrase += " " + pick(rng, POSITION_PHRASES[obj["position"]])
    return phrase


def _bg_phrase(spec: dict, rng: np.random.Generator) -> str:
    bg = spec["background"]
    w1 = pick(rng, BACKGROUND_WORDS[bg["colour"]])
    tex = {"stripes": "striped ", "speckles": "speckled "}.get(spec["texture"]["kind"], "")
    tex = tex if rng.random() < 0.5 else ""
    if bg["kind"] == "plain":
        return article(f"{tex}{w1} background")
    w2 = pick(rng, BACKGROUND_WORDS[bg["colour2"]])
    return pick(rng, [f"a {w1} to {w2} gradient", article(f"{tex}background fading from {w1} to {w2}"),
                      f"a {w1} and {w2} background"])


def _ordered(objs: list[dict], rng: np.random.Generator) -> list[dict]:
    return [objs[i] for i in rng.permutation(len(objs))]


def _cap_list(spec, objs, rng):
    text = join_list([_np(o, rng) for o in _ordered(objs, rng)])
    if rng.random() < 0.4:
        text += " " + pick(rng, ["on", "against"]) + " " + _bg_phrase(spec, rng)
    return text


def _cap_count(spec, objs, rng):
    if len(objs) == 1:
        o = objs[0]
        return pick(rng, ["a single ", "just one ", "only one "]) + _np(o, rng, art=False) \
            if rng.random() < 0.6 else f"one {pick(rng, SHAPE_WORDS[o['shape']])} that is {pick(rng, COLOUR_WORDS[o['colour']])}"
    noun = pick(rng, ["shapes", "objects", "figures"])
    lead = pick(rng, [f"{number_word(len(objs))} {noun}: ", f"there are {number_word(len(objs))} {noun}, ",
                      f"a picture of {number_word(len(objs))} {noun}: "])
    return lead + join_list([_np(o, rng) for o in _ordered(objs, rng)])


def _cap_relation(spec, objs, rng):
    if len(objs) < 2:
        return _cap_position(spec, objs, rng)
    rel = spec["relations"][int(rng.integers(len(spec["relations"])))]
    a, b, r = objs[rel["a"]], objs[rel["b"]], rel["relation"]
    if rng.random() < 0.5:
        a, b, r = b, a, INVERSE[r]
    text = f"{_np(a, rng)} {pick(rng, RELATION_WORDS[r])} {_np(b, rng)}"
    if rng.random() < 0.3:
        text = "there is " + text
    others = [o for o in objs if o is not a and o is not b]
    if others and rng.random() < 0.5:
        text += pick(rng, [" and ", ", with "]) + _np(others[0], rng, position=rng.random() < 0.5)
    return text


def _cap_position(spec, objs, rng):
    chosen = _ordered(objs, rng)
    if len(chosen) == 3 and rng.random() < 0.4:
        chosen = chosen[:2]  # partial: one object left out
    return join_list([_np(o, rng, position=True) for o in chosen])


def _cap_partial(spec, objs, rng):
    kind = rng.random()
    if kind < 0.45 or len(objs) == 1:
        o = pick(rng, objs)
        text = pick(rng, ["an image with ", "a picture containing ", "there is ", ""]) + _np(o, rng)
        if len(objs) > 1 and rng.random() < 0.5:
            text += pick(rng, [" among other shapes", " and some other shapes", " with other things around"])
        elif rng.random() < 0.5:
            text += " on " + _bg_phrase(spec, rng)
        return text
    if kind < 0.75:  # colours only
        cols = [pick(rng, COLOUR_WORDS[o["colour"]]) for o in _ordered(objs, rng)]
        return f"{join_list(cols)} shapes on {_bg_phrase(spec, rng)}"
    shapes = [article(pick(rng, SHAPE_WORDS[o["shape"]])) for o in _ordered(objs, rng)]  # shapes only
    return join_list(shapes) + pick(rng, ["", " in different colours", " of various colours"])


def _cap_background_first(spec, objs, rng):
    return pick(rng, [f"{_bg_phrase(spec, rng)} with ", f"on {_bg_phrase(spec, rng)}, "]) + \
        join_list([_np(o, rng) for o in _ordered(objs, rng)])


def _cap_sizes(spec, objs, rng):
    ranked = sorted(objs, key=lambda o: -o["r"])
    if len(objs) > 1 and rng.random() < 0.5:
        rest = join_list([_np(o, rng, size=False) for o in ranked[1:]])
        return f"the {pick(rng, ['largest', 'biggest'])} shape is {_np(ranked[0], rng, size=False)}, there is also {rest}"
    return join_list([_np(o, rng, size=True) for o in _ordered(objs, rng)])


def _cap_left_to_right(spec, objs, rng):
    if len(objs) == 1:
        return _np(objs[0], rng, position=True)
    if rng.random() < 0.5:
        return "from left to right: " + join_list([_np(o, rng) for o in sorted(objs, key=lambda o: o["x"])])
    return "from top to bottom: " + join_list([_np(o, rng) for o in sorted(objs, key=lambda o: o["y"])])


COMPLETE = [_cap_list, _cap_count, _cap_background_first, _cap_sizes, _cap_left_to_right]
FAMILIES = COMPLETE + [_cap_relation, _cap_position, _cap_partial]


def scene_captions(spec: dict, rng: np.random.Generator, k: int = 5) -> list[str]:
    """``k`` different captions of a scene. The first names every object's colour and shape; the
    others vary wording, order and detail (some leave objects out). Introduced in chapter 1."""
    objs = spec["objects"]
    first = COMPLETE[int(rng.integers(len(COMPLETE)))]
    rest = [FAMILIES[i] for i in rng.permutation(len(FAMILIES)) if FAMILIES[i] is not first]
    caps = [sentence(first(spec, objs, rng), rng)] + [sentence(f(spec, objs, rng), rng) for f in rest[: k - 1]]
    tries = 0
    while len(distinct(caps, k)) < k and tries < 50:
        caps.append(sentence(pick(rng, FAMILIES)(spec, objs, rng), rng))
        tries += 1
    return distinct(caps, k)


def canonical_caption(spec: dict) -> str:
    """One fixed description of a scene, no randomness (e.g. a prompt or a plot title)."""
    objs = sorted(spec["objects"], key=lambda o: o["x"])
    parts = [article(f"{o['size']} {o['colour']} {o['shape']}") + f" {POSITION_PHRASES[o['position']][0]}" for o in objs]
    return sentence(join_list(parts) + f" on a {spec['background']['colour']} background")


# ---- the dataset --------------------------------------------------------------------------------
def make_item(cfg: ScenesConfig, split: str, index: int) -> tuple[Item, bytes]:
    """Spec, captions and PNG bytes of one item; depends only on (cfg, split, index)."""
    rng = item_rng(cfg.seed, split, index)
    spec = sample_scene(rng, cfg, compositional=(split == "compositional"))
    caps = scene_captions(spec, rng, cfg.n_captions)
    buf = io.BytesIO()
    render_scene(spec, cfg.supersample).save(buf, format="PNG", optimize=False, compress_level=1)
    main = max(spec["objects"], key=lambda o: o["r"])
    iid = f"{split}-{index:05d}"
    item = Item(id=iid, split=split, captions=caps, image=f"images/{iid}.png",
                label=f"{main['colour']} {main['shape']}", meta=spec)
    return item, buf.getvalue()


def _generate(cfg: ScenesConfig, root: Path, workers: int | None = None) -> list[Item]:
    def one(task: tuple[str, int]) -> Item:
        item, png = make_item(cfg, *task)
        write_atomic(root / item.image, png)
        return item

    tasks = [(s, i) for s in ("train", "val", "test", "compositional") for i in range(getattr(cfg, f"n_{s}"))]
    return thread_map(one, tasks, workers)


def build(root: str | Path | None = None, seed: int = 0, workers: int | None = None, **sizes) -> PairedDataset:
    """Generate the scenes dataset into ``root`` on first use, load it afterwards.

    ``sizes`` are :class:`ScenesConfig` fields (``n_train=2000, n_val=250, n_test=500,
    n_compositional=250``, ``image_size=128`` and the difficulty knobs); ``workers`` threads draw
    the images (the result does not depend on it). Introduced in chapter 1.
    """
    cfg = make_config(ScenesConfig, seed=seed, **sizes)
    info = {"heldout_combinations": [list(c) for c in heldout_combinations(cfg)],
            "shapes": list(cfg.shapes), "colours": list(cfg.colours), "image_size": cfg.image_size}
    return build_or_load(NAME, cfg, root, lambda r: _generate(cfg, r, workers), media="images",
                         info=info, version=VERSION)
