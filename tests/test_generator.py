"""The offline generator (rectified flow + CFG), the attribute scorer, and the unCLIP wiring."""

import importlib.util
import sys
import time

import pytest
import torch
from PIL import Image

from fusemix_lite.attributes import (AttributeConfig, encode_labels, load_attribute_classifier, palette_colour,
                                     predict, save_attribute_classifier, scene_labels, score,
                                     train_attribute_classifier)
from fusemix_lite.generator import (GeneratorConfig, cached_generator, condition_aligner, load_generator, sample,
                                   save_generator, train_generator)

PALETTE = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 210, 40)}
BG = (200, 200, 200)


pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread is faster


def _blobs(n, size=16, seed=0):
    """One flat square or disc of one of four colours at a random place on grey. Images in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    colour = torch.randint(0, 4, (n,), generator=g)
    shape = torch.randint(0, 2, (n,), generator=g)  # 0 square, 1 disc
    r = size // 4
    cx = torch.randint(r, size - r, (n,), generator=g)
    cy = torch.randint(r, size - r, (n,), generator=g)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    pal = torch.tensor(list(PALETTE.values()), dtype=torch.float32) / 255
    imgs = torch.tensor(BG, dtype=torch.float32)[None, :, None, None].repeat(n, 1, size, size) / 255
    for i in range(n):
        dx, dy = (xx - cx[i]).abs(), (yy - cy[i]).abs()
        mask = (dx <= r) & (dy <= r) if shape[i] == 0 else (dx**2 + dy**2 <= r**2)
        imgs[i][:, mask] = pal[colour[i]][:, None]
    return imgs, colour, shape


def _cond(colour, shape, dim=12):
    """A fixed 'caption embedding': one-hot colour and shape, zero-padded to ``dim``."""
    c = torch.zeros(len(colour), dim)
    c[torch.arange(len(colour)), colour] = 1.0
    c[torch.arange(len(colour)), 4 + shape] = 1.0
    return c


@pytest.fixture(scope="module")
def trained():
    imgs, colour, shape = _blobs(96)
    cfg = GeneratorConfig.tiny(cond_dim=12, steps=60, seed=0)
    model, hist = train_generator(imgs * 2 - 1, _cond(colour, shape), cfg, progress=False)
    return model, hist, cfg


# ---- generator --------------------------------------------------------------------------------


def test_loss_falls_and_history(trained):
    model, hist, cfg = trained
    assert hist[-1]["step"] == cfg.steps
    assert {"step", "loss", "lr", "seconds"} <= set(hist[0])
    assert hist[-1]["loss"] < 0.85 * hist[0]["loss"]  # ~ 1 + E[x^2] at the start (zero-initialised head)
    assert not model.training


def test_sample_shape_range_determinism(trained):
    model, _, cfg = trained
    c = _cond(torch.tensor([0, 2, 1]), torch.tensor([0, 1, 1]))
    a = sample(model, c, steps=4, guidance=2.0, seed=3)
    b = sample(model, c, steps=4, guidance=2.0, seed=3)
    assert a.shape == (3, 3, cfg.image_size, cfg.image_size)
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.equal(a, sample(model, c, steps=4, guidance=2.0, seed=4))


def test_conditioning_changes_the_sample(trained):
    model, _, _ = trained
    red = _cond(torch.tensor([0]), torch.tensor([0]))
    blue = _cond(torch.tensor([2]), torch.tensor([0]))
    a = sample(model, red, steps=4, guidance=3.0, seed=0)
    b = sample(model, blue, steps=4, guidance=3.0, seed=0)
    assert (a - b).abs().mean() > 1e-3
    # guidance 0 ignores the condition entirely
    assert torch.allclose(sample(model, red, steps=4, guidance=0.0, seed=0),
                          sample(model, blue, steps=4, guidance=0.0, seed=0))


def test_training_is_deterministic():
    imgs, colour, shape = _blobs(32, size=8)
    cfg = GeneratorConfig.tiny(image_size=8, cond_dim=12, steps=5)
    m1, h1 = train_generator(imgs * 2 - 1, _cond(colour, shape), cfg, progress=False)
    m2, h2 = train_generator(imgs * 2 - 1, _cond(colour, shape), cfg, progress=False)
    assert [r["loss"] for r in h1] == [r["loss"] for r in h2]
    for (k, v), (_, w) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(v, w), k


def test_checkpoint_round_trip(trained, tmp_path):
    model, _, _ = trained
    save_generator(model, tmp_path / "gen", extra={"text_encoder": "minilm-l6"})
    loaded, extra = load_generator(tmp_path / "gen")
    assert extra == {"text_encoder": "minilm-l6"}
    assert loaded.cfg == model.cfg
    c = _cond(torch.tensor([1, 3]), torch.tensor([1, 0]))
    assert torch.equal(sample(model, c, steps=3, seed=1), sample(loaded, c, steps=3, seed=1))
    assert not list(tmp_path.glob("gen/*.tmp"))
    with pytest.raises(FileNotFoundError, match="generator.safetensors"):
        (tmp_path / "gen" / "generator.safetensors").unlink()
        load_generator(tmp_path / "gen")


def test_bad_input_is_refused(trained):
    model, _, cfg = trained
    imgs, colour, shape = _blobs(8)
    good = _cond(colour, shape)
    with pytest.raises(ValueError, match=r"cond must have shape \[N, 12\]"):
        train_generator(imgs * 2 - 1, torch.zeros(8, 7), cfg, progress=False)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        train_generator(imgs * 255, good, cfg, progress=False)
    with pytest.raises(ValueError, match="shape"):
        train_generator(imgs[:, :1] * 2 - 1, good, cfg, progress=False)
    with pytest.raises(ValueError, match="image_size=16"):
        train_generator(torch.zeros(8, 3, 32, 32), good, cfg, progress=False)
    with pytest.raises(ValueError, match="8 images but 5"):
        train_generator(imgs * 2 - 1, good[:5], cfg, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        train_generator(imgs * 2 - 1, good * float("nan"), cfg, progress=False)
    with pytest.raises(ValueError, match=r"cond must have shape \[N, 12\]"):
        sample(model, torch.zeros(2, 384))
    with pytest.raises(ValueError, match="steps"):
        sample(model, good[:1], steps=0)
    with pytest.raises(ValueError, match="multiple of"):
        GeneratorConfig(image_size=30)
    with pytest.raises(ValueError, match="patch"):
        GeneratorConfig(patch=3)
    with pytest.raises(ValueError, match="cond_dropout"):
        GeneratorConfig(cond_dropout=1.0)


def test_cached_generator_trains_once_per_config_and_data(tmp_path):
    imgs, colour, shape = _blobs(24, size=8)
    x, c = imgs * 2 - 1, _cond(colour, shape)
    cfg = GeneratorConfig.tiny(image_size=8, cond_dim=12, steps=3)
    m1, h1, f1, hit1 = cached_generator(x, c, cfg, tmp_path, extra={"text_encoder": "t"}, progress=False)
    m2, h2, f2, hit2 = cached_generator(x, c, cfg, tmp_path, extra={"text_encoder": "t"}, progress=False)
    assert (hit1, hit2) == (False, True) and f1 == f2 and h1 == h2
    assert all(torch.equal(v, w) for v, w in zip(m1.state_dict().values(), m2.state_dict().values()))
    _, _, f3, hit3 = cached_generator(x, c, GeneratorConfig.tiny(image_size=8, cond_dim=12, steps=4), tmp_path,
                                      extra={"text_encoder": "t"}, progress=False)
    _, _, f4, hit4 = cached_generator(x, c.flip(0), cfg, tmp_path, extra={"text_encoder": "t"}, progress=False)
    assert not hit3 and not hit4 and len({f1, f3, f4}) == 3


def test_condition_aligner_keeps_the_conditioning_space(trained):
    model, _, _ = trained
    aligner = condition_aligner(in_dim=20, cond_dim=12)
    y = _cond(torch.tensor([0, 2, 3]), torch.tensor([1, 0, 1])) + 0.05 * torch.randn(3, 12)
    # the frozen text side is the conditioning space itself: the generator sees no difference
    assert torch.allclose(sample(model, y, steps=3, seed=0), sample(model, aligner.encode_b(y), steps=3, seed=0), atol=1e-4)
    assert all(not p.requires_grad for p in aligner.adapter_b.parameters())
    assert all(p.requires_grad for p in aligner.adapter_a.parameters())
    assert aligner.encode_a(torch.randn(5, 20)).shape == (5, 12)
    clip_like = condition_aligner(in_dim=20, cond_dim=12, standardise=False)
    assert torch.allclose(clip_like.encode_b(y), torch.nn.functional.normalize(y, dim=1), atol=1e-6)
    with pytest.raises(ValueError, match="in_dim and cond_dim"):
        condition_aligner(0, 12)


def test_condition_aligner_seed_fixes_the_initial_weights():
    """Paired seeds need seeded initial weights: the same seed gives the same side a whatever the
    global RNG did in between (chapter 8b trains one aligner per seed), and leaves that RNG alone."""
    def weights(m):
        return [p.detach().clone() for p in m.adapter_a.parameters()]

    torch.manual_seed(1)
    a = weights(condition_aligner(20, 12, width=16, seed=3))
    torch.randn(100)                                   # the global RNG moves on...
    state = torch.random.get_rng_state()
    b = weights(condition_aligner(20, 12, width=16, seed=3))
    assert torch.equal(torch.random.get_rng_state(), state)   # ...and a seeded build does not move it
    c = weights(condition_aligner(20, 12, width=16, seed=4))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))
    # without a seed: the global RNG decides, as for nn.Linear
    torch.manual_seed(5)
    d = weights(condition_aligner(20, 12, width=16))
    torch.manual_seed(5)
    assert all(torch.equal(x, y) for x, y in zip(d, weights(condition_aligner(20, 12, width=16))))

# ---- attribute scorer -------------------------------------------------------------------------


def test_attribute_classifier_above_chance_on_held_out(tmp_path):
    imgs, colour, shape = _blobs(480, seed=1)
    labels = {"colour": colour, "shape": shape}
    classes = {"colour": list(PALETTE), "shape": ["square", "circle"]}
    cfg = AttributeConfig(image_size=16, channels=8, epochs=6, batch_size=32)
    tr, te = slice(0, 400), slice(400, 480)
    model, hist = train_attribute_classifier(imgs[tr], {k: v[tr] for k, v in labels.items()}, classes, cfg)
    acc = score(model, imgs[te], {k: v[te] for k, v in labels.items()})
    assert acc["colour"] > 0.6 and acc["shape"] > 0.65, acc  # chance: 0.25 and 0.5
    assert acc["all"] <= min(acc["colour"], acc["shape"])
    assert len(hist) == cfg.epochs and "train_acc_colour" in hist[-1]
    # deterministic per seed, and the checkpoint reproduces the predictions
    again, _ = train_attribute_classifier(imgs[tr], {k: v[tr] for k, v in labels.items()}, classes, cfg)
    assert all(torch.equal(a, b) for a, b in zip(predict(model, imgs[te]).values(), predict(again, imgs[te]).values()))
    save_attribute_classifier(model, tmp_path / "attr")
    loaded = load_attribute_classifier(tmp_path / "attr")
    assert loaded.classes == model.classes
    assert torch.equal(predict(loaded, imgs[te])["colour"], predict(model, imgs[te])["colour"])


def test_attribute_bad_input():
    imgs, colour, shape = _blobs(8)
    cfg = AttributeConfig(image_size=16, channels=8, epochs=1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_attribute_classifier(imgs * 2 - 1, {"colour": colour}, cfg=cfg)
    with pytest.raises(ValueError, match="entries for 8 images"):
        train_attribute_classifier(imgs, {"colour": colour[:3]}, cfg=cfg)
    with pytest.raises(ValueError, match="LongTensor"):
        train_attribute_classifier(imgs, {"colour": colour.float()}, cfg=cfg)
    with pytest.raises(ValueError, match="empty"):
        train_attribute_classifier(imgs, {}, cfg=cfg)
    with pytest.raises(ValueError, match="not among the classes"):
        encode_labels({"colour": ["red", "mauve"]}, classes={"colour": ["red", "blue"]})


def test_palette_colour_reads_flat_shapes():
    imgs, colour, _ = _blobs(40, seed=2)
    idx, names = palette_colour(imgs, PALETTE)
    assert names == list(PALETTE)
    assert torch.equal(idx, colour)


def test_scene_labels_and_encoding():
    metas = [{"objects": [{"shape": "star", "colour": "red", "r": 0.1, "position": "left", "size": "small"},
                          {"shape": "heart", "colour": "blue", "r": 0.2, "position": "top", "size": "large"}]},
             {"objects": [{"shape": "circle", "colour": "red", "r": 0.1, "position": "centre", "size": "medium"}]}]
    lab = scene_labels(metas, ("colour", "shape", "position", "count"))
    assert lab == {"colour": ["blue", "red"], "shape": ["heart", "circle"], "position": ["top", "centre"],
                   "count": ["2", "1"]}
    y, classes = encode_labels(lab)
    assert classes["colour"] == ["blue", "red"] and y["colour"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="unknown scene attributes"):
        scene_labels(metas, ("texture",))
    with pytest.raises(ValueError, match="no 'objects'"):
        scene_labels([{}])


# ---- unCLIP wiring (full profile, run offline on a tiny random pipeline) ------------------------

HAS_DIFFUSERS = importlib.util.find_spec("diffusers") is not None


@pytest.mark.skipif(not HAS_DIFFUSERS, reason="diffusers is optional (pip install diffusers); unCLIP wiring not tested")
def test_unclip_wiring_on_a_tiny_random_pipeline(monkeypatch):
    from fusemix_lite.unclip import (CLIP_TEXT, EmbeddingSpace, embed_dim_of, generate, image_embeds_of, image_space,
                                     rescale, tiny_stable_unclip, typical_norm)

    pipe = tiny_stable_unclip(embed_dim=24, image_size=16, seed=0)
    space = image_space(pipe)
    assert embed_dim_of(pipe) == 24 and (space.kind, space.dim) == ("clip-image", 24)
    assert typical_norm(pipe) == pytest.approx(24 ** 0.5)  # mean 0, std 1 in a fresh normaliser
    seen = []  # what reaches the decoder's image_embeds argument
    call = type(pipe).__call__
    monkeypatch.setattr(type(pipe), "__call__", lambda self, *a, **kw: seen.append(kw) or call(self, *a, **kw))
    aligned = torch.nn.functional.normalize(torch.randn(2, 24, generator=torch.Generator().manual_seed(0)), dim=1)
    a = generate(pipe, aligned, space=space, steps=2, guidance=3.0, seed=0)
    assert a.shape == (2, 3, 16, 16) and a.min() >= 0 and a.max() <= 1
    assert torch.allclose(seen[-1]["image_embeds"], rescale(aligned, typical_norm(pipe)))
    assert torch.equal(a, generate(pipe, aligned, space=space, steps=2, guidance=3.0, seed=0))
    assert not torch.equal(a, generate(pipe, aligned.flip(0), space=space, steps=2, guidance=3.0, seed=0))
    assert torch.allclose(rescale(aligned, 5.0).norm(dim=1), torch.full((2,), 5.0))
    # image_embeds_of gives what the decoder itself reads from an image: the same pictures either way
    pics = torch.rand(2, 3, 20, 20, generator=torch.Generator().manual_seed(1))
    targets = image_embeds_of(pipe, pics)
    assert targets.shape == (2, 24) and targets.dtype == torch.float32
    from_targets = generate(pipe, targets, space=space, steps=2, guidance=3.0, seed=0, norm=None)
    assert torch.equal(seen[-1]["image_embeds"], targets)
    pil = [Image.fromarray((p * 255).round().byte().permute(1, 2, 0).numpy()) for p in pics]
    g = torch.Generator().manual_seed(0)
    from_image = pipe(prompt=["", ""], image=pil, num_inference_steps=2, guidance_scale=3.0, noise_level=0,
                      generator=g, output_type="pt").images.float().clamp(0, 1)
    assert torch.allclose(from_image, from_targets, atol=1e-5)
    # the wrong space is refused, by kind, by model, by width
    with pytest.raises(ValueError, match="reads clip-image embeddings .* got clip-text embeddings"):
        generate(pipe, aligned, space=EmbeddingSpace(CLIP_TEXT, space.model, 24), steps=2)
    with pytest.raises(ValueError, match="another model's space"):
        generate(pipe, aligned, space=image_space(tiny_stable_unclip(embed_dim=24, image_size=16, seed=1)), steps=2)
    with pytest.raises(ValueError, match="expects 24-d image embeddings, got 384-d"):
        generate(pipe, torch.randn(2, 384), space=EmbeddingSpace("clip-image", space.model, 384), steps=2)
    with pytest.raises(TypeError, match="space"):
        generate(pipe, aligned, steps=2)  # the space must be named


@pytest.mark.skipif(not HAS_DIFFUSERS, reason="diffusers is optional (pip install diffusers); unCLIP wiring not tested")
def test_unclip_audio_aligned_to_image_embeddings_trains_and_generates():
    from fusemix_lite.train import TrainConfig, train
    from fusemix_lite.unclip import generate, image_embeds_of, image_space, image_target_pairs, tiny_stable_unclip

    pipe = tiny_stable_unclip(embed_dim=16, image_size=16, seed=0)
    g = torch.Generator().manual_seed(0)
    pics = torch.rand(96, 3, 16, 16, generator=g)
    targets = image_embeds_of(pipe, pics)
    sounds = targets @ torch.randn(16, 40, generator=g) + 0.05 * torch.randn(96, 40, generator=g)  # "audio" latents
    model = condition_aligner(40, 16, width=64, standardise=False)
    tr, va = image_target_pairs(sounds[:80], targets[:80], "train"), image_target_pairs(sounds[80:], targets[80:], "val")
    before = torch.nn.functional.cosine_similarity(model.eval().encode_a(va.items), targets[80:]).mean()
    train(model, tr, va, TrainConfig(epochs=15, batch_size=40, lr=3e-3, warmup_steps=2, seed=0, progress=False))
    with torch.no_grad():
        aligned = model.eval().encode_a(va.items)
    after = torch.nn.functional.cosine_similarity(aligned, targets[80:]).mean()
    assert after > before + 0.2  # the adapter moved the sounds towards their images' embeddings
    assert generate(pipe, aligned[:2], space=image_space(pipe), steps=2, seed=0).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="one image embedding per item"):
        image_target_pairs(sounds, targets[:5])


def test_linear_prior_maps_text_space_to_image_space():
    from fusemix_lite.unclip import CLIP_IMAGE, CLIP_TEXT, EmbeddingSpace, LinearPrior

    src, dst = EmbeddingSpace(CLIP_TEXT, "a CLIP", 8), EmbeddingSpace(CLIP_IMAGE, "a CLIP", 6)
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(8, 6, generator=g), torch.randn(6, generator=g)
    x = torch.randn(200, 8, generator=g)
    y = torch.nn.functional.normalize(x, dim=1) @ w + b  # an exact linear map of the normalised inputs
    prior = LinearPrior.fit(x, y, src, dst, ridge=1e-8)
    assert prior.source == src and prior.target == dst
    assert torch.allclose(prior(3 * x[:5]), y[:5], atol=1e-3)  # the input's scale does not matter
    with pytest.raises(ValueError, match="the prior maps clip-text embeddings of a CLIP"):
        prior(torch.randn(2, 6))
    with pytest.raises(ValueError, match="spaces say 8-d"):
        LinearPrior.fit(torch.randn(4, 5), y[:4], src, dst)


@pytest.mark.skipif(not HAS_DIFFUSERS, reason="diffusers is optional (pip install diffusers); unCLIP wiring not tested")
def test_fit_prior_maps_captions_to_their_images_embeddings(tmp_path):
    from fusemix_lite.data.format import Item, PairedDataset
    from fusemix_lite.encoders.base import Encoder
    from fusemix_lite.store import LatentStore
    from fusemix_lite.unclip import (EmbeddingSpace, fit_prior, generate, image_embeds_of, image_space,
                                     tiny_stable_unclip)

    class ColourWords(Encoder):  # a text encoder that sees only the colour word
        def __init__(self):
            super().__init__("colour-words", "text", 4, {"input": "str"})

        def _weights_identity(self):
            return "none"

        def _build(self):
            return torch.nn.Identity()

        def prepare(self, raw):
            return torch.tensor([float(c in raw.split()) for c in PALETTE]) + 0.01

        def forward(self, batch):
            return self.model(self._to_device(batch))

    (tmp_path / "img").mkdir()
    items = []
    for i in range(12):
        colour = list(PALETTE)[i % 4]
        Image.new("RGB", (20, 20), PALETTE[colour]).save(tmp_path / "img" / f"{i}.png")
        items.append(Item(id=str(i), split="train", captions=[f"a {colour} square", f"{colour} all over"],
                          image=f"img/{i}.png"))
    ds = PairedDataset.from_items("colours", tmp_path, items)
    pipe = tiny_stable_unclip(embed_dim=16, image_size=16, seed=0)
    prior = fit_prior(pipe, ds, ColourWords(), n_items=8, store=LatentStore(tmp_path / "latents"), progress=False)
    assert prior.source == EmbeddingSpace("text", "colour-words", 4) and prior.target == image_space(pipe)
    held_out = image_embeds_of(pipe, [ds.path(it.image) for it in items[8:]])
    predicted = prior(ColourWords().encode([it.captions[0] for it in items[8:]]), space=prior.source)
    assert torch.nn.functional.cosine_similarity(predicted, held_out).min() > 0.99
    assert generate(pipe, predicted[:2], space=prior.target, steps=2).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="the prior maps text embeddings of colour-words"):
        prior(predicted, space=prior.target)


def test_missing_diffusers_names_the_install(monkeypatch):
    from fusemix_lite import unclip

    monkeypatch.setitem(sys.modules, "diffusers", None)  # makes `import diffusers` fail
    with pytest.raises(ImportError, match="pip install diffusers"):
        unclip.require_diffusers()


@pytest.mark.parametrize("env", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_unclip_offline_refuses_a_missing_pipeline_quickly(monkeypatch, tmp_path, env):
    pytest.importorskip("diffusers")
    from fusemix_lite.errors import OfflineError
    from fusemix_lite.unclip import load_unclip

    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(env, "1")  # either variable means offline, as for the encoders
    t0 = time.perf_counter()
    with pytest.raises(OfflineError, match="full profile"):
        load_unclip("stable-unclip-l", device="cpu", cache_dir=str(tmp_path))
    assert time.perf_counter() - t0 < 30


def test_cached_attribute_classifier_trains_once_per_config_and_data(tmp_path):
    from fusemix_lite.attributes import cached_attribute_classifier

    imgs, colour, shape = _blobs(40, seed=2)
    labels = {"colour": colour, "shape": shape}
    classes = {"colour": list(PALETTE), "shape": ["square", "circle"]}
    cfg = AttributeConfig(image_size=16, channels=8, epochs=1, batch_size=16)
    m1, f1, hit1 = cached_attribute_classifier(imgs, labels, classes, cfg, tmp_path)
    m2, f2, hit2 = cached_attribute_classifier(imgs, labels, classes, cfg, tmp_path)
    assert (hit1, hit2) == (False, True) and f1 == f2
    assert all(torch.equal(a, b) for a, b in zip(predict(m1, imgs).values(), predict(m2, imgs).values()))
    # other labels, other config: another judge
    _, f3, hit3 = cached_attribute_classifier(imgs, {"colour": colour.flip(0), "shape": shape}, classes, cfg, tmp_path)
    _, f4, hit4 = cached_attribute_classifier(imgs, labels, classes, AttributeConfig(image_size=16, channels=8,
                                                                                      epochs=2, batch_size=16), tmp_path)
    assert not hit3 and not hit4 and len({f1, f3, f4}) == 3


def test_show_images_draws_one_axis_per_image_and_saves(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from fusemix_lite.notebook import show_images

    import matplotlib.pyplot as plt

    plt.close("all")
    shown = show_images([torch.rand(3, 3, 8, 8), torch.rand(2, 3, 8, 8)], ["a", "b"], ["x", "y", "z"],
                        path=tmp_path / "grid.png")
    assert shown is None  # a cell ending in show_images(...) must not display the figure a second time
    fig = plt.gcf()
    assert len(fig.axes) == 6 and sum(bool(ax.images) for ax in fig.axes) == 5
    assert (tmp_path / "grid.png").stat().st_size > 500
