"""Latent store: round trip, manifest checks, corruption detection, atomic writes, paired loading."""

import json
import os

import numpy as np
import pytest
import torch

import fusemix_lite
from fusemix_lite.errors import StoreCorruptError, StoreMismatchError
from fusemix_lite.pairs import PairedLatents, load_pairs, to_device
from fusemix_lite.store import LatentStore, Latents, StoreKey

MANIFEST = {"weights_hash": "w123", "preprocessing": {"resize": 224}, "data_manifest_hash": "d456"}
KEY = StoreKey("toy", "train", "image", "enc-a")


def _latents(rows=6, dim=5, seed=0):
    return np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)


def _save(store, key=KEY, rows=6, dim=5, **kw):
    arr = _latents(rows, dim)
    store.save(key, arr, [f"id{i}" for i in range(rows)], {**MANIFEST, **kw.pop("manifest", {})}, **kw)
    return arr


def test_round_trip(tmp_path):
    store = LatentStore(tmp_path)
    arr = _save(store)
    lat = store.load(KEY)
    assert isinstance(lat, Latents) and isinstance(lat.array, np.memmap) and not lat.array.flags.writeable
    np.testing.assert_array_equal(lat.array, arr)
    assert lat.ids == [f"id{i}" for i in range(6)] and lat.item_index is None
    for field in ("encoder", "weights_hash", "preprocessing", "data_manifest_hash", "shape", "dtype",
                  "created", "library_version", "ids", "item_index", "sha256"):
        assert field in lat.manifest, field
    assert lat.manifest["encoder"] == "enc-a" and lat.manifest["shape"] == [6, 5]
    assert lat.manifest["library_version"] == fusemix_lite.__version__
    full = store.load(KEY, mmap=False)
    assert not isinstance(full.array, np.memmap)
    np.testing.assert_array_equal(full.array, arr)
    assert store.keys() == [KEY] and store.exists(KEY)


def test_files_are_plain_npy_and_json(tmp_path):
    store = LatentStore(tmp_path)
    _save(store)
    folder = store.path(KEY)
    assert sorted(p.name for p in folder.iterdir()) == ["latents.npy", "manifest.json"]
    np.testing.assert_array_equal(np.load(folder / "latents.npy", allow_pickle=False), _latents())
    json.loads((folder / "manifest.json").read_text())


def test_text_latents_keep_item_index_and_tensor_input(tmp_path):
    store = LatentStore(tmp_path)
    key = StoreKey("toy", "train", "text", "enc-b")
    store.save(key, torch.ones(4, 3), ["c0", "c1", "c2", "c3"], MANIFEST, item_index=[0, 0, 1, 2])
    lat = store.load(key)
    assert lat.item_index.tolist() == [0, 0, 1, 2] and lat.item_index.dtype == np.int64


def test_overwrite_replaces(tmp_path):
    store = LatentStore(tmp_path)
    _save(store)
    store.save(KEY, np.zeros((2, 5)), ["a", "b"], MANIFEST)
    assert store.load(KEY).array.shape == (2, 5)
    assert [p.name for p in store.path(KEY).parent.iterdir()] == ["enc-a"], "no leftovers next to the key"


def test_expect_mismatch_names_field_and_values(tmp_path):
    store = LatentStore(tmp_path)
    _save(store)
    store.load(KEY, expect={"weights_hash": "w123", "preprocessing": {"resize": 224}})
    with pytest.raises(StoreMismatchError, match=r"'weights_hash' is 'w123', expected 'other'"):
        store.load(KEY, expect={"weights_hash": "other"})
    with pytest.raises(StoreMismatchError, match="no field 'pooling'"):
        store.load(KEY, expect={"pooling": "cls"})
    assert store.exists(KEY, expect={"data_manifest_hash": "d456"})
    assert not store.exists(KEY, expect={"data_manifest_hash": "changed"})
    assert not store.exists(StoreKey("toy", "val", "image", "enc-a"))


def test_missing_key_is_a_clear_error(tmp_path):
    store = LatentStore(tmp_path)
    _save(store)
    with pytest.raises(FileNotFoundError, match="toy/val/image/enc-a.*keys present: toy/train/image/enc-a"):
        store.load(StoreKey("toy", "val", "image", "enc-a"))


def test_corrupted_file_is_detected(tmp_path):
    store = LatentStore(tmp_path)
    _save(store, rows=50, dim=8)
    path = store.path(KEY) / "latents.npy"
    data = bytearray(path.read_bytes())
    data[-7] ^= 0xFF                                      # flip bits inside the array payload
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError, match="checksum"):
        store.load(KEY)


@pytest.mark.parametrize("damage", ["truncate", "append", "header", "manifest"])
def test_truncated_or_inconsistent_file_is_detected(tmp_path, damage):
    store = LatentStore(tmp_path)
    _save(store, rows=50, dim=8)
    folder = store.path(KEY)
    lpath = folder / "latents.npy"
    if damage == "truncate":
        lpath.write_bytes(lpath.read_bytes()[:-100])
    elif damage == "append":
        lpath.write_bytes(lpath.read_bytes() + b"\0" * 32)
    elif damage == "header":
        np.save(lpath, np.zeros((49, 8), np.float32))
    else:
        (folder / "manifest.json").write_text('{"shape": [50, 8], "dtype": ')
    with pytest.raises(StoreCorruptError):
        store.load(KEY, verify=False)                    # caught even without hashing
    assert not store.exists(KEY)


def test_never_unpickles(tmp_path):
    store = LatentStore(tmp_path)
    _save(store)
    np.save(store.path(KEY) / "latents.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(StoreCorruptError, match="unreadable"):
        store.load(KEY, verify=False)


def test_bad_input_is_rejected(tmp_path):
    store = LatentStore(tmp_path)
    arr = _latents()
    ids = [f"id{i}" for i in range(6)]
    bad = arr.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf.*first bad row 3"):
        store.save(KEY, bad, ids, MANIFEST)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        store.save(KEY, bad, ids, MANIFEST)
    with pytest.raises(ValueError, match="5 ids for 6 latent rows"):
        store.save(KEY, arr, ids[:5], MANIFEST)
    with pytest.raises(ValueError, match="2-D"):
        store.save(KEY, arr[:, :, None], ids, MANIFEST)
    with pytest.raises(ValueError, match="empty"):
        store.save(KEY, arr[:0], [], MANIFEST)
    with pytest.raises(ValueError, match="not unique"):
        store.save(KEY, arr, ["a"] * 6, MANIFEST)
    with pytest.raises(ValueError, match="item_index"):
        store.save(KEY, arr, ids, MANIFEST, item_index=[0, 1])
    with pytest.raises(ValueError, match="lacks"):
        store.save(KEY, arr, ids, {"weights_hash": "w"})
    with pytest.raises(ValueError, match="written by the store"):
        store.save(KEY, arr, ids, {**MANIFEST, "shape": [1, 1]})
    with pytest.raises(ValueError, match="names encoder"):
        store.save(KEY, arr, ids, {**MANIFEST, "encoder": "other"})
    for bad_name in ("a/b", "..", "", ".hidden"):
        with pytest.raises(ValueError, match="plain name"):
            StoreKey("toy", bad_name, "image", "enc")
    assert store.keys() == [] and not any(tmp_path.rglob("*.npy")), "nothing written by failed saves"


def test_failed_save_leaves_nothing_behind(tmp_path, monkeypatch):
    store = LatentStore(tmp_path)

    def half_write(f, arr, allow_pickle=False):
        f.write(b"\x93NUMPY partial")
        raise KeyboardInterrupt("killed mid-write")
    monkeypatch.setattr(np, "save", half_write)
    with pytest.raises(KeyboardInterrupt):
        _save(store)
    assert store.keys() == [] and not store.exists(KEY)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [], "no half-written file remains"


def test_failed_overwrite_keeps_the_old_version(tmp_path, monkeypatch):
    store = LatentStore(tmp_path)
    arr = _save(store)
    import fusemix_lite.store as store_mod

    def broken(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(store_mod, "write_atomic", broken)
    with pytest.raises(OSError, match="disk full"):
        store.save(KEY, np.zeros((2, 5)), ["a", "b"], MANIFEST)
    np.testing.assert_array_equal(store.load(KEY).array, arr)
    assert sorted(os.listdir(store.path(KEY).parent)) == ["enc-a"]


def test_leftover_temp_folders_are_ignored(tmp_path):
    store = LatentStore(tmp_path)
    _save(store)
    (tmp_path / "toy" / "train" / "image" / ".enc-b.xyz.tmp").mkdir()
    (tmp_path / "toy" / "train" / "image" / ".enc-b.xyz.tmp" / "manifest.json").write_text("{}")
    assert store.keys() == [KEY]


# ---- paired latents ----------------------------------------------------------------------------
def _paired_store(tmp_path, text_hash="d456", item_index=(0, 0, 1, 2, 3, 3, 3)):
    store = LatentStore(tmp_path)
    items = _latents(4, 6, seed=1)
    texts = _latents(len(item_index), 3, seed=2)
    store.save(StoreKey("toy", "val", "image", "img"), items, list("abcd"), MANIFEST)
    store.save(StoreKey("toy", "val", "text", "txt"), texts, [f"c{i}" for i in range(len(item_index))],
               {**MANIFEST, "data_manifest_hash": text_hash, "captions": [f"cap {i}" for i in item_index]},
               item_index=list(item_index))
    return store, items, texts


def test_load_pairs(tmp_path):
    store, items, texts = _paired_store(tmp_path)
    p = load_pairs(store, "toy", "val", "image", "img", "txt")
    assert isinstance(p, PairedLatents) and p.split == "val"
    assert p.items.shape == (4, 6) and p.texts.shape == (7, 3) and p.caption_item.dtype == torch.long
    a, b = p.pairs()
    np.testing.assert_array_equal(a.numpy(), items[[0, 0, 1, 2, 3, 3, 3]])
    np.testing.assert_array_equal(b.numpy(), texts)
    assert p.item_ids == list("abcd") and p.captions[0] == "cap 0"
    key = p.text_key()
    assert key.tolist() == [0, 0, 1, 2, 3, 3, 3], "identical captions share a key"
    assert to_device(p, "cpu") is p


def test_load_pairs_refuses_mixed_data(tmp_path):
    store, _, _ = _paired_store(tmp_path, text_hash="other")
    with pytest.raises(StoreMismatchError, match="data_manifest_hash"):
        load_pairs(store, "toy", "val", "image", "img", "txt")


def test_load_pairs_needs_valid_item_index(tmp_path):
    store, _, _ = _paired_store(tmp_path, item_index=(0, 1, 2, 9))
    with pytest.raises(StoreCorruptError, match="item_index reaches 9"):
        load_pairs(store, "toy", "val", "image", "img", "txt")
    store.save(StoreKey("toy", "val", "text", "txt"), _latents(4, 3), list("wxyz"), MANIFEST)
    with pytest.raises(StoreCorruptError, match="no item_index"):
        load_pairs(store, "toy", "val", "image", "img", "txt")


def test_paired_latents_validation():
    items, texts = torch.randn(3, 4), torch.randn(5, 2)
    ok = PairedLatents.from_arrays(items, texts, [0, 1, 2, 2, 0])
    assert ok.n_items == 3 and ok.n_texts == 5
    with pytest.raises(ValueError, match=r"indices in \[0, 3\] but there are 3 items"):
        PairedLatents.from_arrays(items, texts, [0, 1, 2, 3, 0])
    with pytest.raises(ValueError, match="one entry per caption"):
        PairedLatents.from_arrays(items, texts, [0, 1, 2])
    with pytest.raises(ValueError, match="pair row by row"):
        PairedLatents.from_arrays(items, texts)
    with pytest.raises(ValueError, match="empty split"):
        PairedLatents.from_arrays(items[:0], texts[:0], [], split="val")
    bad = texts.clone()
    bad[4, 0] = float("nan")
    with pytest.raises(ValueError, match="texts latents contain NaN or Inf in 1 rows"):
        PairedLatents.from_arrays(items, bad, [0, 1, 2, 2, 0])
    with pytest.raises(ValueError, match="2 captions for 5"):
        PairedLatents.from_arrays(items, texts, [0, 1, 2, 2, 0], captions=["a", "b"])
    with pytest.raises(ValueError, match="2-D"):
        PairedLatents(torch.randn(3), texts, torch.zeros(5, dtype=torch.long))


# ---- dataset variants ----------------------------------------------------------------------------
def test_variants_coexist_and_resolve(tmp_path):
    store = LatentStore(tmp_path)
    a, b = (StoreKey("toy", "train", "image", "enc-a", v) for v in ("v1", "v2"))
    arr_a = _save(store, key=a)
    assert store.path(a) == tmp_path / "toy@v1" / "train" / "image" / "enc-a" and str(a) == "toy@v1/train/image/enc-a"
    assert store.load(KEY).key == a, "a key without variant resolves to the only one stored"
    _save(store, key=b, rows=3)
    assert store.keys() == [a, b]
    np.testing.assert_array_equal(store.load(a).array, arr_a)
    assert store.load(b).array.shape == (3, 5)
    with pytest.raises(StoreMismatchError, match="2 variants of dataset 'toy' \\(v1, v2\\)"):
        store.load(KEY)
    with pytest.raises(StoreMismatchError, match="variants"):
        store.exists(KEY)
    for bad in ("a@b", "", "x/y"):
        with pytest.raises(ValueError, match="plain name"):
            StoreKey("toy", "train", "image", "enc", bad)
    with pytest.raises(ValueError, match="plain name"):
        StoreKey("to@y", "train", "image", "enc")
