"""Time ``recall_at_k`` on COCO-5K-sized random data: 25,000 captions x 5,000 items.

Reports seconds and the peak resident memory added by the call (the full similarity matrix
would be 25,000 x 5,000 x 4 bytes = 500 MB). Each chunk size runs in a fresh subprocess so that
peak memory is measured per setting. Usage::

    python benchmarks/bench_retrieval.py [--dim 512] [--chunks 1024,4096,none]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import torch


def describe_device() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{platform.platform()}; {cpu} ({os.cpu_count()} cores, torch threads {torch.get_num_threads()}); "
            f"torch {torch.__version__}; load average {os.getloadavg()[0]:.1f}")


def run_one(n_items: int, n_texts: int, dim: int, chunk: int | None, device: str) -> dict:
    from fusemix_lite.retrieval import recall_at_k
    g = torch.Generator().manual_seed(0)
    items = torch.randn(n_items, dim, generator=g).to(device)
    cap = torch.arange(n_texts) % n_items                      # 5 captions per item
    texts = (items[cap.to(device)] + 3.0 * torch.randn(n_texts, dim, generator=g).to(device))
    recall_at_k(items[:50], texts[:250], cap[:250] % 50)       # warm-up
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    m = recall_at_k(items, texts, cap, chunk_size=chunk)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    extra_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    return {"chunk": chunk, "seconds": secs, "peak_extra_MB": extra_mb, "t2i_R@1": m["t2i_R@1"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--texts", type=int, default=25000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--chunks", default="1024,4096,none")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--one", help=argparse.SUPPRESS)          # internal: run one setting, print JSON
    args = ap.parse_args()
    if args.one is not None:
        chunk = None if args.one == "none" else int(args.one)
        print(json.dumps(run_one(args.items, args.texts, args.dim, chunk, args.device)))
        return
    print(describe_device())
    print(f"recall_at_k: {args.texts} captions x {args.items} items, dim {args.dim}, device {args.device}")
    print(f"{'chunk':>7}{'seconds':>10}{'peak +MB':>10}")
    for c in args.chunks.split(","):
        out = subprocess.run([sys.executable, __file__, "--one", c, "--items", str(args.items),
                              "--texts", str(args.texts), "--dim", str(args.dim), "--device", args.device],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{str(r['chunk']):>7}{r['seconds']:>10.2f}{r['peak_extra_MB']:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
