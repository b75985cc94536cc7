"""The official training loop, literally, against the project's trainer: pairs/s and time to a
target validation R@1, on the same synthetic latents, the same model and the same initial weights.

The reference follows the official recipe (layer6ai-labs/fusemix, a LAVIS fork) as written:

- the latent cache is a dict id -> 1-D fp32 tensor on the CPU (``FeaturePairDataset``);
- a ``DataLoader`` (shuffle, ``default_collate``) assembles every batch by indexing the dict and
  ``torch.stack``-ing, and the batch is sent to the device each step (``pin_memory`` on CUDA);
- FuseMix as in ``MLPContrastiveFusion.forward``: ``batch.chunk(2)``, ``lam = np.random.beta(a, a)``;
- LAVIS's ``LinearWarmupCosineLRScheduler``: linear warm-up inside epoch 0 only, then a cosine
  step per **epoch**; AdamW with weight decay on weight matrices only; fp32.

The project's ``fusemix_lite.train.train`` moves all latents to the device once and indexes them
there with an on-device permutation (per-step cosine schedule). Both warm up over
``--warmup-steps`` (default: one epoch's steps, so that the two schedules nearly coincide).
Training seconds exclude evaluation; both evaluate with ``fusemix_lite.evaluate.evaluate``.

Usage (from the repository root)::

    python benchmarks/bench_reference_loop.py --device cpu            # under a minute on 2 quiet cores
    python benchmarks/bench_reference_loop.py --device cuda --preset paper --dims 1536,1024 \\
        --n-train 409600 --batch-size 40960 --epochs 20 --target 60
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from fusemix_lite.adapters import AdapterConfig, FusionModel, count_parameters
from fusemix_lite.evaluate import evaluate
from fusemix_lite.pairs import PairedLatents
from fusemix_lite.train import TrainConfig, param_groups, train


# ---- data -------------------------------------------------------------------------------------
def synthetic_latents(n: int, dim_a: int, dim_b: int, rank: int = 32, noise_std: float = 1.6,
                      seed: int = 0, maps_seed: int = 1234) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` paired latents sharing a ``rank``-d factor z: ``x = tanh(z W_a) + noise``,
    ``y = tanh(z W_b) + noise`` (fixed maps from ``maps_seed``; pairs from ``seed``). The noise
    caps the attainable R@1, so learning curves rise over several epochs instead of saturating."""
    g = torch.Generator().manual_seed(maps_seed)
    w_a = torch.randn(rank, dim_a, generator=g) / math.sqrt(rank)
    w_b = torch.randn(rank, dim_b, generator=g) / math.sqrt(rank)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, rank, generator=g)
    x = torch.tanh(z @ w_a) + noise_std * torch.randn(n, dim_a, generator=g)
    y = torch.tanh(z @ w_b) + noise_std * torch.randn(n, dim_b, generator=g)
    return x, y


class FeaturePairCache(Dataset):
    """The official cache: a dict id -> 1-D tensor per modality, one pair per id."""

    def __init__(self, items: torch.Tensor, texts: torch.Tensor):
        self.vis_feats = {str(i): items[i].clone() for i in range(items.shape[0])}
        self.text_feats = {str(i): texts[i].clone() for i in range(texts.shape[0])}

    def __len__(self) -> int:
        return len(self.vis_feats)

    def __getitem__(self, index: int) -> dict:
        return {"vis_embed": self.vis_feats[str(index)], "text_embed": self.text_feats[str(index)]}


# ---- the reference loop -----------------------------------------------------------------------
def lavis_lr(epoch: int, step: int, max_epoch: int, lr: float, min_lr: float, warmup_steps: int,
             warmup_start_lr: float) -> float:
    """LAVIS ``LinearWarmupCosineLRScheduler.step(cur_epoch, cur_step)``."""
    if epoch == 0:
        return min(lr, warmup_start_lr + (lr - warmup_start_lr) * step / max(warmup_steps, 1))
    return (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * epoch / max_epoch)) + min_lr


def reference_loss(model: FusionModel, x: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """``MLPContrastiveFusion.forward``: mix the batch's two halves with one numpy Beta draw."""
    x1, x2 = x.chunk(2)
    y1, y2 = y.chunk(2)
    lam = np.random.beta(alpha, alpha)
    return model(lam * x1 + (1 - lam) * x2, lam * y1 + (1 - lam) * y2)


def reference_train(model: FusionModel, cache: FeaturePairCache, val: PairedLatents, cfg: TrainConfig,
                    device: torch.device, workers: int = 0) -> list[dict]:
    """Train as the official runner does; returns one history row per epoch (like ``train``)."""
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    loader = DataLoader(cache, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                        num_workers=workers, pin_memory=device.type == "cuda",
                        generator=torch.Generator().manual_seed(cfg.seed))
    model.to(device)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas)
    history = []
    for epoch in range(cfg.epochs):
        model.train()
        t0 = time.perf_counter()
        loss_sum = 0.0
        for step, batch in enumerate(loader):
            x = batch["vis_embed"].to(device, non_blocking=True)
            y = batch["text_embed"].to(device, non_blocking=True)
            for g in opt.param_groups:
                g["lr"] = lavis_lr(epoch, step, cfg.epochs, cfg.lr, cfg.min_lr, cfg.warmup_steps, cfg.min_lr)
            loss = reference_loss(model, x, y, cfg.alpha)
            opt.zero_grad()
            loss.backward()
            opt.step()
            model.temperature.clamp_()
            loss_sum += loss.item()  # the official MetricLogger reads the loss every step
        seconds = time.perf_counter() - t0
        metrics = evaluate(model, val)
        history.append({"epoch": epoch + 1, "loss": loss_sum / len(loader), "seconds": seconds,
                        **{f"val_{k}": v for k, v in metrics.items()}})
    return history


# ---- the project's trainer --------------------------------------------------------------------
def project_train(model: FusionModel, train_pairs: PairedLatents, val: PairedLatents,
                  cfg: TrainConfig) -> list[dict]:
    """``fusemix_lite.train.train`` (data moved to the device once)."""
    return train(model, train_pairs, val, cfg).history


# ---- comparison -------------------------------------------------------------------------------
def summarise_run(name: str, history: list[dict], n_pairs: int, metric: str, target: float) -> dict:
    """pairs/s over all epochs and the training time until ``metric`` first reaches ``target``."""
    seconds = [row["seconds"] for row in history]
    scores = [row[f"val_{metric}"] for row in history]
    hit = next((i for i, s in enumerate(scores) if s >= target), None)
    return {"loop": name, "epochs": len(history), "s_per_epoch": float(np.mean(seconds)),
            "pairs_per_s": n_pairs * len(history) / sum(seconds), "best": max(scores),
            "epochs_to_target": None if hit is None else hit + 1,
            "s_to_target": None if hit is None else float(sum(seconds[:hit + 1])),
            "curve": [round(s, 2) for s in scores]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--preset", choices=("cpu", "paper"), default="cpu", help="AdapterConfig preset")
    ap.add_argument("--dims", default="384,384", help="latent dims of modality a,b (paper: 1536,1024)")
    ap.add_argument("--n-train", type=int, default=16384)
    ap.add_argument("--n-val", type=int, default=1000)
    ap.add_argument("--noise-std", type=float, default=1.6, help="per-dimension noise of the latents")
    ap.add_argument("--batch-size", type=int, default=1024, help="loaded pairs per step")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--warmup-steps", type=int, default=None, help="default: one epoch's steps")
    ap.add_argument("--metric", default="t2i_R@1")
    ap.add_argument("--target", type=float, default=50.0, help="validation score to reach (percent)")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers of the reference loop")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--only", choices=("reference", "project"), default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available here; use --device cpu")
    device = torch.device(args.device)
    dim_a, dim_b = (int(d) for d in args.dims.split(","))
    if args.batch_size > args.n_train or args.batch_size < 2 or args.batch_size % 2:
        raise SystemExit(f"--batch-size must be even and in [2, --n-train={args.n_train}]")

    x, y = synthetic_latents(args.n_train, dim_a, dim_b, noise_std=args.noise_std, seed=args.seed)
    xv, yv = synthetic_latents(args.n_val, dim_a, dim_b, noise_std=args.noise_std, seed=args.seed + 1)
    val = PairedLatents.from_arrays(xv, yv, split="val").to(device)
    preset = getattr(AdapterConfig, args.preset)
    steps = args.n_train // args.batch_size
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, device=args.device,
                      warmup_steps=steps if args.warmup_steps is None else args.warmup_steps,
                      select_metric=args.metric, progress=False)

    def fresh_model() -> FusionModel:
        torch.manual_seed(args.seed)  # identical initial weights for both loops
        return FusionModel(preset(dim_a), preset(dim_b))

    model = fresh_model()
    print(f"device {device}{' (' + torch.cuda.get_device_name(device) + ')' if device.type == 'cuda' else ''}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}; "
          f"{args.preset} adapters {dim_a}/{dim_b} ({count_parameters(model) / 1e6:.1f} M params); "
          f"{args.n_train} train / {args.n_val} val pairs, batch {args.batch_size}, {args.epochs} epochs; "
          f"target {args.metric} >= {args.target}", flush=True)
    n_pairs = steps * args.batch_size
    results = []
    if args.only in (None, "reference"):
        history = reference_train(model, FeaturePairCache(x, y), val, cfg, device, args.workers)
        results.append(summarise_run("reference (official)", history, n_pairs, args.metric, args.target))
    if args.only in (None, "project"):
        history = project_train(fresh_model(), PairedLatents.from_arrays(x, y, split="train"), val, cfg)
        results.append(summarise_run("fusemix_lite.train", history, n_pairs, args.metric, args.target))

    print(f"\n{'loop':<22}{'s/epoch':>9}{'pairs/s':>11}{'best':>7}{'ep->tgt':>9}{'s->tgt':>9}   curve")
    for r in results:
        tgt_s = "-" if r["s_to_target"] is None else f"{r['s_to_target']:.1f}"
        tgt_e = "-" if r["epochs_to_target"] is None else str(r["epochs_to_target"])
        print(f"{r['loop']:<22}{r['s_per_epoch']:>9.2f}{r['pairs_per_s']:>11.0f}{r['best']:>7.1f}"
              f"{tgt_e:>9}{tgt_s:>9}   {r['curve']}")
    if len(results) == 2:
        ref, ours = results
        print(f"\nthroughput, fusemix_lite.train / reference: {ours['pairs_per_s'] / ref['pairs_per_s']:.2f}x")
        if ref["s_to_target"] and ours["s_to_target"]:
            print(f"time to target, reference / fusemix_lite.train: {ref['s_to_target'] / ours['s_to_target']:.2f}x")
    if args.json is not None:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1))
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
