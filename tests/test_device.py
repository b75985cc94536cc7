"""The device rule (DESIGN.md, "Devices"), checked on the CPU with a fake accelerator.

``fake_device.fake_accelerator()`` gives a second device that raises like CUDA when an operation
mixes it with CPU tensors and when ``.numpy()`` meets it (see tests/fake_device.py). The first
tests show that it catches the mistakes issue #19 found in the chapters; the others check the
library's contract under it, and the chapters' patterns that rest on that contract.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fake_device import DEVICE, FakeDeviceTensor, fake_accelerator
from fusemix_lite.adapters import AdapterConfig, FusionModel
from fusemix_lite.ensemble import train_ensemble
from fusemix_lite.generator import condition_aligner
from fusemix_lite.evaluate import embed, evaluate
from fusemix_lite.pairs import PairedLatents
from fusemix_lite.train import TrainConfig, train

D_A, D_B = 12, 10
pytestmark = pytest.mark.usefixtures("one_thread")  # every op goes through Python: threads only cost here


def make_pairs(n: int, split: str, seed: int) -> PairedLatents:
    """Two captions per item, the second a noisy copy: a tiny split that can be learned."""
    g = torch.Generator().manual_seed(seed)
    items = torch.randn(n, D_A, generator=g)
    texts = items[:, :D_B] + 0.1 * torch.randn(n, D_B, generator=g)
    texts = torch.cat([texts, texts + 0.1 * torch.randn(n, D_B, generator=g)])
    return PairedLatents.from_arrays(items, texts, torch.arange(n).repeat(2), split=split)


@pytest.fixture(scope="module")
def data():
    return {s: make_pairs(n, s, seed) for s, n, seed in (("train", 48, 0), ("val", 16, 1), ("test", 16, 2))}


@pytest.fixture
def fake():
    with fake_accelerator() as dev:
        yield dev


def small_cfg(device, **kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 2, "batch_size": 16, "seed": 0, "device": str(device), "progress": False, **kw})


def tiny(in_dim: int) -> AdapterConfig:
    return AdapterConfig(in_dim, out_dim=16, depth=1, expansion=2, dropout=0.1, width=16)


def model(seed: int = 0) -> FusionModel:
    return FusionModel(tiny(D_A), tiny(D_B), seed=seed)


def on_fake(t: torch.Tensor) -> bool:
    return isinstance(t, FakeDeviceTensor) and t.device == DEVICE


def cpu_tensor(t) -> bool:
    return not isinstance(t, FakeDeviceTensor) and t.device.type == "cpu"


def params_on(m: torch.nn.Module, check) -> bool:
    return all(check(p) for p in m.parameters()) and all(check(b) for b in m.buffers())


# ---- the harness catches what a GPU would refuse ------------------------------------------------
def test_harness_raises_on_numpy_of_a_device_tensor(fake, data):
    m = model().to(fake)
    with torch.no_grad():
        out = m.encode_a(data["val"].items)  # CPU input is fine: encode_a moves it
    assert on_fake(out)
    with pytest.raises(TypeError, match="numpy"):
        out.numpy()
    with pytest.raises(TypeError, match="numpy"):
        np.asarray(out)
    assert np.allclose(out.cpu().numpy(), out.detach().to("cpu").numpy())


def test_harness_raises_on_cpu_latents_fed_to_a_device_model(fake, data):
    m = model().to(fake)
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        m.adapter_a(data["val"].items)  # an adapter called directly does not move its input
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        data["val"].items.to(fake) @ data["val"].items.T


def test_harness_raises_on_a_generator_of_the_other_device(fake):
    with pytest.raises(RuntimeError, match="device type for generator"):
        torch.randperm(8, generator=torch.Generator(device=fake).manual_seed(0))  # forgot device=
    with pytest.raises(RuntimeError, match="device type for generator"):
        torch.randperm(8, generator=torch.Generator().manual_seed(0), device=fake)


def test_harness_catches_the_chapters_old_mistake(fake, data):
    """Chapter 6 before the fix: the model stayed on the GPU after training, and the analysis code
    took ``.numpy()`` of its embeddings. Here a deliberately wrong ``train`` leaves it there."""

    def train_leaving_model_on_device(m, train_pairs, val_pairs, cfg):
        m.to(cfg.device)
        return train(m, train_pairs.to(cfg.device), val_pairs, cfg)

    it_model = model()
    train_leaving_model_on_device(it_model, data["train"], data["val"], small_cfg(fake))
    with torch.no_grad():
        img_emb, cap_emb = it_model.encode_a(data["test"].items), it_model.encode_b(data["test"].texts)
    with pytest.raises(TypeError, match="numpy"):
        torch.cat([img_emb, cap_emb]).numpy()  # umap_2d(torch.cat([img_emb, ...]).numpy())


def test_harness_allows_what_cuda_allows(fake):
    x = torch.arange(6.0).reshape(2, 3).to(fake)
    assert on_fake(x * torch.tensor(2.0))                       # a 0-d CPU tensor is a scalar
    assert on_fake(x[torch.tensor([1, 0])])                      # CPU indices
    y = torch.zeros(2, 3, device=fake)
    y[:, 1] = torch.tensor([5.0, 6.0])                          # copy_ moves data in
    assert y.cpu().tolist() == [[0.0, 5.0, 0.0], [0.0, 6.0, 0.0]]
    assert f"{x.sum():.1f}" == "15.0" and float(x.max()) == 5.0 and x.tolist()[1] == [3.0, 4.0, 5.0]
    assert cpu_tensor(x.cpu()) and cpu_tensor(x.to("cpu")) and on_fake(x.to(fake))


def test_harness_leaves_torch_as_it_was():
    real = torch.Generator
    with fake_accelerator() as dev:
        x = torch.ones(2, device=dev)
    assert torch.Generator is real and torch.Generator(device="cpu").device.type == "cpu"
    with pytest.raises(RuntimeError, match="outside fake_accelerator"):
        x + 1


# ---- the library's contract ------------------------------------------------------------------------
def test_train_on_the_device_matches_the_cpu_run(fake, data):
    """The harness changes where tensors say they are, not the numbers: a run on the fake device
    (CPU generators underneath) equals the same run on the CPU."""
    on_cpu, on_dev = model(), model()
    r_cpu = train(on_cpu, data["train"], data["val"], small_cfg("cpu"))
    r_dev = train(on_dev, data["train"], data["val"], small_cfg(fake))
    assert [h["loss"] for h in r_dev.history] == pytest.approx([h["loss"] for h in r_cpu.history], rel=1e-5)
    for p, q in zip(on_cpu.parameters(), on_dev.parameters()):
        assert torch.allclose(p, q, atol=1e-5)


def test_train_hands_the_model_back_where_it_was(fake, data):
    cpu_model = model()
    train(cpu_model, data["train"], data["val"], small_cfg(fake))  # trained on the device ...
    assert params_on(cpu_model, cpu_tensor)                          # ... handed back on the CPU
    dev_model = model().to(fake)
    result = train(dev_model, data["train"], data["val"], small_cfg(fake))
    assert params_on(dev_model, on_fake)                             # given on the device: kept there
    assert result.best_epoch is not None
    # a checkpointed run on the device, and its resume



def test_checkpointed_run_on_the_device_resumes(fake, data, tmp_path):
    m = model()
    train(m, data["train"], data["val"], small_cfg(fake, epochs=3), ckpt_dir=tmp_path, stop_after=1)
    again = train(m, data["train"], data["val"], small_cfg(fake, epochs=3), ckpt_dir=tmp_path, resume=True)
    assert again.epochs_done == 3 and again.best_epoch is not None and params_on(m, cpu_tensor)


def test_embed_and_evaluate_return_cpu_values(fake, data):
    m = model().to(fake)
    for pairs in (data["val"], data["val"].to(fake)):
        a, b = embed(m, pairs)
        assert cpu_tensor(a) and cpu_tensor(b) and a.shape[0] == 16 and b.shape[0] == 32
        metrics = evaluate(m, pairs)
        assert all(isinstance(v, float) for v in metrics.values())


def test_encode_accepts_inputs_on_any_device(fake, data):
    m = model().to(fake).eval()
    with torch.no_grad():
        from_cpu = m.encode_a(data["val"].items)
        from_dev = m.encode_a(data["val"].items.to(fake))
        assert on_fake(from_cpu) and torch.equal(from_cpu.cpu(), from_dev.cpu())
        assert on_fake(m.encode_b(data["val"].texts))
    cpu_model = model().eval()
    with torch.no_grad():
        assert cpu_tensor(cpu_model.encode_a(data["val"].items.to(fake)))  # a CPU model takes device inputs


def test_train_ensemble_returns_cpu_models(fake, data):
    res = train_ensemble(tiny(D_A), tiny(D_B), [0, 1], data["train"], data["val"],
                         small_cfg(fake))
    assert len(res.models) == 2
    for m in res.models:
        assert params_on(m, cpu_tensor)
        with torch.no_grad():
            assert cpu_tensor(m.encode_a(data["test"].items))
    assert all(s is not None for s in res.best_score)


# ---- the chapters' patterns (issue #19), with training on the device ----------------------------
def test_chapter_patterns_run_with_training_on_the_device(fake, data):
    # chapters 6 and 7: a model trained on the device, then analysed with numpy
    it_model = model()
    train(it_model, data["train"], data["val"], small_cfg(fake))
    with torch.no_grad():
        it_model.eval()
        e_img = it_model.encode_a(data["test"].items)      # it_model.encode_a(img.items)
        e_cap = it_model.encode_b(data["test"].texts)
    stacked = torch.cat([e_img, e_cap]).numpy()             # umap_2d(torch.cat([img_emb, ...]).numpy())
    assert stacked.shape == (16 + 32, e_img.shape[1])
    s = F.normalize(e_img.float(), dim=-1) @ F.normalize(e_cap.float(), dim=-1).T
    nn_idx = s.topk(3, dim=1).indices.numpy()               # knn_vote(...): topk(...).indices.numpy()
    assert nn_idx.shape == (16, 3)
    # chapter 8: the aligner trained on the device, then fed CPU latents; embed's output to numpy
    aligner = condition_aligner(D_A, D_B, width=16)
    train(aligner, data["train"], data["val"], small_cfg(fake))
    with torch.no_grad():
        aligner.eval()
        a_emb = aligner.encode_a(data["test"].items)        # aligner.encode_a(audio["test"].items)
    assert cpu_tensor(a_emb)
    a_test, t_test = embed(aligner, data["test"])
    own = (a_test[data["test"].caption_item] * t_test).sum(1)
    assert own.numpy().shape == (32,)                        # own.numpy()
    # and a model kept on the device: its outputs reach numpy through .cpu()
    kept = condition_aligner(D_A, D_B, width=16).to(fake)
    train(kept, data["train"], data["val"], small_cfg(fake))
    with torch.no_grad():
        assert kept.eval().encode_a(data["test"].items).cpu().numpy().shape == (16, D_B)


def test_augmentations_and_studies_run_on_the_device(fake, data):
    """The baselines' augmentations draw from the on-device generator; a study trains on the device
    and hands back CPU rows."""
    from fusemix_lite.studies import run_arms

    for augment in ("noise", "quantize", "none"):
        m = model()
        train(m, data["train"], data["val"], small_cfg(fake, augment=augment))
        assert params_on(m, cpu_tensor), augment
    rows = run_arms({"FuseMix": small_cfg(fake)}, [32], [0, 1], (tiny(D_A), tiny(D_B)),
                    data["train"], data["val"], data["test"], steps=4, progress=False)
    assert len(rows) == 2 and rows["t2i_R@1"].between(0, 100).all()
