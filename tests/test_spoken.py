"""The espeak-ng spoken-caption dataset: WAV format, determinism, duration, the missing-tool error."""

import shutil
import time

import numpy as np
import pytest

from fusemix_lite.data import spoken
from fusemix_lite.data.sounds import read_wav
from fusemix_lite.errors import MissingDataError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng)")
SMALL = dict(n_train=6, n_val=2, n_test=2)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return spoken.build(tmp_path_factory.mktemp("spoken"), seed=0, **SMALL)


def test_missing_espeak_gives_an_install_hint(tmp_path, monkeypatch):
    monkeypatch.setattr(spoken, "ESPEAK", "espeak-ng-is-not-installed-here")
    with pytest.raises(MissingDataError, match=r"apt-get install espeak-ng") as e:
        spoken.build(tmp_path, **SMALL)
    assert "chapters 7-8" in str(e.value)
    with pytest.raises(MissingDataError, match="espeak-ng"):
        spoken.speak("a red circle", tmp_path / "x.wav")
    assert not (tmp_path / "manifest.jsonl").exists()


def test_defaults():
    cfg = spoken.SpokenConfig()
    assert (cfg.n_train, cfg.n_val, cfg.n_test, cfg.sample_rate) == (800, 100, 200, 16000)


@needs_espeak
def test_wavs_are_16k_mono_short_and_not_silent(small):
    assert small.splits == ["train", "val", "test"] and len(small) == 10
    for it in small:
        x, sr = read_wav(small.path(it.audio))
        assert sr == 16000 and x.ndim == 1
        assert 0.8 < len(x) / sr < 6.0, (it.captions[0], len(x) / sr)
        assert np.sqrt(np.mean(x ** 2)) > 0.01
        assert it.captions == [it.meta["text"]] and it.meta["voice"].split("+")[0] in spoken.ACCENTS


@needs_espeak
def test_same_seed_same_bytes_other_seed_differs(small, tmp_path):
    again = spoken.build(tmp_path / "a", seed=0, **SMALL, workers=1)
    assert again.manifest_hash() == small.manifest_hash()
    for a, b in zip(again, small):
        assert again.path(a.audio).read_bytes() == small.path(b.audio).read_bytes()
    other = spoken.build(tmp_path / "b", seed=1, **SMALL)
    assert other.manifest_hash() != small.manifest_hash()


@needs_espeak
def test_duration_grows_with_text_length(tmp_path):
    texts = ["a red star", "a small red star above a blue square",
             "a small red star above a big blue square, and a green heart in the bottom left corner"]
    durs = []
    for i, t in enumerate(texts):
        x, sr = read_wav(spoken.speak(t, tmp_path / f"{i}.wav", voice="en-gb+f3", speed=160, pitch=50))
        durs.append(len(x) / sr)
    assert durs[0] < durs[1] < durs[2]
    per_char = [d / len(t) for d, t in zip(durs, texts)]
    assert max(per_char) / min(per_char) < 2.5  # roughly proportional (plus a fixed pause)
    fast, _ = read_wav(spoken.speak(texts[1], tmp_path / "fast.wav", voice="en-gb+f3", speed=260))
    assert len(fast) / 16000 < durs[1]


@needs_espeak
def test_speak_is_deterministic_and_checks_its_input(tmp_path):
    a = spoken.speak("- a caption that starts with a dash", tmp_path / "a.wav", voice="en-us+m3").read_bytes()
    b = spoken.speak("- a caption that starts with a dash", tmp_path / "b.wav", voice="en-us+m3").read_bytes()
    assert a == b
    with pytest.raises(ValueError, match="non-empty"):
        spoken.speak("  ", tmp_path / "c.wav")
    with pytest.raises(ValueError, match="speed"):
        spoken.speak("hello", tmp_path / "c.wav", speed=5)
    with pytest.raises(ValueError, match="no voice 'no-such-voice'"):
        spoken.speak("hello", tmp_path / "c.wav", voice="no-such-voice")
    with pytest.raises(ValueError, match="variant"):
        spoken.speak("hello", tmp_path / "c.wav", voice="en-us+nobody")
    for voice in ("en-gb", "en-gb-x-rp+f5", "en-us-nyc+m7", "gmw/en-us"):
        spoken._check_voice(voice)


@needs_espeak
def test_second_build_loads_instead_of_regenerating(small):
    t = time.perf_counter()
    again = spoken.build(small.root, seed=0, **SMALL)
    assert time.perf_counter() - t < 1.0 and again.manifest_hash() == small.manifest_hash()


@needs_espeak
def test_paraphrases_of_the_same_scene(tmp_path):
    ds = spoken.build(tmp_path, n_train=3, n_val=0, n_test=0, n_captions=3)
    for it in ds:
        assert len(it.captions) == 3 and it.captions[0] == it.meta["text"]


def test_scene_overrides_choose_the_described_scenes():
    from fusemix_lite.data import scenes

    cfg = spoken.SpokenConfig(scene=scenes.PICTURE_BOOK)
    rng = np.random.default_rng(0)
    utts = [spoken.sample_utterance(rng, cfg) for _ in range(30)]
    assert all(len(u["scene"]["objects"]) == 1 for u in utts)
    assert {u["scene"]["objects"][0]["shape"] for u in utts} <= set(scenes.SHAPES[:4])
    assert spoken.SpokenConfig().scene_config().max_objects == 2          # default: the chapter 7 scenes
    with pytest.raises(ValueError, match=r"unknown ScenesConfig field\(s\) \['bogus'\]"):
        spoken.SpokenConfig(scene={"bogus": 1})
    with pytest.raises(ValueError, match="size_scale"):
        spoken.SpokenConfig(scene={"size_scale": 9.0})
    with pytest.raises(ValueError, match="unknown ScenesConfig"):
        spoken.SpokenConfig(scene={"n_train": 5})                        # sizes are the spoken set's own
