"""Adapters (architecture, size, input checks) and the contrastive loss (values, symmetry, temperature)."""

import math

import pytest
import torch
import torch.nn.functional as F

from fusemix_lite.adapters import Adapter, AdapterConfig, FusionModel, ResidualBlock, count_parameters
from fusemix_lite.loss import LearnableTemperature, clip_loss


def test_paper_model_has_about_110m_parameters():
    with torch.device("meta"):                        # shapes only: no memory, no init time
        model = FusionModel(AdapterConfig.paper(1536), AdapterConfig.paper(1024))
    n = count_parameters(model)

    def adapter(d, out=512, depth=4, e=4):            # blocks (LN + 2 Linear), final LN, projection
        return depth * (2 * d + (d * e * d + e * d) + (e * d * d + d)) + 2 * d + d * out + out
    assert n == adapter(1536) + adapter(1024) + 1
    assert 105e6 < n < 115e6


def test_presets():
    p, c = AdapterConfig.paper(384), AdapterConfig.cpu(384)
    assert (p.out_dim, p.depth, p.expansion, p.dropout) == (512, 4, 4, 0.6)
    assert c.in_dim == 384 and c.depth < p.depth and c.out_dim == 256
    assert c.block_dim == 256 and p.block_dim == 384 and p.width is None
    narrow = Adapter(AdapterConfig(1280, out_dim=64, depth=1, width=32))
    assert narrow(torch.randn(3, 1280)).shape == (3, 64)
    assert count_parameters(narrow) < count_parameters(Adapter(AdapterConfig(1280, out_dim=64, depth=1)))
    with pytest.raises(ValueError, match="dropout"):
        AdapterConfig(8, dropout=1.0)
    with pytest.raises(ValueError, match="in_dim"):
        AdapterConfig(0)


def test_residual_block_formula():
    torch.manual_seed(0)
    block = ResidualBlock(6, expansion=3, dropout=0.5).eval()
    x = torch.randn(4, 6)
    expected = x + block.fc2(F.gelu(block.fc1(F.layer_norm(x, (6,), block.norm.weight, block.norm.bias))))
    assert torch.allclose(block(x), expected, atol=1e-6)
    assert block.fc1.out_features == 18


def test_adapter_structure_and_dropout_modes():
    torch.manual_seed(0)
    a = Adapter(AdapterConfig(8, out_dim=5, depth=3, expansion=2, dropout=0.5))
    assert len(a.blocks) == 3
    x = torch.randn(16, 8)
    a.eval()
    assert torch.equal(a(x), a(x)), "no dropout in eval mode"
    a.train()
    assert not torch.equal(a(x), a(x)), "dropout active in train mode"
    assert a(x).shape == (16, 5)


def test_fusion_model_embeddings_are_normalised():
    torch.manual_seed(0)
    m = FusionModel(AdapterConfig.cpu(12), AdapterConfig.cpu(7)).eval()
    ea, eb = m.encode_a(torch.randn(5, 12)), m.encode_b(torch.randn(5, 7))
    assert ea.shape == eb.shape == (5, 256)
    assert torch.allclose(ea.norm(dim=1), torch.ones(5)) and torch.allclose(eb.norm(dim=1), torch.ones(5))
    loss = m(torch.randn(5, 12), torch.randn(5, 7))
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert FusionModel.from_config(m.config()).config() == m.config()


def test_wrong_latent_dim_names_both_dims():
    m = FusionModel(AdapterConfig.cpu(16), AdapterConfig.cpu(8))
    with pytest.raises(ValueError, match=r"\[batch, 16\].*latent dim 8"):
        m.encode_a(torch.randn(3, 8))
    with pytest.raises(ValueError, match=r"\[batch, 8\].*latent dim 16"):
        m(torch.randn(3, 16), torch.randn(3, 16))
    with pytest.raises(ValueError, match="same space"):
        FusionModel(AdapterConfig(4, out_dim=8), AdapterConfig(4, out_dim=16))


def test_clip_loss_hand_computed():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])          # normalised inside: [[1,0],[0,1]]
    b = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    tau = 0.5                                           # logits [[2, 1.2], [0, 1.6]]

    def ce(logits, target):
        return -logits[target] + math.log(sum(math.exp(v) for v in logits))
    rows = (ce([2.0, 1.2], 0) + ce([0.0, 1.6], 1)) / 2
    cols = (ce([2.0, 0.0], 0) + ce([1.2, 1.6], 1)) / 2
    assert clip_loss(a, b, tau).item() == pytest.approx((rows + cols) / 2, rel=1e-6)


def test_clip_loss_symmetric_and_scale_invariant():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(9, 4, generator=g), torch.randn(9, 4, generator=g)
    t = torch.tensor(0.07)
    assert torch.allclose(clip_loss(a, b, t), clip_loss(b, a, t))
    assert torch.allclose(clip_loss(3 * a, b, t), clip_loss(a, b, t))
    assert clip_loss(a, a, 0.01) < clip_loss(a, b, 0.01), "aligned pairs give a lower loss"
    with pytest.raises(ValueError, match="matching shapes"):
        clip_loss(a, b[:5], t)


def test_learnable_temperature_clamps_and_learns():
    t = LearnableTemperature()
    assert t().item() == pytest.approx(0.07)
    with torch.no_grad():
        t.tau.fill_(2.0)
    assert t().item() == 2.0, "calling it has no side effect"
    t.clamp_()
    assert t().item() == pytest.approx(0.5)
    with torch.no_grad():
        t.tau.fill_(1e-6)
    t.clamp_()
    assert t().item() == pytest.approx(0.001)
    t2 = LearnableTemperature()
    clip_loss(torch.randn(4, 3), torch.randn(4, 3), t2()).backward()
    assert t2.tau.grad is not None and t2.tau.grad.item() != 0.0
    with pytest.raises(ValueError):
        LearnableTemperature(init=0.9)
