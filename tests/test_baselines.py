"""Baseline augmentations (noise, random quantisation) and closed-form maps (Procrustes, CCA)."""

import numpy as np
import pytest
import torch

from fusemix_lite.baselines import LinearMap, augment, cca, gaussian_noise, procrustes, random_quantize
from fusemix_lite.retrieval import recall_at_k
from fusemix_lite.pairs import PairedLatents


def test_none_is_identity_and_unknown_kind_fails():
    x, y = torch.randn(4, 3), torch.randn(4, 2)
    xa, ya = augment(x, y, "none")
    assert xa is x and ya is y
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment(x, y, "cutout")
    with pytest.raises(ValueError, match="same number of pairs"):
        augment(x, y[:3], "noise")


def test_gaussian_noise_std_and_seed():
    x, y = torch.zeros(2000, 50), torch.zeros(2000, 50)
    xa, ya = augment(x, y, "noise", torch.Generator().manual_seed(0), noise_std=0.01)
    assert xa.std().item() == pytest.approx(0.01, rel=0.02)
    assert abs(xa.mean().item()) < 1e-3
    assert not torch.equal(xa, ya), "each modality gets its own noise"
    xb, _ = augment(x, y, "noise", torch.Generator().manual_seed(0), noise_std=0.01)
    assert torch.equal(xa, xb)
    with pytest.raises(ValueError, match="std"):
        gaussian_noise(x, -1.0)


def test_random_quantize_properties():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 300)
    q = random_quantize(x, levels=(4, 8), generator=g)
    assert q.shape == x.shape and q.dtype == x.dtype
    for row_x, row_q in zip(x, q):
        assert 1 <= len(torch.unique(row_q)) <= 8, "at most `levels` distinct values per latent"
        assert row_q.min() >= row_x.min() - 1e-6 and row_q.max() <= row_x.max() + 1e-6
        order = torch.argsort(row_x)
        assert (torch.diff(row_q[order]) >= 0).all(), "quantisation keeps the order of coordinates"
    assert (q - x).abs().mean() > 0.01, "it does change the latents"
    assert torch.equal(q, random_quantize(x, (4, 8), torch.Generator().manual_seed(0)))
    counts = {len(torch.unique(r)) for r in random_quantize(x, (4, 8), torch.Generator().manual_seed(1))}
    assert len(counts) > 1, "the number of levels is random per latent"
    with pytest.raises(ValueError, match="levels"):
        random_quantize(x, (1, 4))


def _linear_problem(seed, n=600, da=24, db=16, noise=0.05, orthogonal=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, da))
    if orthogonal:
        q, _ = np.linalg.qr(rng.normal(size=(da, da)))
        y = x @ q
    else:
        y = x @ rng.normal(size=(da, db))
    y = y + noise * rng.normal(size=y.shape) * y.std()
    return x.astype(np.float32), y.astype(np.float32)


def _test_recall(model, x, y):
    return recall_at_k(model.encode_a(torch.from_numpy(x)), model.encode_b(torch.from_numpy(y)),
                       torch.arange(len(x)))["t2i_R@1"]


def test_procrustes_recovers_a_rotation():
    x, y = _linear_problem(0, orthogonal=True, noise=0.01)
    pm = procrustes(x[:400], y[:400])
    assert isinstance(pm, LinearMap)
    assert _test_recall(pm, x[400:], y[400:]) > 95
    a, b = pm.encode_a(torch.from_numpy(x[400:])), pm.encode_b(torch.from_numpy(y[400:]))
    assert torch.allclose(a.norm(dim=1), torch.ones(200), atol=1e-5)
    assert (a * b).sum(1).mean() > 0.95, "matched pairs land on nearly the same point"


def test_maps_align_different_dims_far_above_chance():
    x, y = _linear_problem(1)
    pairs = PairedLatents.from_arrays(x[:450], y[:450])
    for fit in (procrustes, cca):
        m = fit(pairs)
        assert m.w_a.shape[1] == m.w_b.shape[1] == 16
        assert _test_recall(m, x[450:], y[450:]) > 50, fit.__name__     # chance is 0.7 %
    assert _test_recall(cca(pairs), x[450:], y[450:]) > 90, "CCA fits a general linear map"


def test_cca_components_are_uncorrelated_and_ordered():
    x, y = _linear_problem(2, noise=1.0)
    m = cca(x, y, dim=6, reg=0.0)
    ea = ((torch.nn.functional.normalize(torch.from_numpy(x), dim=1) - m.mean_a) @ m.w_a).numpy()
    eb = ((torch.nn.functional.normalize(torch.from_numpy(y), dim=1) - m.mean_b) @ m.w_b).numpy()
    corr = np.corrcoef(ea.T, eb.T)
    np.testing.assert_allclose(corr[:6, :6], np.eye(6), atol=1e-3)        # whitened within a side
    canon = np.diag(corr[:6, 6:])
    assert (np.diff(canon) <= 1e-6).all() and canon[0] > 0.5, "canonical correlations, largest first"


def test_map_bad_inputs():
    x, y = _linear_problem(3, n=20)
    with pytest.raises(ValueError, match="same number of pairs"):
        cca(x, y[:10])
    with pytest.raises(ValueError, match="dim must be in"):
        procrustes(x, y, dim=17)
    bad = x.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        procrustes(bad, y)
    with pytest.raises(ValueError, match=r"\[batch, 24\]"):
        procrustes(x, y).encode_a(torch.randn(2, 16))
