"""Recall@K against a brute-force reference (full matrix + argsort), chunking, ties and bad inputs."""

import numpy as np
import pytest
import torch

from fusemix_lite.retrieval import recall_at_k, retrieval_table


def _reference(items, texts, caption_item, ks, text_key=None):
    """Full similarity matrix, rank by sorting: the textbook definition."""
    items = items / np.linalg.norm(items, axis=1, keepdims=True)
    texts = texts / np.linalg.norm(texts, axis=1, keepdims=True)
    sim = texts @ items.T                                     # [M, N]
    m, n = sim.shape
    key = np.arange(m) if text_key is None else np.asarray(text_key)
    t2i, i2t = [], []
    for j in range(m):
        correct = set(caption_item[key == key[j]].tolist())
        order = np.argsort(-sim[j])
        t2i.append(1 + min(np.flatnonzero(np.isin(order, list(correct)))))
    for i in range(n):
        item_keys = set(key[caption_item == i].tolist())
        correct = [j for j in range(m) if key[j] in item_keys]
        order = np.argsort(-sim[:, i])
        i2t.append(1 + min(np.flatnonzero(np.isin(order, correct))))
    out = {}
    for name, r in (("i2t", np.array(i2t)), ("t2i", np.array(t2i))):
        for k in ks:
            out[f"{name}_R@{k}"] = 100.0 * np.mean(r <= k)
        out[f"{name}_mean_rank"] = r.mean()
        out[f"{name}_median_rank"] = float(np.median(r))
    return out


def _data(seed, n=40, d=8, max_caps=5, noise=1.5):
    rng = np.random.default_rng(seed)
    items = rng.normal(size=(n, d)).astype(np.float32)
    caption_item = np.concatenate([np.full(rng.integers(1, max_caps + 1), i) for i in range(n)])
    rng.shuffle(caption_item)
    texts = (items[caption_item] + noise * rng.normal(size=(len(caption_item), d))).astype(np.float32)
    return items, texts, caption_item


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_brute_force_multi_caption(seed):
    items, texts, cap = _data(seed)
    got = recall_at_k(items, texts, cap, ks=(1, 5, 10), chunk_size=7)
    ref = _reference(items, texts, cap, (1, 5, 10))
    for k, v in ref.items():
        assert got[k] == pytest.approx(v), k
    assert 0 < got["t2i_R@10"] < 100, "the test data should be neither trivial nor hopeless"
    assert got["rsum"] == pytest.approx(sum(got[f"{d}_R@{k}"] for d in ("i2t", "t2i") for k in (1, 5, 10)))
    assert got["mean_recall"] == pytest.approx(got["rsum"] / 6)


@pytest.mark.parametrize("seed", [3, 4])
def test_equals_brute_force_with_text_key(seed):
    items, texts, cap = _data(seed)
    rng = np.random.default_rng(seed)
    key = np.arange(len(cap))
    dup = rng.choice(len(cap), size=len(cap) // 2, replace=False)
    key[dup] = rng.integers(0, 12, size=len(dup)) + 10_000  # shared keys across items = identical captions
    got = recall_at_k(torch.from_numpy(items), torch.from_numpy(texts), torch.from_numpy(cap),
                      ks=(1, 3), text_key=key, chunk_size=5)
    ref = _reference(items, texts, cap, (1, 3), text_key=key)
    for k, v in ref.items():
        assert got[k] == pytest.approx(v), k
    plain = recall_at_k(items, texts, cap, ks=(1, 3))
    assert got["t2i_R@1"] >= plain["t2i_R@1"] and got["i2t_R@1"] >= plain["i2t_R@1"]


@pytest.mark.parametrize("chunk", [1, 3, 64, None])
def test_chunked_equals_unchunked(chunk):
    items, texts, cap = _data(5, n=30)
    assert recall_at_k(items, texts, cap, chunk_size=chunk) == recall_at_k(items, texts, cap, chunk_size=None)


def test_hand_example():
    items = np.array([[1.0, 0.0], [0.0, 1.0]])
    texts = np.array([[1.0, 0.1], [0.2, 1.0], [1.0, 0.0]])   # captions of items 0, 1, 1
    r = recall_at_k(items, texts, [0, 1, 1], ks=(1,))
    # t2i: caption 2 describes item 1 but is closer to item 0 -> ranks 1, 1, 2
    assert r["t2i_R@1"] == pytest.approx(200 / 3) and r["t2i_mean_rank"] == pytest.approx(4 / 3)
    # i2t: item 1's caption 1 comes first; item 0's caption 0 comes second, behind item 1's caption 2
    assert r["i2t_R@1"] == 50.0 and r["i2t_median_rank"] == 1.5


def test_ties_count_in_the_querys_favour():
    items = np.ones((3, 4))
    texts = np.ones((6, 4))
    r = recall_at_k(items, texts, [0, 0, 1, 1, 2, 2], ks=(1,))
    assert r["t2i_R@1"] == 100.0 and r["i2t_R@1"] == 100.0


def test_bad_inputs():
    items, texts, cap = _data(0, n=5)
    with pytest.raises(ValueError, match="one index per caption"):
        recall_at_k(items, texts, cap[:-1])
    with pytest.raises(ValueError, match="items are 0..4"):
        recall_at_k(items, texts, np.where(cap == 0, 5, cap))
    with pytest.raises(ValueError, match="no caption"):
        recall_at_k(items, texts[cap != 2], cap[cap != 2])
    with pytest.raises(ValueError, match="share a dim"):
        recall_at_k(items, texts[:, :3], cap)
    bad = texts.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        recall_at_k(items, bad, cap)
    with pytest.raises(ValueError, match="one key per caption"):
        recall_at_k(items, texts, cap, text_key=[1, 2])
    with pytest.raises(ValueError, match="nothing to retrieve"):
        recall_at_k(items[:0], texts, cap)


def test_retrieval_table():
    items, texts, cap = _data(1)
    m = recall_at_k(items, texts, cap)
    t = retrieval_table(m)
    assert list(t.columns) == ["direction", "k", "recall"] and len(t) == 6
    row = t[(t.direction == "t2i") & (t.k == 5)]
    assert row.recall.item() == m["t2i_R@5"]
    both = retrieval_table({"fusemix": m, "cca": m})
    assert list(both.columns) == ["model", "direction", "k", "recall"] and len(both) == 12
    with pytest.raises(ValueError, match="Recall@K"):
        retrieval_table({"loss": 1.0})
