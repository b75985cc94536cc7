"""Data studies: k-DPP greedy MAP, nested subsets, caption corruption, seed summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from fusemix_lite.errors import UnknownNameError
from fusemix_lite.studies import (
    CORRUPTIONS, DEFAULT_ATTRIBUTES, kdpp_greedy, kernel_matrix, corrupt_captions, n_corrupted, nested_subsets,
    run_seeds, summarise, uniform_subset,
)


def brute_force_greedy(L: np.ndarray, k: int) -> list[int]:
    """Greedy MAP by definition: each step add the point maximising log det L[S, S]."""
    chosen: list[int] = []
    for _ in range(k):
        best, best_val = -1, -np.inf
        for i in range(len(L)):
            if i in chosen:
                continue
            s = chosen + [i]
            sign, logdet = np.linalg.slogdet(L[np.ix_(s, s)])
            val = logdet if sign > 0 else -np.inf
            if val > best_val:
                best, best_val = i, val
        chosen.append(best)
    return chosen


def clustered(n_clusters: int = 5, per: int = 40, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unequal, tight clusters: one big cluster holds most points, so uniform sampling misses the rest."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, d)) * 3
    sizes = [per * 10] + [per // 8] * (n_clusters - 1)
    labels = np.repeat(np.arange(n_clusters), sizes)
    x = centres[labels] + 0.05 * rng.normal(size=(len(labels), d))
    return x.astype(np.float32), labels


# ----------------------------------------------------------------------------- k-DPP

@pytest.mark.parametrize("kernel", ["poly2", "linear"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kdpp_equals_brute_force(kernel: str, seed: int) -> None:
    x = np.random.default_rng(seed).normal(size=(30, 6))
    k = 6 if kernel == "linear" else 10  # the linear kernel has rank <= d
    L = kernel_matrix(x, kernel).numpy()
    assert kdpp_greedy(x, k, kernel).tolist() == brute_force_greedy(L, k)


def test_kdpp_row_recompute_path_and_tensor_input_agree() -> None:
    x = torch.randn(40, 5, generator=torch.Generator().manual_seed(3))
    a = kdpp_greedy(x, 12)
    b = kdpp_greedy(x.numpy(), 12, max_kernel_bytes=0)  # no [N, N] kernel kept
    assert a.dtype == np.int64 and a.tolist() == b.tolist()
    assert len(set(a.tolist())) == 12 and a[0] == 0  # all self-similarities equal: ties -> index 0


def test_kdpp_prefix_is_smaller_greedy_subset() -> None:
    x = np.random.default_rng(4).normal(size=(50, 6))
    assert kdpp_greedy(x, 20)[:7].tolist() == kdpp_greedy(x, 7).tolist()


def test_kdpp_covers_clusters_uniform_does_not() -> None:
    x, labels = clustered()
    k = 10
    assert set(labels[kdpp_greedy(x, k)]) == set(range(5))
    covered = [len(set(labels[uniform_subset(len(x), k, s)])) for s in range(20)]
    assert np.mean(covered) < 4  # uniform mostly draws from the big cluster


def test_kdpp_scale_invariant_and_ignores_norms() -> None:
    x = np.random.default_rng(5).normal(size=(25, 6))
    scaled = x * np.random.default_rng(6).uniform(0.1, 10, size=(25, 1))
    assert kdpp_greedy(x, 8).tolist() == kdpp_greedy(scaled, 8).tolist()


def test_kdpp_bad_input() -> None:
    x = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match=r"k must be in \[0, 10\]"):
        kdpp_greedy(x, 11)
    with pytest.raises(ValueError, match="k must be"):
        kdpp_greedy(x, -1)
    with pytest.raises(TypeError):
        kdpp_greedy(x, 2.5)
    with pytest.raises(UnknownNameError, match="poly2"):
        kdpp_greedy(x, 2, kernel="rbf")
    with pytest.raises(ValueError, match="2-D"):
        kdpp_greedy(x[0], 2)
    with pytest.raises(ValueError, match="all-zero"):
        kdpp_greedy(np.zeros((3, 2)), 1)
    with pytest.raises(ValueError, match="NaN"):
        kdpp_greedy(np.full((3, 2), np.nan), 1)
    with pytest.raises(ValueError, match="rank 3 < k=4"):  # duplicated points: rank too small
        kdpp_greedy(np.repeat(np.eye(3), 2, axis=0), 4, kernel="linear")
    assert kdpp_greedy(x, 0).tolist() == []


# ----------------------------------------------------------------------------- subsets

def test_nested_subsets_are_nested_sorted_and_deterministic() -> None:
    subs = nested_subsets(1000, [10, 100, 500, 1000], seed=7)
    assert [len(s) for s in subs] == [10, 100, 500, 1000]
    for small, big in zip(subs, subs[1:]):
        assert set(small) <= set(big)
    assert all((np.diff(s) > 0).all() for s in subs)
    again = nested_subsets(1000, [10, 100, 500, 1000], seed=7)
    assert all((a == b).all() for a, b in zip(subs, again))
    assert not (nested_subsets(1000, [100], seed=8)[0] == subs[1]).all()
    assert (uniform_subset(1000, 100, seed=7) == subs[1]).all()


def test_subsets_bad_input() -> None:
    with pytest.raises(ValueError, match="size must be in"):
        nested_subsets(10, [5, 11], seed=0)
    with pytest.raises(ValueError, match=r"k must be in \[0, 5\]"):
        uniform_subset(5, 6, seed=0)
    with pytest.raises(TypeError):
        uniform_subset(5, True, seed=0)


# ----------------------------------------------------------------------------- corruption

CAPTIONS = [
    f"a {c} {s} next to a small {c2} {s2} on the left"
    for c, c2 in [("red", "blue"), ("green", "yellow"), ("purple", "orange"), ("pink", "black")]
    for s, s2 in [("circle", "square"), ("triangle", "star"), ("heart", "cross")]
] + ["A photo of a dog running on grass", "two people sit on a bench"]


@pytest.mark.parametrize("kind", ["swap_attribute", "truncate", "generic", "shuffle_pairs"])
@pytest.mark.parametrize("rate", [0.0, 0.25, 0.5, 12 / 14])
def test_corruption_exact_count_deterministic_and_pure(kind: str, rate: float) -> None:
    before = list(CAPTIONS)
    out = corrupt_captions(CAPTIONS, kind, rate, seed=3)
    assert CAPTIONS == before  # input untouched
    m = n_corrupted(len(CAPTIONS), rate)
    assert out.mask.dtype == bool and out.mask.sum() == m
    assert len(out.captions) == len(CAPTIONS)
    changed = np.array([a != b for a, b in zip(out.captions, CAPTIONS)])
    assert (changed == out.mask).all()  # every chosen entry changed, nothing else did
    again = corrupt_captions(CAPTIONS, kind, rate, seed=3)
    assert again.captions == out.captions and (again.mask == out.mask).all()
    if m >= 4:
        assert corrupt_captions(CAPTIONS, kind, rate, seed=4).captions != out.captions


def test_swap_attribute_swaps_within_group() -> None:
    out = corrupt_captions(CAPTIONS, "swap_attribute", 0.5, seed=0)
    colours = set(DEFAULT_ATTRIBUTES["colour"])
    for old, new, hit in zip(CAPTIONS, out.captions, out.mask):
        if not hit:
            continue
        diff = [(a, b) for a, b in zip(old.split(), new.split()) if a != b]
        assert len(diff) == 1 and len(old.split()) == len(new.split())
        a, b = diff[0]
        assert (a in colours) == (b in colours)  # colour -> colour, shape -> shape
    # a custom flat vocabulary: only caption 12 holds one of its words
    out = corrupt_captions(CAPTIONS, "swap_attribute", 1 / 14, seed=0, vocab=["dog", "cat"])
    assert out.captions[12] == "A photo of a cat running on grass" and out.mask.sum() == 1
    out = corrupt_captions(["A Red circle"], "swap_attribute", 1.0, seed=0, vocab={"c": ["red", "blue"]})
    assert out.captions == ["A Blue circle"]


def test_truncate_and_generic() -> None:
    out = corrupt_captions(CAPTIONS, "truncate", 0.5, seed=1, keep_words=2)
    for old, new, hit in zip(CAPTIONS, out.captions, out.mask):
        assert new == (" ".join(old.split()[:2]) if hit else old)
    out = corrupt_captions(CAPTIONS, "generic", 0.5, seed=1, vocab=["a sound"])
    assert {c for c, h in zip(out.captions, out.mask) if h} == {"a sound"}


def test_shuffle_pairs_permutation() -> None:
    out = corrupt_captions(CAPTIONS, "shuffle_pairs", 0.5, seed=2)
    perm = out.permutation
    assert perm is not None and sorted(perm.tolist()) == list(range(len(CAPTIONS)))
    assert ((perm != np.arange(len(perm))) == out.mask).all()
    assert out.captions == [CAPTIONS[i] for i in perm]
    assert corrupt_captions(CAPTIONS, "truncate", 0.5, seed=2).permutation is None


def test_corruption_bad_input() -> None:
    with pytest.raises(UnknownNameError) as err:
        corrupt_captions(CAPTIONS, "blur", 0.1, seed=0)
    assert all(k in str(err.value) for k in CORRUPTIONS)
    for rate in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"):
            corrupt_captions(CAPTIONS, "generic", rate, seed=0)
    with pytest.raises(ValueError, match="only 12 can be changed"):  # 2 captions have no attribute
        corrupt_captions(CAPTIONS, "swap_attribute", 1.0, seed=0)
    with pytest.raises(ValueError, match="exactly one"):
        corrupt_captions(CAPTIONS, "shuffle_pairs", 1 / 14, seed=0)
    with pytest.raises(ValueError, match="two distinct"):
        corrupt_captions(CAPTIONS, "swap_attribute", 0.1, seed=0, vocab=["red"])
    with pytest.raises(TypeError):
        corrupt_captions("a red circle", "generic", 0.1, seed=0)
    with pytest.raises(ValueError, match="keep_words"):
        corrupt_captions(CAPTIONS, "truncate", 0.1, seed=0, keep_words=0)


# ----------------------------------------------------------------------------- seeds

def test_run_seeds_and_summarise() -> None:
    def fn(seed: int) -> list[dict]:
        return [{"size": s, "r1": s + seed, "loss": 1.0} for s in (10, 20)]

    records = run_seeds(fn, [0, 1, 2])
    assert len(records) == 6 and set(records["seed"]) == {0, 1, 2}
    table = summarise(records, by="size")
    assert list(table.columns) == ["size", "r1_mean", "r1_std", "loss_mean", "loss_std", "n"]
    row = table.set_index("size").loc[20]
    assert row["r1_mean"] == 21 and row["r1_std"] == pytest.approx(1.0) and row["n"] == 3
    one = summarise([{"k": "a", "r1": 0.5}], by=["k"], metrics=["r1"])
    assert one.loc[0, "r1_std"] == 0.0 and one.loc[0, "n"] == 1
    with pytest.raises(ValueError, match="not in the records"):
        summarise(records, by="nope")
    assert isinstance(table, pd.DataFrame)


# ---- evidence: paired intervals and verdicts -------------------------------------------------
def test_paired_difference_matches_a_t_interval_by_hand():
    from scipy import stats

    from fusemix_lite.studies import paired_difference

    a = [41.3, 42.0, 42.9, 41.8, 42.2]
    b = [38.4, 39.8, 39.0, 38.9, 39.5]
    d = np.subtract(a, b)
    half = stats.t.ppf(0.975, 4) * d.std(ddof=1) / np.sqrt(5)
    r = paired_difference(a, b)
    assert r.mean == pytest.approx(d.mean()) and r.n == 5
    assert (r.low, r.high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert "95 % CI" in str(r) and "5 paired seeds" in str(r)
    # pairing matters: a shared per-seed offset cancels, so the interval is narrow
    shift = np.array([5.0, -3.0, 8.0, 0.0, -6.0])
    assert paired_difference(np.add(a, shift), np.add(b, shift)).high - r.low == pytest.approx(r.high - r.low)


@pytest.mark.parametrize("a,b,expected", [
    ([3, 4, 5, 4, 3], [1, 2, 2, 1, 1], "reproduced"),
    ([1, 2, 2, 1, 1], [3, 4, 5, 4, 3], "not reproduced"),
    ([1, 3, 2, 4, 2], [2, 2, 3, 3, 2], "no detectable difference"),
])
def test_verdict_follows_the_interval(a, b, expected):
    from fusemix_lite.studies import paired_difference, verdict

    r = paired_difference(a, b)
    assert verdict(r) == expected
    assert (expected == "reproduced") == (r.low > 0) and (expected == "not reproduced") == (r.high < 0)


def test_paired_difference_refuses_bad_input():
    from fusemix_lite.studies import paired_difference

    with pytest.raises(ValueError, match="paired one to one"):
        paired_difference([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 2 pairs"):
        paired_difference([1], [2])
    with pytest.raises(ValueError, match="finite"):
        paired_difference([1, float("nan")], [1, 2])
    with pytest.raises(ValueError, match="confidence"):
        paired_difference([1, 2], [1, 2], confidence=95)


def test_run_arms_is_matched_across_arms():
    """Every arm at a size: the same subsets, steps, batch and evaluation; one row per arm, size, seed."""
    from test_train import DA, DB, _problem

    from fusemix_lite.adapters import AdapterConfig
    from fusemix_lite.pairs import PairedLatents
    from fusemix_lite.studies import run_arms
    from fusemix_lite.train import TrainConfig

    tr, va = _problem()
    test = PairedLatents(va.items, va.texts, va.caption_item, split="test")
    cfgs = (AdapterConfig(DA, out_dim=16, depth=1, expansion=2, dropout=0.0),
            AdapterConfig(DB, out_dim=16, depth=1, expansion=2, dropout=0.0))
    arms = {"FuseMix": TrainConfig(augment="fusemix", mix_mode="permute", batch_size=32, lr=5e-3, device="cpu"),
            "none": TrainConfig(augment="none", batch_size=32, lr=5e-3, device="cpu")}
    df = run_arms(arms, [64, 320], [0, 1], cfgs, tr, va, test, steps=lambda n: 60, progress=False)
    assert len(df) == 2 * 2 * 2 and set(df.arm) == {"FuseMix", "none"}
    per = df.groupby(["n_pairs", "seed"])
    assert (per.steps.nunique() == 1).all() and (per.batch_size.nunique() == 1).all()
    assert (df.steps >= 60).all() and (df[df.n_pairs == 64].batch_size == 32).all()
    big = df[df.n_pairs == 320]
    assert (big["t2i_R@1"] > 3 * 100 / test.n_items).all() and (big["train_R@1"] > 3 * 100 / 320).all()
    # FuseMix really mixed: at one size and seed its test numbers differ from "none"
    a = df[(df.arm == "FuseMix") & (df.n_pairs == 320)].sort_values("seed")["t2i_R@1"].to_numpy()
    b = df[(df.arm == "none") & (df.n_pairs == 320)].sort_values("seed")["t2i_R@1"].to_numpy()
    assert not np.array_equal(a, b)


def test_glue_finding_records_a_consistent_row():
    from fusemix_lite.notebook import Results
    from fusemix_lite.studies import glue_finding, paired_difference

    r = Results("test", {})
    d = paired_difference([3, 4, 5, 4, 3], [1, 2, 2, 1, 1])
    assert glue_finding(r, "x", "A beats B", "Fig. 5", d) == "reproduced"
    assert r["sb_x_verdict"] == "reproduced" and r["sb_x_n"] == 5
    assert r["sb_x_low"] == pytest.approx(d.low) and r["sb_x_diff"] == pytest.approx(d.mean)
    assert r["scoreboard"] == [{"key": "x", "claim": "A beats B", "paper": "Fig. 5", "difference": d.mean,
                                "low": d.low, "high": d.high, "n_seeds": 5, "verdict": "reproduced"}]
