"""Extraction throughput against the encoder's bare forward throughput.

For each encoder: build a small dataset on disk (PIL-drawn 224 px PNGs, captions, or 16 kHz WAVs),
load the encoder once, then time

* *bare*: ``encode_batch`` on one pre-collated batch, repeated (the model alone, items/s);
* *extract*: ``extract()`` into a fresh store (reading files, preparing, DataLoader, encoding,
  shards, merge), with the model already loaded (items/s);

and report extract / bare (goal >= 90%). Bare is measured before and after extraction and averaged,
because the machine may be shared. Run from the repository root:

    python benchmarks/bench_extract.py                          # all three, default sizes
    python benchmarks/bench_extract.py --encoders minilm-l6 --n-text 4096 --workers 0 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fusemix_lite.data.format import Item, PairedDataset  # noqa: E402
from fusemix_lite.encoders import get_encoder  # noqa: E402
from fusemix_lite.extract import extract, read_audio, read_image  # noqa: E402
from fusemix_lite.store import LatentStore  # noqa: E402

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white"]
SHAPES = ["circle", "square", "triangle"]


def make_images(root: Path, n: int) -> PairedDataset:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        bg, fg = rng.choice(COLOURS, 2, replace=False)
        shape = SHAPES[i % 3]
        im = Image.new("RGB", (224, 224), str(bg))
        x, y, s = (int(v) for v in rng.integers(20, 120, 3))
        box = [x, y, x + s, y + s]
        d = ImageDraw.Draw(im)
        if shape == "circle":
            d.ellipse(box, fill=str(fg))
        elif shape == "square":
            d.rectangle(box, fill=str(fg))
        else:
            d.polygon([(x, y + s), (x + s, y + s), (x + s // 2, y)], fill=str(fg))
        im.save(root / "img" / f"{i}.png")
        items.append(Item(f"i{i}", "train", [f"a {fg} {shape} on {bg}"], image=f"img/{i}.png"))
    return PairedDataset.from_items("bench-images", root, items)


def make_captions(root: Path, n: int) -> PairedDataset:
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        k = int(rng.integers(1, 4))
        objs = [f"a {rng.choice(['small', 'large', ''])} {rng.choice(COLOURS)} {rng.choice(SHAPES)}" for _ in range(k)]
        items.append(Item(f"c{i}", "train", [" and ".join(objs) + f" on a {rng.choice(COLOURS)} background"]))
    return PairedDataset.from_items("bench-captions", root, items)


def make_audio(root: Path, n: int) -> PairedDataset:
    import soundfile as sf

    (root / "wav").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        text = f"a {rng.choice(COLOURS)} {rng.choice(SHAPES)} next to a {rng.choice(COLOURS)} {rng.choice(SHAPES)}"
        path = root / "wav" / f"{i}.wav"
        if shutil.which("espeak-ng"):
            subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
        else:
            t = np.arange(int(16000 * 2.5)) / 16000
            sf.write(path, (0.2 * np.sin(2 * np.pi * (200 + 10 * i) * t)).astype(np.float32), 16000)
        items.append(Item(f"a{i}", "train", [text], audio=f"wav/{i}.wav"))
    return PairedDataset.from_items("bench-audio", root, items)


def raw_items(ds: PairedDataset, modality: str, n: int) -> list:
    items = ds.items[:n]
    if modality == "image":
        return [read_image(ds.root / it.image) for it in items]
    if modality == "audio":
        return [read_audio(ds.root / it.audio) for it in items]
    return [it.captions[0] for it in items]


def bare_rate(enc, batch, n_items: int, min_time: float) -> float:
    """Items/s of ``encode_batch`` on one pre-collated batch (after a warm-up call)."""
    enc.encode_batch(batch)
    reps, t0 = 0, time.perf_counter()
    while True:
        enc.encode_batch(batch)
        reps += 1
        if time.perf_counter() - t0 >= min_time:
            return reps * n_items / (time.perf_counter() - t0)


def bench(name: str, ds: PairedDataset, batch_size: int, workers: list[int], min_time: float) -> list[dict]:
    enc = get_encoder(name)
    modality = enc.modality
    t = time.perf_counter()
    enc.load("cpu")
    _ = enc.weights_id
    load_s = time.perf_counter() - t
    n_rows = len(ds.split("train").captions()[0]) if modality == "text" else len(ds.items)
    sample = raw_items(ds, modality, batch_size)
    batch = enc.collate([enc.prepare(r) for r in sample])
    rows = []
    for w in workers:
        before = bare_rate(enc, batch, len(sample), min_time)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            extract(ds, "train", modality, enc, LatentStore(tmp), batch_size=batch_size, num_workers=w,
                    device="cpu", progress=False, unload=False)
            ex_s = time.perf_counter() - t
        after = bare_rate(enc, batch, len(sample), min_time)
        bare = statistics.mean([before, after])
        rows.append({"encoder": name, "items": n_rows, "batch": batch_size, "workers": w, "load_s": load_s,
                     "bare": bare, "bare_before": before, "bare_after": after, "extract": n_rows / ex_s,
                     "ratio": n_rows / ex_s / bare})
        print(f"{name:18s} items {n_rows:5d} batch {batch_size:3d} workers {w}: bare {bare:8.1f}/s "
              f"(before {before:.1f}, after {after:.1f}), extract {n_rows / ex_s:8.1f}/s, "
              f"ratio {100 * n_rows / ex_s / bare:5.1f}%  (load {load_s:.1f} s)", flush=True)
    enc.unload()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--encoders", nargs="+", default=["efficientnet-lite0", "minilm-l6", "whisper-tiny.en"])
    p.add_argument("--n-images", type=int, default=256)
    p.add_argument("--n-text", type=int, default=2048)
    p.add_argument("--n-audio", type=int, default=24)
    p.add_argument("--batch-size", type=int, default=None, help="default: 32 image, 128 text, 8 audio")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    p.add_argument("--min-time", type=float, default=5.0, help="seconds per bare measurement")
    args = p.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    root = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    try:
        for name in args.encoders:
            modality = get_encoder(name).modality
            if modality == "image":
                ds, bs = make_images(root / "images", args.n_images), 32
            elif modality == "text":
                ds, bs = make_captions(root / "text", args.n_text), 128
            else:
                ds, bs = make_audio(root / "audio", args.n_audio), 8
            bench(name, ds, args.batch_size or bs, args.workers, args.min_time)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
