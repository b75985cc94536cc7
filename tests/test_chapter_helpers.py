"""Helpers the chapters share live once, in the library (issue 15).

1. No two chapters define a function or class of the same name: a helper two chapters need is
   imported from ``fusemix_lite``. **The rule:** every code cell of every chapter is parsed with
   ``ast`` except the install cell (the first code cell, shell commands, checked by test_book.py);
   exercise solutions are parsed like any other cell, and a chapter that defines a name twice (a
   solution redoing the chapter's own function) counts once, so only a name defined by *two
   chapters* fails. Functions nested in functions count; methods of a chapter's class do not.
2. Each helper moved out of the chapters computes what the chapters' copies computed: the old
   copies are kept below, verbatim, and compared with the library on small inputs.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from fusemix_lite.adapters import AdapterConfig
from fusemix_lite.errors import UnknownNameError
from fusemix_lite.notebook import Results
from fusemix_lite.pairs import PairedLatents
from fusemix_lite.retrieval import mean_pairwise_cosine
from fusemix_lite.studies import decide, paired_difference, verdict

BOOK = Path(__file__).resolve().parents[1] / "book"


# ---- 1. one definition per name across chapters ---------------------------------------------------
def _python(source: str) -> str:
    """IPython magics and shell lines (``!cmd``, ``%magic``) as ``pass``, keeping indentation."""
    out = []
    for line in source.splitlines():
        stripped = line.lstrip()
        out.append(line[:len(line) - len(stripped)] + "pass" if stripped.startswith(("!", "%")) else line)
    return "\n".join(out)


def defined_names(source: str) -> set[str]:
    """Names of the functions and classes ``source`` defines (not the methods of its classes)."""
    tree = ast.parse(_python(source))
    methods = {id(node) for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef) for node in cls.body}
    return {node.name for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and id(node) not in methods}


def duplicate_definitions(notebooks: list[Path]) -> dict[str, list[str]]:
    """``{name: [chapters]}`` for every name defined by more than one chapter (rule: module docstring)."""
    where = defaultdict(set)
    for path in notebooks:
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        for i, cell in enumerate(cells[1:], start=1):        # cells[0]: the install cell
            source = "".join(cell["source"])
            try:
                names = defined_names(source)
            except SyntaxError as e:
                raise AssertionError(f"{path.name}, code cell {i} (id {cell.get('id')}) does not parse: {e}") from e
            for name in names:
                where[name].add(path.stem)
    return {name: sorted(chs) for name, chs in where.items() if len(chs) > 1}


def _notebook(path: Path, *sources: str) -> Path:
    cells = [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "outputs": [], "execution_count": None,
              "source": s} for i, s in enumerate(sources)]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_no_two_chapters_define_the_same_helper():
    chapters = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))
    assert len(chapters) >= 10
    duplicates = duplicate_definitions(chapters)
    assert not duplicates, ("defined in more than one chapter (move it to fusemix_lite, test it, import it; "
                            f"or rename it if the chapters mean different things): {duplicates}")


def test_the_duplicate_check_can_fail(tmp_path):
    install = 'if "google.colab" in sys.modules:\n    !pip install -q x'
    a = _notebook(tmp_path / "01_a.ipynb", install, "def subset(p, i):\n    return p\n\nclass Box:\n    def __init__(self): pass")
    b = _notebook(tmp_path / "02_b.ipynb", install, "for i in range(2):\n    def subset(p, i):\n        return p\n"
                  "class Other:\n    def __init__(self): pass")
    c = _notebook(tmp_path / "03_c.ipynb", install, "def own(x): return x", "# Solution 1\ndef own(x): return 2 * x")
    assert duplicate_definitions([a, b, c]) == {"subset": ["01_a", "02_b"]}   # methods and one chapter's redo: fine
    bad = _notebook(tmp_path / "04_d.ipynb", install, "def broken(:\n")
    with pytest.raises(AssertionError, match="04_d.ipynb, code cell 1"):
        duplicate_definitions([bad])


# ---- 2. the moved helpers against the chapters' old copies --------------------------------------
def _pairs(n_items=7, seed=0, captions=True, split="test") -> PairedLatents:
    g = torch.Generator().manual_seed(seed)
    cap = torch.tensor([3, 0, 1, 1, 6, 2, 0, 5, 4, 3, 6, 1])[:, None].flatten() % n_items   # unsorted, repeats
    texts = torch.randn(len(cap), 5, generator=g)
    return PairedLatents(torch.randn(n_items, 4, generator=g), texts, cap,
                         [f"caption {j}" for j in range(len(cap))] if captions else None,
                         [f"item{i}" for i in range(n_items)], split, "toy")


def _same(p: PairedLatents, q: PairedLatents) -> None:
    assert torch.equal(p.items, q.items) and torch.equal(p.texts, q.texts)
    assert torch.equal(p.caption_item, q.caption_item)
    assert (p.captions, p.item_ids, p.split, p.dataset) == (q.captions, q.item_ids, q.split, q.dataset)


def ch05_subset(p: PairedLatents, item_idx) -> PairedLatents:
    """Chapter 5's copy (cell d09a3c37), before issue 15."""
    item_idx = torch.as_tensor(np.sort(item_idx))
    new_index = torch.full((p.n_items,), -1, dtype=torch.long)
    new_index[item_idx] = torch.arange(len(item_idx))
    keep = new_index[p.caption_item.cpu()] >= 0
    caps = [c for c, k in zip(p.captions, keep.tolist()) if k] if p.captions else None
    return PairedLatents(p.items[item_idx], p.texts[keep], new_index[p.caption_item.cpu()][keep], caps,
                         [p.item_ids[i] for i in item_idx.tolist()] if p.item_ids else None, p.split, p.dataset)


def ch06_subset(p: PairedLatents, keep: list[int], split: str) -> PairedLatents:
    """Chapter 6's copy (cell 6eaa56a2); chapter 7's (cell ce8362a1) differed only in list(keep)."""
    keep_t = torch.as_tensor(keep)
    new_index = torch.full((p.n_items,), -1, dtype=torch.long)
    new_index[keep_t] = torch.arange(len(keep))
    rows = (new_index[p.caption_item] >= 0).nonzero().squeeze(1)
    return PairedLatents(p.items[keep_t], p.texts[rows], new_index[p.caption_item[rows]],
                         [p.captions[int(r)] for r in rows] if p.captions else None,
                         [p.item_ids[k] for k in keep] if p.item_ids else None, split, p.dataset)


def ch10_subset(p: PairedLatents, idx) -> PairedLatents:
    """Chapter 10's caption subset (before its redesign; chapter 9's also replaced texts/captions)."""
    idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
    return PairedLatents(p.items, p.texts[idx], p.caption_item[idx], None, p.item_ids, split="train",
                         dataset=p.dataset)


@pytest.mark.parametrize("captions", [True, False])
def test_take_items_is_the_chapters_subset(captions):
    p = _pairs(captions=captions)
    drawn = np.random.default_rng(0).choice(p.n_items, 4, replace=False)       # chapter 5: unsorted draw
    _same(p.take_items(np.sort(drawn)), ch05_subset(p, drawn))
    for keep in ([0, 2, 3, 6], [5, 1, 4]):                                        # chapters 6 and 7
        _same(p.take_items(keep, split="train"), ch06_subset(p, keep, "train"))
        _same(p.take_items(keep), ch06_subset(p, keep, p.split))
    one = p.take_items(torch.tensor([6]))
    assert one.n_items == 1 and one.n_texts == int((p.caption_item == 6).sum())
    assert one.item_ids == ["item6"] and torch.equal(one.caption_item, torch.zeros(one.n_texts, dtype=torch.long))


def test_take_captions_is_the_studies_subset():
    p = _pairs(split="train")
    rows = np.array([11, 0, 4, 4, 7])                                             # repeats allowed
    old = ch10_subset(p, rows)
    new = p.take_captions(rows)
    _same(dataclasses.replace(new, captions=None), old)
    assert new.captions == [p.captions[r] for r in rows]
    assert torch.equal(new.items, p.items) and new.item_ids == p.item_ids        # every item kept
    assert p.take_captions(torch.arange(3), split="val").split == "val"


@pytest.mark.parametrize("bad, match", [([0, 7], r"\[0, 7\)"), ([-1], r"\[0, 7\)"), ([0.0, 1.0], "integers"),
                                        ([[0, 1]], "1-D"), ([], "at least one"), ([2, 2], "repeat")])
def test_take_items_refuses_bad_indices(bad, match):
    with pytest.raises(ValueError, match=match):
        _pairs().take_items(bad)


@pytest.mark.parametrize("bad, match", [([12], r"\[0, 12\)"), (torch.tensor([True, False]), "integers"),
                                        ([], "at least one")])
def test_take_captions_refuses_bad_indices(bad, match):
    with pytest.raises(ValueError, match=match):
        _pairs().take_captions(bad)


def test_take_items_refuses_items_without_captions():
    p = PairedLatents(torch.randn(3, 2), torch.randn(2, 2), torch.tensor([0, 0]))
    with pytest.raises(ValueError, match="none of the chosen items has a caption"):
        p.take_items([1, 2])


def ch06_mean_pairwise_cosine(z: torch.Tensor) -> float:
    """Chapter 6's copy (cell 86aa49a1)."""
    z = F.normalize(z.float(), dim=-1)
    n = z.shape[0]
    s = z @ z.T
    return float((s.sum() - s.diagonal().sum()) / (n * (n - 1)))


def ch07_mean_pairwise_cosine(z: torch.Tensor) -> float:
    """Chapter 7's copy (cell 8fc54e64)."""
    s = F.normalize(z.float(), dim=-1) @ F.normalize(z.float(), dim=-1).T
    return float((s.sum() - s.trace()) / (len(s) * (len(s) - 1)))


def test_mean_pairwise_cosine_is_the_chapters():
    g = torch.Generator().manual_seed(0)
    for z in (torch.randn(9, 16, generator=g), torch.randn(30, 8, generator=g) + 3, torch.eye(4)):
        assert mean_pairwise_cosine(z) == ch06_mean_pairwise_cosine(z)
        assert mean_pairwise_cosine(z) == pytest.approx(ch07_mean_pairwise_cosine(z), rel=1e-6, abs=1e-7)
    assert mean_pairwise_cosine(torch.eye(4)) == 0.0
    assert mean_pairwise_cosine(torch.ones(3, 2)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2 rows"):
        mean_pairwise_cosine(torch.ones(1, 2))
    with pytest.raises(ValueError, match="NaN"):
        mean_pairwise_cosine(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))


def test_adapter_preset_is_the_chapters_choice():
    for name in ("cpu", "paper"):
        old = AdapterConfig.cpu(384) if name == "cpu" else AdapterConfig.paper(384)   # the chapters' line
        assert AdapterConfig.preset(name, 384) == old
    with pytest.raises(UnknownNameError, match="'gpu'.*paper, cpu"):
        AdapterConfig.preset("gpu", 384)


def test_save_figure_keeps_a_png_and_records_it(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = Results("test", {})
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    results.save_figure(fig, "line", None)                 # no folder: nothing written, nothing recorded
    assert "figure_line" not in results.values
    results.save_figure(fig, "line", tmp_path)
    plt.close(fig)
    assert results["figure_line"] == str(tmp_path / "line.png")
    assert (tmp_path / "line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def ch10_sentence(a: str, b: str, d) -> str:
    """Chapter 10's scoreboard sentence (cell c1b1e4c8), before issue 15."""
    ci = f"{d.mean:+.1f} points (95 % CI {d.low:+.1f} to {d.high:+.1f}, {d.n} paired seeds)"
    return {"reproduced": f"**reproduced**: {a} beat {b} by {ci}",
            "not reproduced": f"**not reproduced**: {a} did *worse* than {b}, by {ci}",
            "no detectable difference": f"**no detectable difference**: {a} minus {b} is {ci}; "
                                        "the interval contains zero"}[verdict(d)]


@pytest.mark.parametrize("shift, word", [(3.0, "reproduced"), (-3.0, "not reproduced"), (0.0, "no detectable difference")])
def test_decide_records_the_finding(shift, word):
    b = np.array([10.0, 12.0, 11.0, 13.0, 9.0])
    a = pd.Series(b + shift + np.array([0.3, -0.2, 0.1, -0.4, 0.2]) * (1 if shift else 10))
    results = Results("test", {})
    d, v = decide(results, "toy", "A beats B", "Fig. 0", a, b, "arm A", "arm B")
    assert v == word == verdict(paired_difference(a, b))
    assert d == paired_difference(a.to_numpy(), b)
    assert results["scoreboard_toy"] == ch10_sentence("arm A", "arm B", d)
    assert results["scoreboard"] == [{"key": "toy", "claim": "A beats B", "paper": "Fig. 0", "difference": d.mean,
                                      "low": d.low, "high": d.high, "n_seeds": 5, "verdict": v}]
    assert (results["sb_toy_diff"], results["sb_toy_verdict"]) == (d.mean, v)


def test_profile_pairs_asks_for_the_chapters_splits(monkeypatch):
    """The loading block chapters 4, 5, 9 and 10 had, per profile: which datasets and splits."""
    from fusemix_lite import prepare
    from fusemix_lite.profiles import get_profile

    asked = []

    class FakeDataset:
        def __init__(self, name):
            self.name = name

    monkeypatch.setattr(prepare.scenes, "build", lambda **kw: asked.append(("build", kw)) or FakeDataset("scenes"))
    monkeypatch.setattr(prepare, "get_dataset", lambda name: FakeDataset(name))
    monkeypatch.setattr(prepare, "paired_latents", lambda ds, splits, modality, a, b: (
        asked.append((ds.name, list(splits), modality, a, b)) or {s: f"{ds.name}/{s}" for s in splits}))

    off, full = get_profile("offline"), get_profile("full")
    ds, pairs = prepare.profile_pairs(off, 10, 5, 6, 4)
    assert asked == [("build", dict(seed=0, n_train=10, n_val=5, n_test=6, n_compositional=4)),
                     ("scenes", ["train", "val", "test"], "image", off.image_encoder, off.text_encoder)]
    assert ds.name == "scenes" and list(pairs) == ["train", "val", "test"]
    asked.clear()
    assert list(prepare.profile_pairs(off, 10, 5, 6, 4, compositional=True)[1]) == ["train", "val", "test",
                                                                                    "compositional"]
    assert list(prepare.profile_pairs(off, 10, 5, 6, 0, compositional=True)[1]) == ["train", "val", "test"]
    asked.clear()
    ds, pairs = prepare.profile_pairs(full, 10, 5, 6, 4, compositional=True)
    assert ds.name == full.image_text_dataset
    assert pairs == {"train": "coco/train", "val": "coco/val", "test": "flickr30k/test"}
    assert asked == [("coco", ["train", "val"], "image", full.image_encoder, full.text_encoder),
                     ("flickr30k", ["test"], "image", full.image_encoder, full.text_encoder)]


# ---- the study recipe: chapter 9's fit_members and the library's run_arms, before and after --------
def old_run_arms(arms, sizes, seeds, adapters, train_pairs, val_pairs, test_pairs, *, steps, eval_points=12):
    """studies.run_arms before issue 15 (its loop body, verbatim, without the progress bar)."""
    import math

    from fusemix_lite.ensemble import train_ensemble
    from fusemix_lite.retrieval import recall_at_k
    from fusemix_lite.studies import nested_subsets
    from fusemix_lite.evaluate import embed

    sizes, seeds = [int(s) for s in sizes], [int(s) for s in seeds]
    m = train_pairs.n_texts
    subsets = {s: nested_subsets(m, sizes, s) for s in seeds}
    rows = []
    for i, n in enumerate(sizes):
        for name, cfg in arms.items():
            bs = min(cfg.batch_size, n // 2)
            per_epoch = n // bs
            wanted = steps(n) if callable(steps) else int(steps)
            epochs = max(1, math.ceil(wanted / per_epoch))
            run_cfg = dataclasses.replace(cfg, batch_size=bs, epochs=epochs, progress=False,
                                          eval_every=max(1, epochs // eval_points))
            subs = [torch.as_tensor(subsets[s][i]) for s in seeds]
            res = train_ensemble(*adapters, seeds, train_pairs, val_pairs, run_cfg, subsets=subs)
            for e, (s, model) in enumerate(zip(seeds, res.models)):
                test = recall_at_k(*embed(model, test_pairs), test_pairs.caption_item.to(test_pairs.items.device))
                own = subs[e][:500].to(train_pairs.caption_item.device)
                items_used = torch.unique(train_pairs.caption_item[own])
                remap = torch.full((train_pairs.n_items,), -1, dtype=torch.long, device=items_used.device)
                remap[items_used] = torch.arange(len(items_used), device=items_used.device)
                a, b = embed(model, type(train_pairs)(train_pairs.items[items_used], train_pairs.texts[own],
                                                     remap[train_pairs.caption_item[own]]))
                seen = recall_at_k(a, b, remap[train_pairs.caption_item[own]].cpu())["t2i_R@1"]
                rows.append({"arm": name, "n_pairs": n, "seed": s, **test, "best_epoch": res.best_epoch[e],
                             "epochs": res.epochs_done, "steps": res.epochs_done * per_epoch,
                             "batch_size": bs, "val_score": res.best_score[e], "train_R@1": seen})
    return pd.DataFrame(rows)


def ch09_fit_members(pairs, subsets, arm, base, study_adapters, seeds, train_steps, val_pairs, test_pairs):
    """Chapter 9's fit_members (cell 80e83fb4) before issue 15, its globals made arguments."""
    import math

    from fusemix_lite.ensemble import train_ensemble
    from fusemix_lite.evaluate import evaluate

    size = len(subsets[0])
    bs = min(base.batch_size, size // 2)
    per_epoch = size // bs
    epochs = math.ceil(train_steps / per_epoch)
    cfg = dataclasses.replace(base, batch_size=bs, epochs=epochs, progress=False,
                              eval_every=max(1, epochs // 12))
    res = train_ensemble(*study_adapters, seeds, pairs, val_pairs, cfg,
                         subsets=[torch.as_tensor(np.asarray(s), dtype=torch.long) for s in subsets])
    rows = []
    for s, model, best in zip(seeds, res.models, res.best_epoch):
        test = evaluate(model, test_pairs)
        rows.append({"arm": arm, "seed": s, "t2i_R@1": test["t2i_R@1"], "i2t_R@1": test["i2t_R@1"],
                     "pairs": size, "steps": res.epochs_done * per_epoch, "batch_size": bs,
                     "best_epoch": best, "epochs": res.epochs_done})
    return rows


def _study_problem():
    from fusemix_lite.train import TrainConfig

    g = torch.Generator().manual_seed(3)
    items, texts = torch.randn(60, 12, generator=g), torch.randn(60, 10, generator=g)
    cap = torch.arange(60).repeat_interleave(2)
    tr = PairedLatents(items, texts.repeat_interleave(2, 0) + 0.3 * torch.randn(120, 10, generator=g), cap,
                       split="train")
    va = PairedLatents(items[:30] + 0.1, texts[:30], torch.arange(30), split="val")
    te = PairedLatents(items[30:] - 0.1, texts[30:], torch.arange(30), split="test")
    cfgs = (AdapterConfig(12, out_dim=8, depth=1, expansion=2, dropout=0.1, width=8),
            AdapterConfig(10, out_dim=8, depth=1, expansion=2, dropout=0.1, width=8))
    base = TrainConfig(batch_size=16, mix_mode="permute", augment="fusemix", lr=5e-3, device="cpu")
    return tr, va, te, cfgs, base


def test_run_arms_is_unchanged_and_run_members_is_chapter_9s_recipe():
    from fusemix_lite.studies import run_arms, run_members

    tr, va, te, cfgs, base = _study_problem()
    arms = {"FuseMix": base, "none": dataclasses.replace(base, augment="none")}
    new = run_arms(arms, [40, 100], [0, 1], cfgs, tr, va, te, steps=lambda n: 12, progress=False)
    pd.testing.assert_frame_equal(new, old_run_arms(arms, [40, 100], [0, 1], cfgs, tr, va, te, steps=lambda n: 12))

    subsets = [np.sort(np.random.default_rng(s).choice(tr.n_texts, 48, replace=False)) for s in (0, 1)]
    old = ch09_fit_members(tr, subsets, "H", base, cfgs, [0, 1], 10, va, te)
    rows = run_members(base, cfgs, [0, 1], tr, subsets, va, te, steps=10)
    assert len(rows) == len(old) == 2
    for o, r in zip(old, rows):
        assert {k: r[k] for k in ("seed", "t2i_R@1", "i2t_R@1", "steps", "batch_size", "best_epoch", "epochs")} == \
               {k: o[k] for k in ("seed", "t2i_R@1", "i2t_R@1", "steps", "batch_size", "best_epoch", "epochs")}
        assert r["n_pairs"] == o["pairs"] == 48
