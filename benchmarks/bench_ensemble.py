"""Seeds at the price of one run? ``train_ensemble`` (5 seeds as one batched model) against 5
sequential ``train()`` runs of the same steps, on random latents of the offline encoders' shapes.

Each measurement trains every seed for ``--steps`` optimiser steps (validation once at the end) and
is repeated ``--repeats`` times, alternating the two ways so that other load on the machine hits
both alike; the median is reported. Usage::

    python benchmarks/bench_ensemble.py                         # the study adapters of chapter 5
    python benchmarks/bench_ensemble.py --preset cpu --steps 20 # the CPU preset of chapter 4
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from fusemix_lite.adapters import AdapterConfig, FusionModel
from fusemix_lite.ensemble import train_ensemble
from fusemix_lite.pairs import PairedLatents
from fusemix_lite.train import TrainConfig, train

PRESETS = {
    "study": lambda d: AdapterConfig(d, out_dim=128, depth=1, expansion=2, dropout=0.1, width=128),
    "cpu": AdapterConfig.cpu,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", choices=list(PRESETS), default="study")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    n_items, d_a, d_b = 2000, 1280, 384
    items = torch.randn(n_items, d_a, generator=g)
    cap = torch.arange(n_items).repeat_interleave(5)
    texts = torch.randn(len(cap), d_b, generator=g)
    tr = PairedLatents(items, texts, cap, split="train")
    va = PairedLatents(items[:250], texts[:1250], cap[:1250], split="val")
    cfg_a, cfg_b = PRESETS[args.preset](d_a), PRESETS[args.preset](d_b)
    epochs = 1
    per_epoch = tr.n_texts // args.batch_size
    # a subset of exactly steps * batch captions makes one epoch = --steps steps
    sub = torch.arange(args.steps * args.batch_size)
    cfg = TrainConfig(epochs=epochs, batch_size=args.batch_size, mix_mode="permute", progress=False, device="cpu")
    seeds = list(range(args.seeds))
    part = PairedLatents(items, texts[sub], cap[sub], split="train")
    assert args.steps <= per_epoch, f"at most {per_epoch} steps with this batch"

    def batched():
        train_ensemble(cfg_a, cfg_b, seeds, tr, va, cfg, subsets=[sub] * len(seeds))

    def sequential():
        for s in seeds:
            train(FusionModel(cfg_a, cfg_b, seed=s), part, va, TrainConfig(**{**cfg.to_dict(), "seed": s}))

    batched(), sequential()  # warm-up: imports, allocator
    times = {"batched": [], "sequential": []}
    for _ in range(args.repeats):
        for name, fn in (("batched", batched), ("sequential", sequential)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    b, s = statistics.median(times["batched"]), statistics.median(times["sequential"])
    one = s / len(seeds)
    print(f"preset {args.preset}, {len(seeds)} seeds x {args.steps} steps at batch {args.batch_size}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"  {len(seeds)} sequential train() runs: {s:.2f} s (one run: {one:.2f} s)")
    print(f"  one train_ensemble of {len(seeds)}:       {b:.2f} s = {b / one:.2f} single runs, "
          f"{s / b:.2f}x faster than sequential")
    print(f"  all repeats (s): {times}")


if __name__ == "__main__":
    main()
