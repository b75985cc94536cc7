"""Seconds per epoch of the paper-size run on one GPU: two paper adapters (1536 -> 512 and
1024 -> 512, depth 4, expansion 4, about 110 M parameters), 5 M synthetic pairs of the paper's
dims, batch 40,960 loaded latents (20,480 mixed pairs), bf16 autocast, ``fusemix_lite.train``.

The latents are made on the GPU. 5 M pairs in fp32 take 51 GB (images alone 31 GB), so they are
stored in bf16 by default (25.6 GB); ``--storage fp32`` needs ``--n-pairs`` small enough to fit.
The paper reports fp32 on one 32 GB V100; this measures what the project's trainer does on the
device at hand. On a CPU it refuses, except for ``--dry-run`` (512 pairs, one-block adapters:
checks the code path only).

Usage (from the repository root)::

    python benchmarks/gpu_epoch.py                         # 5 M pairs, bf16, one timed epoch
    python benchmarks/gpu_epoch.py --n-pairs 2000000 --storage fp32 --compute fp32
    python benchmarks/gpu_epoch.py --device cpu --dry-run
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from fusemix_lite.adapters import AdapterConfig, FusionModel, count_parameters
from fusemix_lite.pairs import PairedLatents
from fusemix_lite.train import TrainConfig, train

DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def make_latents(n: int, dim: int, dtype: torch.dtype, device: torch.device, seed: int,
                 chunk: int = 1 << 18) -> torch.Tensor:
    """``n`` x ``dim`` standard-normal latents made on ``device`` in chunks, stored as ``dtype``."""
    g = torch.Generator(device=device).manual_seed(seed)
    out = torch.empty(n, dim, dtype=dtype, device=device)
    for s in range(0, n, chunk):
        rows = min(chunk, n - s)
        out[s:s + rows] = torch.randn(rows, dim, generator=g, device=device)
    return out


def check_fits(n: int, dims: tuple[int, int], dtype: torch.dtype, device: torch.device) -> float:
    """Bytes of the latents (GB); refuse if they would not leave room for the model on the GPU."""
    need = n * sum(dims) * torch.empty((), dtype=dtype).element_size()
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # the model, AdamW state, activations of one batch and the finiteness check need headroom
        if need + 12e9 > free:
            raise SystemExit(f"{n} pairs of dims {dims} in {dtype} take {need / 1e9:.1f} GB, the GPU has "
                             f"{free / 1e9:.1f} GB free (about 12 GB more are needed for training): "
                             "use --storage bf16 or a smaller --n-pairs")
    return need / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--n-pairs", type=int, default=5_000_000)
    ap.add_argument("--dims", default="1536,1024", help="latent dims of images,texts")
    ap.add_argument("--batch-size", type=int, default=40960, help="loaded latents per step")
    ap.add_argument("--storage", choices=tuple(DTYPES), default="bf16", help="dtype the latents are kept in")
    ap.add_argument("--compute", choices=tuple(DTYPES), default="bf16", help="bf16 autocast or plain fp32")
    ap.add_argument("--epochs", type=int, default=1, help="timed epochs (after one warm-up step)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes: check the code path (CPU allowed)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    if args.dry_run:
        args.n_pairs, args.batch_size = min(args.n_pairs, 512), min(args.batch_size, 128)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: this benchmark needs a GPU (or --device cpu --dry-run)")
    if args.device == "cpu" and not args.dry_run:
        raise SystemExit("refusing to run the paper-size epoch on a CPU (hours); pass --dry-run for "
                         "a tiny check of the code path")
    if args.storage == "bf16" and args.compute == "fp32":
        raise SystemExit("--compute fp32 needs --storage fp32 (the adapters' fp32 LayerNorm takes fp32 inputs)")
    if not 2 <= args.batch_size <= args.n_pairs:
        raise SystemExit(f"--batch-size must be in [2, --n-pairs={args.n_pairs}]")
    device = torch.device(args.device)
    dims = tuple(int(d) for d in args.dims.split(","))
    storage = DTYPES[args.storage]
    gb = check_fits(args.n_pairs, dims, storage, device)

    t0 = time.perf_counter()
    items = make_latents(args.n_pairs, dims[0], storage, device, args.seed)
    texts = make_latents(args.n_pairs, dims[1], storage, device, args.seed + 1)
    cap = torch.arange(args.n_pairs, device=device)
    pairs = PairedLatents(items, texts, cap, split="train")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    made = time.perf_counter() - t0

    torch.manual_seed(args.seed)
    if args.dry_run:  # one narrow block: the code path without the paper model's CPU cost
        model = FusionModel(AdapterConfig(dims[0], depth=1, expansion=1), AdapterConfig(dims[1], depth=1, expansion=1))
    else:
        model = FusionModel(AdapterConfig.paper(dims[0]), AdapterConfig.paper(dims[1]))
    common = dict(batch_size=args.batch_size, device=args.device, bf16=args.compute == "bf16",
                  compile=args.compile, progress=False, seed=args.seed)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print(f"{name}, torch {torch.__version__}; {count_parameters(model) / 1e6:.1f} M params; "
          f"{args.n_pairs:,} pairs {dims} stored in {args.storage} ({gb:.1f} GB, made in {made:.1f} s); "
          f"batch {args.batch_size} -> {args.batch_size // 2} mixed pairs; compute {args.compute}"
          f"{', compiled' if args.compile else ''}{'; DRY RUN' if args.dry_run else ''}", flush=True)

    warm = PairedLatents(items[:args.batch_size], texts[:args.batch_size], cap[:args.batch_size])
    t0 = time.perf_counter()
    train(model, warm, None, TrainConfig(epochs=1, **common))  # one step: kernels, allocator, compile
    print(f"warm-up step: {time.perf_counter() - t0:.1f} s", flush=True)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    result = train(model, pairs, None, TrainConfig(epochs=args.epochs, **common))
    steps = args.n_pairs // args.batch_size
    for row in result.history:
        print(f"epoch {row['epoch']}: {row['seconds']:.2f} s ({steps} steps, "
              f"{row['seconds'] / steps * 1e3:.1f} ms/step, {steps * args.batch_size / row['seconds']:,.0f} pairs/s), "
              f"loss {row['loss']:.3f}", flush=True)
    secs = sum(r["seconds"] for r in result.history) / len(result.history)
    print(f"seconds per epoch: {secs:.2f}; 500 epochs (the paper's run): {500 * secs / 3600:.1f} h")
    if device.type == "cuda":
        print(f"peak GPU memory during training: {torch.cuda.max_memory_allocated(device) / 1e9:.1f} GB")


if __name__ == "__main__":
    main()
