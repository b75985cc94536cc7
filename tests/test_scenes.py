"""The generated image-text dataset: determinism, compositional split, geometry, captions, cache."""

import io
import itertools
import time

import numpy as np
import pytest
from PIL import Image

from fusemix_lite.data import scenes
from fusemix_lite.data.captions import item_rng
from fusemix_lite.data.format import PairedDataset
from fusemix_lite.data.registry import get_dataset

SMALL = dict(n_train=40, n_val=8, n_test=8, n_compositional=16)


def _files(ds: PairedDataset) -> dict[str, bytes]:
    out = {it.image: ds.path(it.image).read_bytes() for it in ds}
    for name in ("manifest.jsonl", "dataset.json"):
        out[name] = (ds.root / name).read_bytes()
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> PairedDataset:
    return scenes.build(tmp_path_factory.mktemp("scenes"), seed=0, **SMALL)


def _mentions(text: str, words: list[str]) -> bool:
    t = f" {text.lower().rstrip('.')} "
    return any(w in t for w in words)


def test_defaults_and_splits(small):
    cfg = scenes.ScenesConfig()
    assert (cfg.n_train, cfg.n_val, cfg.n_test, cfg.n_compositional, cfg.image_size) == (2000, 250, 500, 250, 128)
    assert small.splits == ["train", "val", "test", "compositional"]
    assert [len(small.split(s)) for s in small.splits] == [40, 8, 8, 16]
    caps, owner = small.captions()
    assert len(caps) == 5 * len(small) and owner.max() == len(small) - 1


def test_same_seed_same_bytes_other_seed_differs(small, tmp_path):
    again = scenes.build(tmp_path / "a", seed=0, **SMALL)
    assert again.manifest_hash() == small.manifest_hash()
    assert _files(again) == _files(small)
    other = scenes.build(tmp_path / "b", seed=1, **SMALL)
    assert other.manifest_hash() != small.manifest_hash()
    assert _files(other)[other.items[0].image] != _files(small)[small.items[0].image]


def test_images_are_png_of_the_requested_size(small, tmp_path):
    im = Image.open(small.path(small.items[0].image))
    assert im.format == "PNG" and im.mode == "RGB" and im.size == (128, 128)
    ds = scenes.build(tmp_path, n_train=3, n_val=0, n_test=0, n_compositional=0, image_size=64)
    assert Image.open(ds.path(ds.items[0].image)).size == (64, 64)


def test_compositional_split_holds_no_training_combination():
    cfg = scenes.ScenesConfig()
    held = set(scenes.heldout_combinations(cfg))
    assert len(held) == cfg.n_shapes
    seen = set()
    for i in range(600):  # specs only (no drawing): cheap, and many more than the built fixture
        spec = scenes.sample_scene(item_rng(0, "train", i), cfg)
        combos = {(o["shape"], o["colour"]) for o in spec["objects"]}
        assert not combos & held, f"training scene {i} contains a held-out combination {combos & held}"
        seen |= combos
    # every shape and every colour still occurs in training: only the combination is new
    assert {s for s, _ in seen} == set(cfg.shapes) and {c for _, c in seen} == set(cfg.colours)
    for i in range(100):
        spec = scenes.sample_scene(item_rng(0, "compositional", i), cfg, compositional=True)
        assert any((o["shape"], o["colour"]) in held for o in spec["objects"])


def test_built_splits_respect_the_holdout(small):
    held = {tuple(c) for c in small.info["heldout_combinations"]}
    for it in small:
        combos = {(o["shape"], o["colour"]) for o in it.meta["objects"]}
        if it.split == "compositional":
            assert combos & held
        else:
            assert not combos & held, it.id


def test_objects_do_not_overlap_and_show_their_colour(small):
    n_multi = 0
    for it in small:
        spec = it.meta
        masks = [scenes.object_mask(o, spec["image_size"]) for o in spec["objects"]]
        for a, b in itertools.combinations(masks, 2):
            assert not (a & b).any(), f"{it.id}: objects overlap"
        n_multi += len(masks) > 1
        img = np.asarray(Image.open(small.path(it.image)), dtype=float)
        for o, m in zip(spec["objects"], masks):
            assert m.sum() > 20, f"{it.id}: object too small to see"
            median = np.median(img[m], axis=0)
            assert np.abs(median - o["rgb"]).max() < 25, f"{it.id}: {o['colour']} {o['shape']} not drawn"
    assert n_multi > len(small) // 3  # most scenes have several objects


def test_spec_has_what_later_chapters_need(small):
    spec = small.items[0].meta
    assert {"objects", "background", "relations", "texture", "image_size"} <= set(spec)
    o = spec["objects"][0]
    assert {"shape", "colour", "rgb", "size", "x", "y", "r", "position"} <= set(o)
    assert o["position"] in scenes.POSITIONS and o["size"] in scenes.SIZES


def test_captions_are_distinct_and_mention_the_attributes(small):
    for it in small:
        assert len(it.captions) == 5 and len({c.lower().rstrip(".") for c in it.captions}) == 5
        assert all(c.strip() and c[0].isupper() for c in it.captions)
        for o in it.meta["objects"]:  # the first caption names every object's colour and shape
            colour_words, shape_words = scenes.COLOUR_WORDS[o["colour"]], scenes.SHAPE_WORDS[o["shape"]]
            assert _mentions(it.captions[0], colour_words), (it.captions[0], o["colour"])
            assert _mentions(it.captions[0], shape_words), (it.captions[0], o["shape"])
        for c in it.captions:  # every caption names at least one attribute of the scene
            words = [w for o in it.meta["objects"] for w in scenes.COLOUR_WORDS[o["colour"]] + scenes.SHAPE_WORDS[o["shape"]]]
            assert _mentions(c, words), c


def test_captions_vary_their_wording(small):
    caps, _ = small.captions()
    first_words = {c.split()[0].lower() for c in caps}
    assert len(first_words) >= 8
    assert any("left of" in c or "above" in c or "below" in c or "right of" in c for c in caps)


def test_second_build_loads_instead_of_regenerating(small):
    mtime = small.path(small.items[0].image).stat().st_mtime_ns
    t = time.perf_counter()
    again = scenes.build(small.root, seed=0, **SMALL)
    assert time.perf_counter() - t < 1.0
    assert again.manifest_hash() == small.manifest_hash()
    assert small.path(small.items[0].image).stat().st_mtime_ns == mtime


def test_other_config_in_same_root_regenerates_without_stale_files(tmp_path):
    a = scenes.build(tmp_path, n_train=6, n_val=0, n_test=0, n_compositional=0)
    b = scenes.build(tmp_path, n_train=3, n_val=0, n_test=0, n_compositional=0)
    assert len(b) == 3 and a.manifest_hash() != b.manifest_hash()
    assert len(list((tmp_path / "images").iterdir())) == 3


def test_default_root_and_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSEMIX_HOME", str(tmp_path))
    ds = get_dataset("scenes", n_train=2, n_val=1, n_test=1, n_compositional=1)
    assert ds.root.parent == tmp_path / "data" and ds.root.name.startswith("scenes-")
    assert PairedDataset.load(ds.root).manifest_hash() == ds.manifest_hash()


@pytest.mark.parametrize("bad", [dict(n_train=-1), dict(image_size=8), dict(max_objects=5),
                                 dict(n_colours=99), dict(colour="red")])
def test_bad_parameters_raise_clear_errors(tmp_path, bad):
    with pytest.raises(ValueError, match="n_train|image_size|max_objects|n_colours|unknown parameter"):
        scenes.build(tmp_path, **bad)


def test_render_is_a_pure_function_of_the_spec(small):
    spec = small.items[3].meta
    buf = io.BytesIO()
    scenes.render_scene(spec).save(buf, format="PNG", compress_level=1)
    assert np.array_equal(np.asarray(Image.open(buf)), np.asarray(Image.open(small.path(small.items[3].image))))
    assert scenes.canonical_caption(spec)


def test_size_scale_scales_every_radius_and_is_checked():
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    base = scenes.sample_scene(rng_a, scenes.ScenesConfig(max_objects=1))
    big = scenes.sample_scene(rng_b, scenes.ScenesConfig(max_objects=1, size_scale=1.5))
    (o,), (b,) = base["objects"], big["objects"]
    assert (o["shape"], o["colour"], o["size"]) == (b["shape"], b["colour"], b["size"])
    assert b["r"] == pytest.approx(1.5 * o["r"], abs=1e-3)
    for bad in (0.2, 3.0):
        with pytest.raises(ValueError, match="size_scale"):
            scenes.ScenesConfig(size_scale=bad)


def test_position_spread_pulls_objects_to_the_centre_and_is_checked():
    rng_a, rng_b, rng_c = (np.random.default_rng(3) for _ in range(3))
    default = [scenes.sample_scene(rng_a, scenes.ScenesConfig(max_objects=1)) for _ in range(40)]
    full = [scenes.sample_scene(rng_b, scenes.ScenesConfig(max_objects=1, position_spread=1.0)) for _ in range(40)]
    near = [scenes.sample_scene(rng_c, scenes.ScenesConfig(max_objects=1, position_spread=0.2)) for _ in range(40)]
    assert default == full  # 1.0 is the default: the same scenes as before the knob existed
    for d, n in zip(default, near):
        (o,), (c,) = d["objects"], n["objects"]
        assert (o["shape"], o["colour"], o["r"]) == (c["shape"], c["colour"], c["r"])
        for k in ("x", "y"):  # the same draw, scaled towards 0.5
            assert c[k] == pytest.approx(0.5 + 0.2 * (o[k] - 0.5), abs=2e-4)
    assert max(abs(o["objects"][0][k] - 0.5) for o in default for k in "xy") > 0.25
    assert all(abs(o["objects"][0][k] - 0.5) <= 0.1 for o in near for k in "xy")
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="position_spread"):
            scenes.ScenesConfig(position_spread=bad)


def test_picture_book_scenes_are_one_large_object_near_the_centre_of_a_plain_background():
    cfg = scenes.ScenesConfig(**scenes.PICTURE_BOOK)
    rng = np.random.default_rng(0)
    specs = [scenes.sample_scene(rng, cfg) for _ in range(60)]
    assert all(len(s["objects"]) == 1 for s in specs)
    assert all(s["objects"][0]["position"] == "centre" for s in specs)
    assert {s["objects"][0]["size"] for s in specs} == set(scenes.SIZES)
    assert {s["objects"][0]["shape"] for s in specs} == set(scenes.SHAPES[:4])
    assert {s["objects"][0]["colour"] for s in specs} <= set(list(scenes.COLOURS)[:6])
    assert all(s["background"]["kind"] == "plain" and s["texture"]["kind"] == "none" for s in specs)
    smallest = min(s["objects"][0]["r"] for s in specs)
    assert smallest >= 1.6 * scenes.SIZES["small"] * (1 - cfg.size_jitter) - 1e-3
