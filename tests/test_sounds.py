"""The synthesised sounds dataset: determinism, the audio matches its caption, cache."""

import time

import numpy as np
import pytest

from fusemix_lite.data import sounds
from fusemix_lite.data.captions import number_word
from fusemix_lite.data.format import PairedDataset

SMALL = dict(n_train=40, n_val=6, n_test=6)
SR = 16000


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> PairedDataset:
    return sounds.build(tmp_path_factory.mktemp("sounds"), seed=0, **SMALL)


def _files(ds):
    out = {it.audio: ds.path(it.audio).read_bytes() for it in ds}
    out["manifest.jsonl"] = (ds.root / "manifest.jsonl").read_bytes()
    return out


def dominant_freq(x: np.ndarray, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[spec.argmax()])


def bursts(x: np.ndarray, sr: int = SR, frame: float = 0.005) -> int:
    """Number of separate stretches where the 5 ms frame RMS exceeds a quarter of its maximum."""
    n = int(frame * sr)
    rms = np.sqrt(np.mean(x[: len(x) // n * n].reshape(-1, n) ** 2, axis=1))
    on = (rms > 0.25 * rms.max()).astype(int)
    return int(on[0] + np.sum(np.diff(on) == 1))


def test_defaults_and_splits(small):
    cfg = sounds.SoundsConfig()
    assert (cfg.n_train, cfg.n_val, cfg.n_test, cfg.sample_rate) == (1200, 150, 300, 16000)
    assert small.splits == ["train", "val", "test"] and len(small) == 52


def test_same_seed_same_bytes_other_seed_differs(small, tmp_path):
    again = sounds.build(tmp_path / "a", seed=0, **SMALL)
    assert again.manifest_hash() == small.manifest_hash() and _files(again) == _files(small)
    other = sounds.build(tmp_path / "b", seed=1, **SMALL)
    assert other.manifest_hash() != small.manifest_hash()
    assert _files(other)[other.items[0].audio] != _files(small)[small.items[0].audio]


def test_wavs_are_16k_mono_1_to_4_s_and_not_silent(small):
    kinds = set()
    for it in small:
        x, sr = sounds.read_wav(small.path(it.audio))
        assert sr == SR and x.ndim == 1
        assert 1.0 <= len(x) / sr <= 4.0 + 1e-6, (it.id, len(x) / sr)
        assert np.abs(x).max() > 0.1 and np.abs(x).max() <= 1.0
        assert abs(it.meta["duration"] - len(x) / sr) < 1e-3
        kinds.add(it.label)
    assert kinds == set(sounds.KINDS)


def test_wav_on_disk_is_the_synthesised_clip(small):
    it = small.items[0]
    x, _ = sounds.read_wav(small.path(it.audio))
    assert np.abs(x - sounds.synthesize(it.meta)).max() < 1e-4


def test_high_tone_is_higher_than_low_tone():
    rng = np.random.default_rng(0)
    for timbre in sounds.TIMBRES:
        f = {}
        for pitch in ("low", "high"):
            seg = {**sounds.sample_segment(rng, "tone"), "pitch": pitch, "timbre": timbre, "envelope": "steady"}
            seg["freq"] = float(np.sqrt(np.prod(sounds.PITCHES[pitch])))
            f[pitch] = dominant_freq(sounds.synthesize_segment(seg, SR))
            assert abs(f[pitch] - seg["freq"]) < 0.05 * seg["freq"], (timbre, pitch, f[pitch])
        assert f["high"] > 4 * f["low"]


def test_tone_items_high_vs_low_by_fft(small, tmp_path):
    ds = sounds.build(tmp_path, n_train=60, n_val=0, n_test=0, kinds=("tone",))
    f = {"low": [], "mid": [], "high": []}
    for it in ds:
        x, _ = sounds.read_wav(ds.path(it.audio))
        f[it.meta["segments"][0]["pitch"]].append(dominant_freq(x))
    assert f["low"] and f["high"]
    assert max(f["low"]) < min(f["mid"] + f["high"]) and max(f["mid"] + f["low"]) < min(f["high"])


@pytest.mark.parametrize("n", [2, 3, 5])
@pytest.mark.parametrize("rate", ["slow", "fast"])
def test_n_beeps_make_n_bursts(n, rate):
    rng = np.random.default_rng(n)
    for _ in range(3):
        seg = sounds.sample_segment(rng, "beeps")
        period = 0.55 if rate == "slow" else 0.2
        seg.update(n=n, rate=rate, period=period, duration=n * period)
        assert bursts(sounds.synthesize_segment(seg, SR)) == n, seg
        phrase = sounds.segment_phrase(seg, rng, full=True)
        assert phrase.startswith(number_word(n)), phrase


def test_chirp_direction_by_fft():
    rng = np.random.default_rng(0)
    for direction in ("up", "down"):
        seg = {**sounds.sample_segment(rng, "chirp"), "direction": direction, "duration": 1.0}
        seg["f0"], seg["f1"] = (300.0, 2400.0) if direction == "up" else (2400.0, 300.0)
        x = sounds.synthesize_segment(seg, SR)
        first, last = dominant_freq(x[: SR // 4]), dominant_freq(x[-SR // 4:])
        assert (first < last) == (direction == "up")


def test_captions_name_the_parameters(small):
    for it in small:
        assert len(it.captions) == 5 and len({c.lower().rstrip(".") for c in it.captions}) == 5
        first = it.captions[0].lower()
        for seg in it.meta["segments"]:
            if seg["kind"] == "beeps":
                assert ["two", "three", "four", "five"][seg["n"] - 2] in first, first
            if seg["kind"] in ("tone", "beeps"):
                assert any(w in first for w in sounds.PITCH_WORDS[seg["pitch"]]), first
            if seg["kind"] == "noise":
                assert any(w in first for w in sounds.NOISE_WORDS[seg["noise"]]), first
        if it.label == "sequence":
            assert any(w in first for w in ("then", "after", "followed")), first


def test_second_build_loads_instead_of_regenerating(small):
    t = time.perf_counter()
    again = sounds.build(small.root, seed=0, **SMALL)
    assert time.perf_counter() - t < 1.0 and again.manifest_hash() == small.manifest_hash()


def test_wav_roundtrip_and_bad_input(tmp_path):
    x = np.sin(np.linspace(0, 100, 8000)).astype(np.float32) * 0.5
    y, sr = sounds.read_wav(sounds.write_wav(tmp_path / "a.wav", x, 8000))
    assert sr == 8000 and np.abs(x - y).max() < 1e-4
    with pytest.raises(ValueError, match="mono"):
        sounds.wav_bytes(np.zeros((10, 2)), 16000)
    with pytest.raises(ValueError, match="kinds"):
        sounds.build(tmp_path / "b", kinds=("tone", "whale song"))
    with pytest.raises(ValueError, match="unknown parameter"):
        sounds.build(tmp_path / "c", n_items=5)
