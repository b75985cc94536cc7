"""Training throughput (loaded pairs per second) of the paper-size and CPU-size adapters.

Runs the real ``train()`` loop on random latents: one warm-up call (imports, allocator), then a
timed call of ``--steps`` steps. Usage::

    python benchmarks/bench_train.py                       # CPU defaults: batch 1024, 3 steps
    python benchmarks/bench_train.py --batch-size 40960 --steps 20 --bf16   # on a GPU
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from fusemix_lite.adapters import AdapterConfig, FusionModel, count_parameters
from fusemix_lite.pairs import PairedLatents, resolve_device
from fusemix_lite.train import TrainConfig, train

CONFIGS = {
    "paper-1536/1024": (AdapterConfig.paper(1536), AdapterConfig.paper(1024)),
    "cpu-1536/1024": (AdapterConfig.cpu(1536), AdapterConfig.cpu(1024)),
    "cpu-1280/384": (AdapterConfig.cpu(1280), AdapterConfig.cpu(384)),   # offline encoders' dims
}


def describe_device(device: torch.device) -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    parts = [platform.platform(), f"{cpu} ({os.cpu_count()} cores, torch threads {torch.get_num_threads()})",
             f"torch {torch.__version__}"]
    if device.type == "cuda":
        parts.append(f"{torch.cuda.get_device_name(device)}")
    try:
        parts.append(f"load average {os.getloadavg()[0]:.1f}")
    except OSError:
        pass
    return "; ".join(parts)


def bench(name: str, batch_size: int, steps: int, device: torch.device, bf16: bool, compile: bool) -> dict:
    cfg_a, cfg_b = CONFIGS[name]
    g = torch.Generator().manual_seed(0)
    n = batch_size * steps
    pairs = PairedLatents.from_arrays(torch.randn(n, cfg_a.in_dim, generator=g),
                                      torch.randn(n, cfg_b.in_dim, generator=g), device=device)
    model = FusionModel(cfg_a, cfg_b)
    common = dict(batch_size=batch_size, device=str(device), bf16=bf16, compile=compile, progress=False)
    warm = PairedLatents(pairs.items[:batch_size], pairs.texts[:batch_size], pairs.caption_item[:batch_size])
    train(model, warm, None, TrainConfig(epochs=1, **common))                # warm-up: one step
    t0 = time.perf_counter()
    res = train(model, pairs, None, TrainConfig(epochs=1, **common))
    wall = time.perf_counter() - t0
    secs = res.history[0]["seconds"]
    return {"config": name, "params_M": count_parameters(model) / 1e6, "batch": batch_size, "steps": steps,
            "s_per_step": secs / steps, "pairs_per_s": n / secs, "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated: " + ", ".join(CONFIGS))
    ap.add_argument("--batch-size", type=int, default=1024, help="loaded pairs per step")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    device = resolve_device(args.device)
    print(describe_device(device))
    print(f"{'config':<18}{'params':>9}{'batch':>7}{'steps':>6}{'s/step':>9}{'pairs/s':>10}")
    for name in args.configs.split(","):
        r = bench(name, args.batch_size, args.steps, device, args.bf16, args.compile)
        print(f"{r['config']:<18}{r['params_M']:>8.1f}M{r['batch']:>7}{r['steps']:>6}"
              f"{r['s_per_step']:>9.3f}{r['pairs_per_s']:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
