"""Training: it learns, it is deterministic, it resumes exactly, it selects on val, and it refuses bad input."""

import json
import math

import pytest
import torch

from fusemix_lite.adapters import AdapterConfig, FusionModel
from fusemix_lite.evaluate import evaluate
from fusemix_lite.pairs import PairedLatents
from fusemix_lite.train import TrainConfig, load_weights, lr_at, param_groups, run_folder, train

DA, DB = 24, 16


pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread is faster


def _problem(n_train=320, n_val=120, seed=0):
    """y = random linear map of x plus noise; some items have two captions."""
    g = torch.Generator().manual_seed(seed)
    n = n_train + n_val
    x = torch.randn(n, DA, generator=g)
    w = torch.randn(DA, DB, generator=g) / DA ** 0.5
    cap = torch.cat([torch.arange(n), torch.arange(0, n, 4)])         # every 4th item: a 2nd caption
    y = x[cap] @ w + 0.3 * torch.randn(len(cap), DB, generator=g)

    def split(lo, hi, name):
        keep = (cap >= lo) & (cap < hi)
        return PairedLatents.from_arrays(x[lo:hi], y[keep], cap[keep] - lo, split=name)
    return split(0, n_train, "train"), split(n_train, n, "val")


def _model(seed=0):
    return FusionModel(AdapterConfig(DA, out_dim=32, depth=1, expansion=2, dropout=0.1),
                       AdapterConfig(DB, out_dim=32, depth=1, expansion=2, dropout=0.1), seed=seed)


def _cfg(**kw):
    return TrainConfig(**{"epochs": 4, "batch_size": 64, "device": "cpu", "progress": False, **kw})


def test_lr_schedule():
    cfg = _cfg(lr=1e-3, min_lr=1e-6, warmup_frac=0.1)
    lrs = [lr_at(s, cfg, 100) for s in range(101)]
    assert lrs[0] == pytest.approx(1e-6) and lrs[10] == pytest.approx(1e-3) and lrs[100] == pytest.approx(1e-6)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11])), "linear warm-up"
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])), "then decays"
    assert lrs[55] == pytest.approx((1e-3 + 1e-6) / 2), "cosine: half-way at mid-decay"


def test_warmup_is_a_fraction_of_the_run():
    """The rule: warm-up = round(warmup_frac * total steps), so a 10x longer run has the same
    schedule stretched 10x; an explicit warmup_steps (the paper's 100) is taken as given."""
    cfg = _cfg(warmup_frac=0.05)
    assert cfg.warmup(90) == 4 and cfg.warmup(61_000) == 3050
    for s in range(0, 100, 7):
        assert lr_at(10 * s, cfg, 1000) == pytest.approx(lr_at(s, cfg, 100))
    assert TrainConfig.paper().warmup(61_000) == 100
    assert lr_at(4, cfg, 90) == pytest.approx(cfg.lr), "the 90-step run leaves its warm-up at step 4"


def test_refuses_a_run_mostly_in_warmup():
    tr, _ = _problem()  # 400 pairs, batch 64: 6 steps an epoch
    with pytest.raises(ValueError, match=r"warm-up of 100 steps is 833 % of this 12-step run"):
        train(_model(), tr, None, _cfg(epochs=2, warmup_steps=100))
    with pytest.raises(ValueError, match="warmup_frac"):
        TrainConfig(warmup_frac=0.3)
    train(_model(), tr, None, _cfg(epochs=2, warmup_steps=3))  # 25 %: allowed


def test_same_seed_same_weights_whatever_ran_before():
    """A run's seed fixes everything random in it: two runs with one seed, after different amounts
    of unrelated random-number use, end with identical weights; another seed differs."""
    tr, _ = _problem()
    runs = []
    for unrelated, seed in ((0, 3), (1000, 3), (7, 4)):
        torch.rand(unrelated)  # an earlier cell, a re-run cell, another chapter's helper
        model = _model(seed=seed)
        train(model, tr, None, _cfg(epochs=2, seed=seed))
        runs.append(model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not any(torch.equal(runs[0][k], runs[2][k]) for k in runs[0] if runs[0][k].ndim == 2)


def test_train_leaves_the_global_rng_alone():
    tr, _ = _problem()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    model = _model(seed=1)
    train(model, tr, None, _cfg(epochs=1))
    assert torch.equal(torch.rand(3), expected)


def test_early_stopping_after_patience():
    tr, va = _problem()
    still = _cfg(epochs=10, lr=1e-12, min_lr=0.0, patience=2)  # nothing moves: no new best after epoch 1
    res = train(_model(), tr, va, still)
    assert res.epochs_done == 3 and len(res.history) == 3 and res.best_epoch == 1
    learning = train(_model(), tr, va, _cfg(epochs=6, lr=3e-3, batch_size=32, patience=2))
    assert learning.epochs_done == 6  # still improving: runs to the end


def test_weight_decay_only_on_matrices():
    m = _model()
    decay, other = param_groups(m, 0.1)
    assert decay["weight_decay"] == 0.1 and other["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"])
    assert any(p is m.temperature.tau for p in other["params"])
    assert any(p is m.adapter_a.norm.weight for p in other["params"])
    assert any(p is m.adapter_a.proj.bias for p in other["params"])
    assert sum(p.numel() for g in (decay, other) for p in g["params"]) == sum(p.numel() for p in m.parameters())


def test_training_raises_validation_recall_and_loads_best():
    tr, va = _problem()
    model = _model()
    before = evaluate(model, va)["t2i_R@1"]
    res = train(model, tr, va, _cfg(epochs=10, lr=3e-3, batch_size=32, select_metric="mean_recall"))
    assert len(res.history) == 10 and res.epochs_done == 10
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    after = evaluate(model, va)
    assert after["t2i_R@1"] > before + 40, (before, after["t2i_R@1"])     # about 1 % -> 70 %
    assert after["mean_recall"] == pytest.approx(res.best_score), "the best val epoch is loaded at the end"
    assert res.best_score == max(h["val_mean_recall"] for h in res.history)
    for key in ("loss", "lr", "temperature", "seconds", "val_t2i_R@1", "val_i2t_R@10"):
        assert key in res.history[0]


def test_deterministic_per_seed():
    tr, va = _problem()
    m1, m2, m3 = _model(), _model(), _model()
    train(m1, tr, None, _cfg(epochs=2))
    train(m2, tr, None, _cfg(epochs=2))
    train(m3, tr, None, _cfg(epochs=2, seed=1))
    s1, s2, s3 = m1.state_dict(), m2.state_dict(), m3.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert not all(torch.equal(s1[k], s3[k]) for k in s1)


def test_resume_equals_uninterrupted(tmp_path):
    tr, va = _problem()
    cfg = _cfg(epochs=4, eval_every=1)
    full = _model()
    ref = train(full, tr, va, cfg)
    part = _model()
    first = train(part, tr, va, cfg, ckpt_dir=tmp_path, stop_after=2)
    assert first.epochs_done == 2
    for p in tmp_path.rglob("*"):
        assert p.is_dir() or p.suffix in (".safetensors", ".json"), f"unexpected checkpoint file {p}"
    resumed = _model(seed=99)                                        # weights come from the checkpoint
    res = train(resumed, tr, va, _cfg(epochs=4, eval_every=1, progress=True, ckpt_every=3),
                ckpt_dir=tmp_path, resume=True)
    assert res.epochs_done == 4 and res.best_epoch == ref.best_epoch and res.best_score == ref.best_score
    drop = lambda hist: [{k: v for k, v in h.items() if k != "seconds"} for h in hist]  # noqa: E731
    assert drop(res.history) == drop(ref.history)
    sf, sr = full.state_dict(), resumed.state_dict()
    assert all(torch.equal(sf[k], sr[k]) for k in sf), "bit-identical to the uninterrupted run"
    # a finished run resumes to itself (a cache hit for a notebook re-run)
    again = _model(seed=5)
    assert train(again, tr, va, cfg, ckpt_dir=tmp_path, resume=True).history == res.history
    assert all(torch.equal(sf[k], again.state_dict()[k]) for k in sf)
    fresh = load_weights(_model(seed=7), tmp_path / "best")
    assert evaluate(fresh, va)[cfg.select_metric] == pytest.approx(res.best_score)


def test_resume_refuses_another_run(tmp_path):
    tr, va = _problem()
    train(_model(), tr, va, _cfg(epochs=2), ckpt_dir=tmp_path, stop_after=1)
    with pytest.raises(ValueError, match=r"TrainConfig.batch_size: 64 in the checkpoint, 32 now"):
        train(_model(), tr, va, _cfg(epochs=2, batch_size=32), ckpt_dir=tmp_path, resume=True)
    other = FusionModel(AdapterConfig(DA, out_dim=32, depth=2), AdapterConfig(DB, out_dim=32, depth=2))
    with pytest.raises(ValueError, match="model_config"):
        train(other, tr, va, _cfg(epochs=2), ckpt_dir=tmp_path, resume=True)
    with pytest.raises(FileExistsError, match="resume=True"):
        train(_model(), tr, va, _cfg(epochs=2), ckpt_dir=tmp_path)
    with pytest.raises(ValueError, match="needs the ckpt_dir"):
        train(_model(), tr, va, _cfg(), resume=True)
    meta = json.loads((tmp_path / "last" / "state.json").read_text())
    assert meta["epoch"] == 1 and meta["train_config"]["batch_size"] == 64


@pytest.mark.parametrize("kw", [dict(augment="noise", noise_std=0.5), dict(augment="quantize"),
                                dict(augment="fusemix"), dict(augment="fusemix", mix_mode="permute", alpha=0.4)])
def test_other_augmentations_train(kw):
    """Each augmentation trains and really changes what the model sees: its first-epoch loss and
    weights differ from the same seed's run without augmentation."""
    tr, _ = _problem()
    plain, model = _model(), _model()
    ref = train(plain, tr, None, _cfg(epochs=1, augment="none"))
    res = train(model, tr, None, _cfg(epochs=1, **kw))
    assert math.isfinite(res.history[0]["loss"]) and res.best_epoch == 1 and res.best_score is None
    assert res.history[0]["loss"] != ref.history[0]["loss"]
    assert not torch.equal(model.adapter_a.proj.weight, plain.adapter_a.proj.weight)


def test_refuses_selection_on_test_split():
    tr, va = _problem()
    test = PairedLatents(va.items, va.texts, va.caption_item, split="test")
    with pytest.raises(ValueError, match="'test' split"):
        train(_model(), tr, test, _cfg())


def test_bad_inputs():
    tr, va = _problem()
    with pytest.raises(ValueError, match="batch_size 1000 is larger than the 400 training pairs"):
        train(_model(), tr, va, _cfg(batch_size=1000))
    wrong = PairedLatents.from_arrays(torch.randn(10, DA + 1), torch.randn(10, DB))
    with pytest.raises(ValueError, match=f"dim {DA + 1}.*expects {DA}"):
        train(_model(), wrong, None, _cfg(batch_size=4))
    with pytest.raises(ValueError, match="NaN or Inf"):
        PairedLatents.from_arrays(torch.full((4, DA), float("nan")), torch.randn(4, DB))
    with pytest.raises(ValueError, match="empty split"):
        PairedLatents.from_arrays(torch.randn(0, DA), torch.randn(0, DB))
    with pytest.raises(ValueError, match="augment"):
        TrainConfig(augment="cutmix")
    with pytest.raises(ValueError, match="alpha"):
        TrainConfig(alpha=0.0)
    with pytest.raises(ValueError, match="select_metric"):
        TrainConfig(select_metric="t2i_mean_rank")
    with pytest.raises(ValueError, match="min_lr"):
        TrainConfig(lr=1e-3, min_lr=1e-2)


def test_run_folder_is_named_by_what_decides_the_run(tmp_path):
    tr, va = _problem()
    base = run_folder(_model(seed=1), tr, _cfg(), tmp_path)
    assert base.parent == tmp_path and base == run_folder(_model(seed=1), tr, _cfg(progress=True), tmp_path)
    other_data = PairedLatents(tr.items, tr.texts + 1e-3, tr.caption_item, split="train")
    for changed in (run_folder(_model(seed=2), tr, _cfg(), tmp_path),
                    run_folder(_model(seed=1), tr, _cfg(epochs=5), tmp_path),
                    run_folder(_model(seed=1), other_data, _cfg(), tmp_path)):
        assert changed != base
    # the folder is a cache: the second train() with resume reloads the same best weights
    m1, m2 = _model(seed=1), _model(seed=1)
    r1 = train(m1, tr, va, _cfg(epochs=2), ckpt_dir=run_folder(m1, tr, _cfg(epochs=2), tmp_path), resume=True)
    r2 = train(m2, tr, va, _cfg(epochs=2), ckpt_dir=run_folder(m2, tr, _cfg(epochs=2), tmp_path), resume=True)
    assert r1.history == r2.history and torch.equal(m1.adapter_a.proj.weight, m2.adapter_a.proj.weight)


@pytest.mark.parametrize("kw", [{}, {"lr": 0.2, "warmup_frac": 0.0}])  # the second drives tau past 0.5
def test_clamp_after_the_step_is_the_old_clamp_before_use(kw):
    """The temperature used to be clamped inside ``forward`` (before use); ``train_step`` clamps it
    after the optimiser step instead. Same arithmetic: a loop written the old way gives
    bit-identical weights (tau compared once clamped)."""
    from fusemix_lite.loss import clip_loss
    from fusemix_lite.train import augmented_batch

    tr, _ = _problem()
    cfg = _cfg(epochs=2, **kw)
    new = _model(seed=3)
    train(new, tr, None, cfg)

    old = _model(seed=3)
    opt = torch.optim.AdamW(param_groups(old, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas)
    gens = {"host": torch.Generator().manual_seed(cfg.seed), "device": torch.Generator().manual_seed(cfg.seed + 1)}
    steps, total = tr.n_texts // cfg.batch_size, cfg.epochs * (tr.n_texts // cfg.batch_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        old.train()
        for epoch in range(cfg.epochs):
            perm = torch.randperm(tr.n_texts, generator=gens["device"])
            for s in range(steps):
                x, y = augmented_batch(tr.items, tr.texts, tr.caption_item, perm[s * 64:(s + 1) * 64], cfg, gens)
                for g in opt.param_groups:
                    g["lr"] = lr_at(epoch * steps + s, cfg, total)
                with torch.no_grad():
                    old.temperature.tau.clamp_(0.001, 0.5)               # the old place of the clamp
                loss = clip_loss(old.encode_a(x), old.encode_b(y), old.temperature.tau)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    old.temperature.clamp_()
    if kw:
        assert new.temperature.tau.item() == 0.5, "this run ends at the upper bound: the clamp was exercised"
    for (name, p), q in zip(old.state_dict().items(), new.state_dict().values()):
        assert torch.equal(p, q), name


def test_train_step_is_short_and_has_no_hidden_parts():
    """Chapter 4 prints ``train_step``'s source as the whole step: keep it short and complete."""
    import inspect

    from fusemix_lite.train import train_step
    src = inspect.getsource(train_step)
    assert len(src.splitlines()) <= 20
    for part in ("augmented_batch", "encode_a", "clip_loss", "backward", "opt.step", "clamp_"):
        assert part in src, part


def test_bind_trains_only_the_new_side_and_keeps_the_frozen_one_bit_identical():
    """``bind``: a new adapter against a frozen copy of a trained one. Training keeps the copy in
    eval mode with no gradients, its weights bit-identical, and pulls the new side into its space."""
    from fusemix_lite.adapters import bind

    tr, va = _problem()
    teacher = _model(seed=1)
    train(teacher, tr, va, _cfg(epochs=6, lr=3e-3))
    audio = bind(AdapterConfig(DA, out_dim=32, depth=1, expansion=2, dropout=0.1), teacher.adapter_b, seed=4)
    assert audio.adapter_b is not teacher.adapter_b and audio.frozen == ("b",)
    before = {k: v.clone() for k, v in audio.adapter_b.state_dict().items()}
    a_before = {k: v.clone() for k, v in audio.adapter_a.state_dict().items()}
    modes = []
    hook = audio.adapter_b.register_forward_hook(lambda m, i, o: modes.append(m.training))
    score_before = evaluate(audio, va)["t2i_R@1"]
    res = train(audio, tr, va, _cfg(epochs=6, lr=3e-3))
    hook.remove()
    assert modes and not any(modes), "the frozen side ran in eval mode at every step"
    assert all(not p.requires_grad for p in audio.adapter_b.parameters())
    for k, v in audio.adapter_b.state_dict().items():
        assert torch.equal(v, before[k]), k
    for k, v in teacher.adapter_b.state_dict().items():
        assert torch.equal(v, before[k]), f"the teacher is untouched too: {k}"
    assert any(not torch.equal(v, a_before[k]) for k, v in audio.adapter_a.state_dict().items())
    chance = 100 / va.n_items
    assert res.best_score > max(score_before, 0) + 4 * chance  # the new side learned to meet the frozen one
    audio.train()
    assert audio.adapter_a.training and not audio.adapter_b.training
    with pytest.raises(ValueError, match="side must be"):
        audio.freeze("c")


def test_run_folder_of_a_bound_model_depends_on_its_frozen_weights(tmp_path):
    from fusemix_lite.adapters import bind

    tr, _ = _problem()
    cfg_a = AdapterConfig(DA, out_dim=32, depth=1, expansion=2, dropout=0.1)
    one, two = _model(seed=1), _model(seed=2)
    f1 = run_folder(bind(cfg_a, one.adapter_b, seed=0), tr, _cfg(), tmp_path)
    assert f1 == run_folder(bind(cfg_a, one.adapter_b, seed=0), tr, _cfg(), tmp_path)
    assert f1 != run_folder(bind(cfg_a, two.adapter_b, seed=0), tr, _cfg(), tmp_path)
