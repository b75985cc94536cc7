"""The one dataset format, the profiles and the dataset registry."""

import json

import pytest

from fusemix_lite.data.format import Item, PairedDataset, assign_splits
from fusemix_lite.data.registry import get_dataset
from fusemix_lite.errors import MissingDataError, UnknownNameError
from fusemix_lite.profiles import get_profile


def _ds(root):
    items = [Item("a", "train", ["a red circle", "a circle, red"], image="a.png"),
             Item("b", "train", ["a blue square"], image="b.png"),
             Item("c", "test", ["a green star"], image="c.png", label="star")]
    return PairedDataset("toy", root, items, {"seed": 0})


def test_roundtrip_and_hash(tmp_path):
    ds = _ds(tmp_path)
    ds.save()
    back = PairedDataset.load(tmp_path)
    assert [it.id for it in back] == ["a", "b", "c"] and back.info == {"seed": 0}
    assert back.manifest_hash() == ds.manifest_hash()
    back.items[0].captions[0] = "a red disc"
    assert back.manifest_hash() != ds.manifest_hash()
    assert not list(tmp_path.glob("*.tmp")), "no temporary files left behind"


def test_split_and_captions(tmp_path):
    ds = _ds(tmp_path)
    tr = ds.split("train")
    caps, owner = tr.captions()
    assert caps == ["a red circle", "a circle, red", "a blue square"]
    assert owner.tolist() == [0, 0, 1]
    assert ds.splits == ["train", "test"]
    with pytest.raises(ValueError, match="no items in split 'val'"):
        ds.split("val")


def test_bad_items(tmp_path):
    with pytest.raises(ValueError, match="empty caption"):
        Item("x", "train", ["ok", "  "])
    with pytest.raises(ValueError, match="empty caption"):
        Item("x", "train", [])
    with pytest.raises(ValueError, match="duplicate item id"):
        PairedDataset("d", tmp_path, [Item("x", "train", ["a"]), Item("x", "train", ["b"])])


def test_missing_and_corrupt(tmp_path):
    with pytest.raises(MissingDataError, match="no dataset at"):
        PairedDataset.load(tmp_path / "nothing")
    ds = _ds(tmp_path)
    ds.save()
    with pytest.raises(MissingDataError, match="a.png is missing"):
        ds.path(ds.items[0].image)
    (tmp_path / "manifest.jsonl").write_text(ds.manifest_lines()[0] + "\n{not json\n")
    with pytest.raises(ValueError, match="manifest.jsonl:2"):
        PairedDataset.load(tmp_path)
    (tmp_path / "manifest.jsonl").write_text(ds.manifest_lines()[0] + "\n")
    with pytest.raises(ValueError, match="holds 1 items, dataset.json says 3"):
        PairedDataset.load(tmp_path)


def test_assign_splits_stratified_and_deterministic():
    labels = ["cat"] * 50 + ["dog"] * 30 + ["cow"] * 20
    fr = {"train": 0.7, "val": 0.1, "test": 0.2}
    a, b, c = assign_splits(labels, fr, 0), assign_splits(labels, fr, 0), assign_splits(labels, fr, 1)
    assert a == b and a != c
    for lab, n in (("cat", 50), ("dog", 30), ("cow", 20)):
        got = [s for s, l in zip(a, labels) if l == lab]
        assert abs(got.count("train") - 0.7 * n) <= 1 and abs(got.count("test") - 0.2 * n) <= 1
    with pytest.raises(ValueError, match="sum to 1"):
        assign_splits(labels, {"train": 0.5}, 0)


def test_profiles_and_registry():
    off = get_profile("offline")
    assert off.offline and off.image_encoder == "efficientnet-lite0-128"
    assert json.loads(json.dumps(off.to_dict()))["text_encoder"] == "minilm-l6"
    assert off.with_(epochs=3).epochs == 3 and off.epochs != 3
    with pytest.raises(UnknownNameError, match="known profiles: full, offline"):
        get_profile("gpu")
    with pytest.raises(UnknownNameError, match="known datasets:.*scenes"):
        get_dataset("imagenet")
