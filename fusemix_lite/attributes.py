"""Scoring generated scenes: does the picture show what the caption (or the sound) asked for?

A tiny CNN is trained on *real* scene images to read off attributes of the main object (its
colour, its shape, its position, ...), with labels taken from the scene specs. Applied to
generated images, its accuracy against the requested attributes is an automatic, if rough,
measure of how well the conditioning was followed (the role CLIP-score plays in the paper's
world). A pixel-statistics colour check (:func:`palette_colour`) needs no training at all.
Introduced in chapter 8.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


__all__ = [
    "AttributeConfig",
    "AttributeNet",
    "encode_labels",
    "train_attribute_classifier",
    "predict",
    "score",
    "palette_colour",
    "scene_labels",
    "save_attribute_classifier",
    "load_attribute_classifier",
    "cached_attribute_classifier",
]

CONFIG_FILE = "attributes.json"
WEIGHTS_FILE = "attributes.safetensors"


@dataclass
class AttributeConfig:
    """Size and training of the attribute classifier. Introduced in chapter 8."""

    image_size: int = 32
    channels: int = 32
    epochs: int = 15
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    noise_std: float = 0.03  # Gaussian pixel noise while training: generated images are not clean
    seed: int = 0

    def __post_init__(self) -> None:
        if self.image_size < 8 or self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 and >= 8, got {self.image_size}")
        for name in ("channels", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class AttributeNet(nn.Module):
    """Three conv blocks, a 4x4 spatial summary (keeps "where"), and one linear head per attribute.

    ``classes`` maps each attribute name to its class names. Introduced in chapter 8.
    """

    def __init__(self, cfg: AttributeConfig, classes: Mapping[str, Sequence[str]]):
        super().__init__()
        if not classes:
            raise ValueError("need at least one attribute")
        for name, names in classes.items():
            if len(names) < 2:
                raise ValueError(f"attribute {name!r} needs at least 2 classes, got {list(names)}")
        self.cfg = cfg
        self.classes = {k: list(v) for k, v in classes.items()}
        C = cfg.channels

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                                 nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

        self.features = nn.Sequential(block(3, C), nn.MaxPool2d(2), block(C, 2 * C), nn.MaxPool2d(2),
                                      block(2 * C, 2 * C), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                                      nn.Linear(2 * C * 16, 128), nn.ReLU(), nn.Dropout(0.2))
        self.heads = nn.ModuleDict({k: nn.Linear(128, len(v)) for k, v in self.classes.items()})

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        h = self.features(images * 2 - 1)
        return {k: head(h) for k, head in self.heads.items()}


def encode_labels(values: Mapping[str, Sequence[str]], classes: Mapping[str, Sequence[str]] | None = None
                  ) -> tuple[dict[str, Tensor], dict[str, list[str]]]:
    """Turn string labels (``{"colour": ["red", "blue", ...]}``) into LongTensors and class lists.

    Pass ``classes`` to reuse a fixed vocabulary (a label outside it raises ``ValueError``);
    otherwise the sorted set of values is used. Introduced in chapter 8.
    """
    out: dict[str, Tensor] = {}
    vocab: dict[str, list[str]] = {}
    for name, vals in values.items():
        names = list(classes[name]) if classes is not None and name in classes else sorted(set(vals))
        index = {v: i for i, v in enumerate(names)}
        missing = sorted({v for v in vals if v not in index})
        if missing:
            raise ValueError(f"attribute {name!r}: labels {missing} are not among the classes {names}")
        out[name] = torch.tensor([index[v] for v in vals], dtype=torch.long)
        vocab[name] = names
    return out, vocab


SCENE_ATTRIBUTES = ("colour", "shape", "position", "size", "count")


def scene_labels(metas: Sequence[Mapping], attributes: Sequence[str] = ("colour", "shape")) -> dict[str, list[str]]:
    """String labels of the main (largest) object of each scene spec (``item.meta``).

    ``attributes`` are among ``colour``, ``shape``, ``position`` (nine regions), ``size`` and
    ``count`` (number of objects). Feed the result to :func:`encode_labels`. Introduced in chapter 8.
    """
    bad = [a for a in attributes if a not in SCENE_ATTRIBUTES]
    if bad:
        raise ValueError(f"unknown scene attributes {bad}; known: {list(SCENE_ATTRIBUTES)}")
    out: dict[str, list[str]] = {a: [] for a in attributes}
    for i, meta in enumerate(metas):
        objects = meta.get("objects") if isinstance(meta, Mapping) else None
        if not objects:
            raise ValueError(f"scene {i} has no 'objects' in its meta: is it an item of the scenes dataset?")
        main = max(objects, key=lambda o: o["r"])
        for a in attributes:
            out[a].append(str(len(objects)) if a == "count" else str(main[a]))
    return out


def _check_images(images: Tensor, size: int | None = None) -> Tensor:
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor [N, 3, H, W] in [0, 1], got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape [N, 3, H, W], got {tuple(images.shape)}")
    if size is not None and tuple(images.shape[2:]) != (size, size):
        raise ValueError(f"images must be {size}x{size} (the classifier's image_size), got {tuple(images.shape[2:])}")
    images = images.float()
    lo, hi = images.min().item(), images.max().item()
    if lo < -1e-4 or hi > 1 + 1e-4:
        raise ValueError(f"images must be in [0, 1] (use (x + 1) / 2 for [-1, 1] images); got range [{lo:.3g}, {hi:.3g}]")
    return images


def _check_labels(labels: Mapping[str, Tensor], n: int, classes: Mapping[str, Sequence[str]]) -> None:
    for name, y in labels.items():
        if name not in classes:
            raise ValueError(f"unknown attribute {name!r}; the classifier knows {list(classes)}")
        if not isinstance(y, Tensor) or y.dtype != torch.long or y.ndim != 1:
            raise ValueError(f"labels[{name!r}] must be a 1-D LongTensor (see encode_labels)")
        if y.shape[0] != n:
            raise ValueError(f"labels[{name!r}] has {y.shape[0]} entries for {n} images")
        if y.numel() and (y.min() < 0 or y.max() >= len(classes[name])):
            raise ValueError(f"labels[{name!r}] must be in [0, {len(classes[name])}), got [{y.min()}, {y.max()}]")


def train_attribute_classifier(
    images: Tensor,
    labels: Mapping[str, Tensor],
    classes: Mapping[str, Sequence[str]] | None = None,
    cfg: AttributeConfig | None = None,
    progress: bool = False,
) -> tuple[AttributeNet, list[dict]]:
    """Train an :class:`AttributeNet` on real images in [0, 1] with integer labels per attribute.

    ``classes`` names the classes of each attribute (default: ``"0", "1", ...``). Returns the
    model in eval mode and a per-epoch history ``{"epoch", "loss", "train_acc_<attr>", "seconds"}``.
    Deterministic for a fixed ``cfg.seed``. Introduced in chapter 8.
    """
    cfg = cfg or AttributeConfig(image_size=int(images.shape[-1]) if isinstance(images, Tensor) and images.ndim == 4 else 32)
    images = _check_images(images, cfg.image_size)
    if not labels:
        raise ValueError("labels is empty: give at least one attribute, e.g. {'colour': LongTensor}")
    if classes is None:
        classes = {k: [str(i) for i in range(max(2, int(v.max()) + 1))] for k, v in labels.items()
                   if isinstance(v, Tensor) and v.numel()}
    _check_labels(labels, images.shape[0], classes)
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    model = AttributeNet(cfg, {k: classes[k] for k in labels})
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = images.shape[0]
    steps_per_epoch = max(1, -(-n // cfg.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
    history: list[dict] = []
    start = time.perf_counter()
    epochs = range(cfg.epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="attribute classifier", leave=False)
    for epoch in epochs:
        model.train()
        perm = torch.randperm(n, generator=g)
        total, correct = 0.0, {k: 0 for k in labels}
        for lo in range(0, n, cfg.batch_size):
            idx = perm[lo:lo + cfg.batch_size]
            if idx.numel() < 2:  # BatchNorm needs two samples
                continue
            x = images[idx]
            if cfg.noise_std > 0:
                x = (x + cfg.noise_std * torch.randn(x.shape, generator=g)).clamp(0, 1)
            out = model(x)
            loss = sum(F.cross_entropy(out[k], labels[k][idx]) for k in labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * idx.numel()
            for k in labels:
                correct[k] += (out[k].argmax(1) == labels[k][idx]).sum().item()
        row = {"epoch": epoch + 1, "loss": total / n, "seconds": time.perf_counter() - start}
        row.update({f"train_acc_{k}": correct[k] / n for k in labels})
        history.append(row)
    model.eval()
    return model, history


@torch.no_grad()
def predict(model: AttributeNet, images: Tensor, batch_size: int = 512) -> dict[str, Tensor]:
    """Predicted class index per attribute: ``{name: LongTensor[N]}``."""
    images = _check_images(images, model.cfg.image_size)
    model.eval()
    outs: dict[str, list[Tensor]] = {k: [] for k in model.classes}
    for lo in range(0, images.shape[0], batch_size):
        for k, v in model(images[lo:lo + batch_size]).items():
            outs[k].append(v.argmax(1))
    return {k: torch.cat(v) if v else torch.zeros(0, dtype=torch.long) for k, v in outs.items()}


def score(model: AttributeNet, images: Tensor, targets: Mapping[str, Tensor]) -> dict[str, float]:
    """Accuracy of the classifier's reading of ``images`` against the requested ``targets``.

    Returns ``{"<attr>": accuracy, ..., "all": fraction with every attribute right}``. On real
    held-out images this is the classifier's own accuracy (the ceiling); on generated images it
    measures how well the generator followed its conditioning. Introduced in chapter 8.
    """
    images = _check_images(images, model.cfg.image_size)
    if not targets:
        raise ValueError("targets is empty")
    _check_labels(targets, images.shape[0], model.classes)
    pred = predict(model, images)
    hits = {k: pred[k] == targets[k] for k in targets}
    out = {k: h.float().mean().item() for k, h in hits.items()}
    out["all"] = torch.stack(list(hits.values())).all(0).float().mean().item()
    return out


def palette_colour(images: Tensor, palette: Mapping[str, Sequence[int]], min_distance: float = 0.25,
                   background: Tensor | None = None) -> tuple[Tensor, list[str]]:
    """Colour of the main object by pixel statistics, no training: the palette colour that the
    most "object" pixels are nearest to.

    Object pixels are those farther than ``min_distance`` (RGB in [0, 1]) from the background,
    which is the per-image median of the border pixels unless given as ``background`` [N, 3].
    ``palette`` maps names to RGB in 0-255. Returns (index into the palette names, the names).
    Works for flat-coloured shapes on a plain background. Introduced in chapter 8.
    """
    images = _check_images(images)
    if not palette:
        raise ValueError("palette is empty")
    names = list(palette)
    pal = torch.tensor([list(palette[k]) for k in names], dtype=torch.float32) / 255.0  # [K, 3]
    n = images.shape[0]
    if background is None:
        border = torch.cat([images[:, :, 0], images[:, :, -1], images[:, :, :, 0], images[:, :, :, -1]], dim=2)
        background = border.median(dim=2).values  # [N, 3]
    px = images.flatten(2).transpose(1, 2)  # [N, HW, 3]
    obj = (px - background[:, None]).norm(dim=2) > min_distance  # [N, HW]
    nearest = torch.cdist(px, pal.expand(n, -1, -1)).argmin(2)  # [N, HW]
    votes = F.one_hot(nearest, len(names)).float() * obj[..., None]
    counts = votes.sum(1)  # [N, K]
    return counts.argmax(1), names


# ---- checkpoints ----------------------------------------------------------------------------


def save_attribute_classifier(model: AttributeNet, folder: str | Path) -> Path:
    """Write ``attributes.safetensors`` + ``attributes.json`` (config and class names) atomically
    (:func:`~fusemix_lite.checkpoint.save_checkpoint`)."""
    from .checkpoint import save_checkpoint

    return save_checkpoint(folder, model, WEIGHTS_FILE, CONFIG_FILE,
                           {"config": asdict(model.cfg), "classes": model.classes, "format": 1})


def load_attribute_classifier(folder: str | Path) -> AttributeNet:
    """Load a classifier saved by :func:`save_attribute_classifier` (strictly).

    A corrupt or foreign file, or an unknown config field, raises
    :class:`~fusemix_lite.errors.CheckpointError` naming the file (and the field).
    """
    from .checkpoint import config_from, field, load_checkpoint
    from .errors import CheckpointError

    def build(meta: dict, path: Path) -> AttributeNet:
        config, classes = field(meta, "config", dict, path), field(meta, "classes", dict, path)
        if not all(isinstance(v, list) and all(isinstance(c, str) for c in v) for v in classes.values()):
            raise CheckpointError(f"{path}: field 'classes' should map each attribute to a list of class names")
        cfg = config_from(AttributeConfig, config, path)
        try:
            return AttributeNet(cfg, classes)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{path}: fields 'config'/'classes' do not make a classifier ({e})") from e

    return load_checkpoint(folder, WEIGHTS_FILE, CONFIG_FILE, build)[0].eval()


def cached_attribute_classifier(
    images: Tensor,
    labels: Mapping[str, Tensor],
    classes: Mapping[str, Sequence[str]],
    cfg: AttributeConfig,
    root: str | Path,
) -> tuple[AttributeNet, Path, bool]:
    """Train a judge once and reuse it: ``root/judge-<key>/`` holds the checkpoint.

    The key hashes the config, the class names and the training images and labels, so other data
    or another config train a new judge, and a second chapter (or a rebuild) loads the first
    one's. Returns (model, folder, loaded_from_cache). Introduced in chapter 8a.
    """
    import hashlib

    from .checkpoint import tensors_sha256

    names = sorted(labels)
    key = json.dumps({"config": asdict(cfg), "classes": {k: list(classes[k]) for k in names},
                      "data": tensors_sha256(images, *(labels[k] for k in names))}, sort_keys=True)
    folder = Path(root) / f"judge-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (folder / WEIGHTS_FILE).exists() and (folder / CONFIG_FILE).exists():
        model = load_attribute_classifier(folder)
        if model.cfg == cfg and model.classes == {k: list(classes[k]) for k in labels}:
            return model, folder, True
    model, _ = train_attribute_classifier(images, labels, classes, cfg)
    save_attribute_classifier(model, folder)
    return model, folder, False
