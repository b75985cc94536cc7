"""The batched-seed trainer: each member is the same seed trained alone (dropout 0), members differ,
subsets and early stopping work per member, and bad input is refused."""

import pytest
import torch

from fusemix_lite.adapters import AdapterConfig, FusionModel
from fusemix_lite.ensemble import EnsembleFusionModel, train_ensemble
from fusemix_lite.evaluate import evaluate
from fusemix_lite.pairs import PairedLatents
from fusemix_lite.train import TrainConfig, train

from test_train import DA, DB, _problem

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfgs(dropout=0.0, width=None):
    return (AdapterConfig(DA, out_dim=32, depth=2, expansion=2, dropout=dropout, width=width),
            AdapterConfig(DB, out_dim=32, depth=1, expansion=2, dropout=dropout))


def _tc(**kw):
    return TrainConfig(**{"epochs": 3, "batch_size": 64, "device": "cpu", "progress": False, "lr": 3e-3, **kw})


def _close(a: FusionModel, b: FusionModel, atol=2e-5):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    worst = max(float((sa[k] - sb[k]).abs().max()) for k in sa)
    assert worst < atol, f"largest weight difference {worst}"


def test_members_start_as_the_seeded_single_models():
    cfg_a, cfg_b = _cfgs(width=16)
    ens = EnsembleFusionModel(cfg_a, cfg_b, [3, 4])
    for e, seed in enumerate([3, 4]):
        single = FusionModel(cfg_a, cfg_b, seed=seed)
        assert all(torch.equal(p, q) for p, q in zip(ens.member(e).state_dict().values(),
                                                     single.state_dict().values()))


@pytest.mark.parametrize("augment,mix_mode", [("fusemix", "halves"), ("fusemix", "permute"), ("none", "halves"),
                                              ("noise", "halves"), ("quantize", "halves")])
def test_each_member_equals_its_seed_trained_alone(augment, mix_mode):
    tr, va = _problem()
    cfg_a, cfg_b = _cfgs()
    seeds = [3, 4, 5]
    tc = _tc(augment=augment, mix_mode=mix_mode, noise_std=0.1)
    res = train_ensemble(cfg_a, cfg_b, seeds, tr, va, tc)
    assert res.seeds == seeds and res.epochs_done == 3
    for e, seed in enumerate(seeds):
        single = FusionModel(cfg_a, cfg_b, seed=seed)
        ref = train(single, tr, va, _tc(augment=augment, mix_mode=mix_mode, noise_std=0.1, seed=seed))
        _close(res.models[e], single)
        assert res.best_epoch[e] == ref.best_epoch
        assert res.best_score[e] == pytest.approx(ref.best_score, abs=1e-6)
        for h, r in zip(res.histories[e], ref.history):
            assert h["loss"] == pytest.approx(r["loss"], rel=1e-5)
            assert h["val_t2i_R@1"] == pytest.approx(r["val_t2i_R@1"])
    # the members are different models that learned
    w = [m.adapter_a.proj.weight for m in res.models]
    assert not torch.allclose(w[0], w[1])
    assert all(evaluate(m, va)["t2i_R@1"] > 6 for m in res.models)  # chance: 100 / 120 items = 0.8 %


def test_member_on_its_own_subset_equals_the_single_run_on_that_subset():
    tr, va = _problem()
    cfg_a, cfg_b = _cfgs()
    g = torch.Generator().manual_seed(0)
    subsets = [torch.randperm(tr.n_texts, generator=g)[:200] for _ in range(2)]
    res = train_ensemble(cfg_a, cfg_b, [7, 8], tr, None, _tc(epochs=2), subsets=subsets)
    for e, seed in enumerate([7, 8]):
        sub = subsets[e]
        part = tr.take_captions(sub, split="train")   # member e trains on these captions of tr
        single = FusionModel(cfg_a, cfg_b, seed=seed)
        train(single, part, None, _tc(epochs=2, seed=seed))
        _close(res.models[e], single)


def test_dropout_members_differ_and_are_reproducible():
    tr, va = _problem()
    cfg_a, cfg_b = _cfgs(dropout=0.2)
    one = train_ensemble(cfg_a, cfg_b, [1, 2], tr, va, _tc(epochs=2))
    two = train_ensemble(cfg_a, cfg_b, [1, 2], tr, va, _tc(epochs=2))
    for a, b in zip(one.models, two.models):
        assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(one.models[0].adapter_a.proj.weight, one.models[1].adapter_a.proj.weight)


def test_early_stopping_waits_for_every_member():
    tr, va = _problem()
    cfg_a, cfg_b = _cfgs()
    res = train_ensemble(cfg_a, cfg_b, [1, 2], tr, va, _tc(epochs=10, lr=1e-12, min_lr=0.0, patience=2))
    assert res.epochs_done == 3 and all(len(h) == 3 for h in res.histories) and res.best_epoch == [1, 1]


def test_bad_input():
    tr, va = _problem()
    cfg_a, cfg_b = _cfgs()
    with pytest.raises(ValueError, match="distinct seeds"):
        train_ensemble(cfg_a, cfg_b, [1, 1], tr, va, _tc())
    with pytest.raises(ValueError, match="one subset per seed"):
        train_ensemble(cfg_a, cfg_b, [1, 2], tr, va, _tc(), subsets=[torch.arange(100), torch.arange(90)])
    with pytest.raises(ValueError, match=r"subset indices must lie in \[0, 400\)"):
        train_ensemble(cfg_a, cfg_b, [1], tr, va, _tc(), subsets=[torch.arange(300, 500)])
    with pytest.raises(ValueError, match="'test' split"):
        train_ensemble(cfg_a, cfg_b, [1], tr, PairedLatents(va.items, va.texts, va.caption_item, split="test"), _tc())
    with pytest.raises(ValueError, match="warm-up"):
        train_ensemble(cfg_a, cfg_b, [1], tr, va, _tc(epochs=1, warmup_steps=5))
    wrong = AdapterConfig(DA + 1, out_dim=32, depth=1)
    with pytest.raises(ValueError, match=f"dim {DA}, adapter_a expects {DA + 1}"):
        train_ensemble(wrong, cfg_b, [1], tr, va, _tc())
