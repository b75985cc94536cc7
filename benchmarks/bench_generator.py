"""What it takes for chapter 8's small generator to draw outlines, not blobs.

Trains the chapter's text-conditioned generator (``GeneratorConfig`` defaults: 2 x 2 patches,
2,000 steps) on picture-book scenes, then variants that change one thing: 4 x 4 patches, half the
steps, objects anywhere in the picture (``position_spread=1``). Each world gets its own judge
(``AttributeNet`` trained on its real training pictures, as in the chapter), and every variant is
scored on pictures drawn from the first caption of each test scene (guidance 3, 20 Euler steps,
one noise seed), with the unconditioned pictures (guidance 0) as the floor. Usage::

    python benchmarks/bench_generator.py                        # all variants, about 15 min on 2 cores
    python benchmarks/bench_generator.py --variants reference patch4

Results go to ``benchmarks/README.md`` by hand; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time

import numpy as np
import torch

from fusemix_lite.attributes import AttributeConfig, encode_labels, scene_labels, score, train_attribute_classifier
from fusemix_lite.data import scenes
from fusemix_lite.extract import extract
from fusemix_lite.generator import GeneratorConfig, load_images, sample, train_generator
from fusemix_lite.store import LatentStore

ATTRIBUTES = ("colour", "shape", "size")
VARIANTS = {  # name -> (picture-book overrides, GeneratorConfig overrides)
    "reference": ({}, {}),
    "patch4": ({}, {"patch": 4}),
    "half_steps": ({}, {"steps": GeneratorConfig().steps // 2}),
    "anywhere": ({"position_spread": 1.0}, {}),
}


def world(overrides: dict, root: str, n_train: int, n_test: int, seed: int) -> dict:
    """Images, caption latents and a judge for one picture-book world (cached per world)."""
    ds = scenes.build(seed=seed, n_train=n_train, n_val=0, n_test=n_test, n_compositional=0,
                      root=os.path.join(root, "data", "-".join(f"{k}{v}" for k, v in sorted(overrides.items()))
                                        or "picture_book"),
                      **{**scenes.PICTURE_BOOK, **overrides})
    store = LatentStore(os.path.join(root, "latents"))
    out = {}
    for split in ("train", "test"):
        lat = extract(ds, split, "text", "minilm-l6", store, progress=False)
        out[f"cond_{split}"] = torch.from_numpy(np.array(lat.array))
        out[f"item_{split}"] = torch.from_numpy(np.array(lat.item_index)).long()
        out[f"images_{split}"] = load_images(ds, 32, split)
        labels, out["classes"] = encode_labels(scene_labels([it.meta for it in ds.split(split).items], ATTRIBUTES),
                                               out.get("classes"))
        out[f"labels_{split}"] = labels
    out["judge"], _ = train_attribute_classifier(out["images_train"], out["labels_train"], out["classes"],
                                                 AttributeConfig(image_size=32, channels=16, epochs=20, seed=seed))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", default=None, help="scratch folder for data and latents (default: a temp dir)")
    args = ap.parse_args()
    root = args.root or tempfile.mkdtemp(prefix="bench_generator-")
    worlds: dict[str, dict] = {}
    rows = []
    for name in args.variants:
        scene_over, gen_over = VARIANTS[name]
        key = json.dumps(scene_over, sort_keys=True)
        if key not in worlds:
            worlds[key] = world(scene_over, root, args.n_train, args.n_test, args.seed)
        w = worlds[key]
        cfg = dataclasses.replace(GeneratorConfig(seed=args.seed), **gen_over)
        cfg = dataclasses.replace(cfg, warmup=min(100, cfg.steps // 10))
        t0 = time.perf_counter()
        model, _ = train_generator(w["images_train"] * 2 - 1, w["cond_train"], cfg, progress=False,
                                   cond_item=w["item_train"])
        seconds = time.perf_counter() - t0
        first = torch.tensor([int((w["item_test"] == i).nonzero()[0]) for i in range(len(w["images_test"]))])
        row = {"variant": name, "patch": cfg.patch, "steps": cfg.steps,
               "position_spread": scene_over.get("position_spread", scenes.PICTURE_BOOK["position_spread"]),
               "train_s": round(seconds, 1), "threads": torch.get_num_threads(),
               "real": {a: round(100 * v, 1) for a, v in score(w["judge"], w["images_test"], w["labels_test"]).items()}}
        for label, g in (("text", 3.0), ("floor", 0.0)):
            pics = sample(model, w["cond_test"][first], steps=20, guidance=g, seed=args.seed + 100)
            row[label] = {a: round(100 * v, 1) for a, v in score(w["judge"], pics, w["labels_test"]).items()}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| variant | patch | steps | position spread | train s | shape: text / floor / real | colour: text / floor |")
    print("|---|---:|---:|---:|---:|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['patch']} | {r['steps']} | {r['position_spread']} | {r['train_s']:.0f} | "
              f"{r['text']['shape']:.0f} / {r['floor']['shape']:.0f} / {r['real']['shape']:.0f} | "
              f"{r['text']['colour']:.0f} / {r['floor']['colour']:.0f} |")


if __name__ == "__main__":
    main()
