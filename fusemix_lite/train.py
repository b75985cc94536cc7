"""Training the fusion adapters on cached latents, with FuseMix, and picking the best epoch on val.

The paper's recipe: AdamW (0.9, 0.999), lr 1e-3, weight decay 0.1 on weight matrices only, linear
warm-up from 1e-6 over 100 steps then cosine to 1e-6 (per step here), seed 42. The paper's 100
warm-up steps are 0.2 % of its 61,000; a fixed 100 would swallow a short run whole, so the warm-up
here is a fraction of the run (``warmup_frac``, 5 %) and the cosine spans the rest: every run, long
or short, has the same shape of schedule, and :func:`train` refuses one that spends more than a
quarter of its steps warming up. All latents are moved to the device once; a step indexes them
with an on-device permutation, so it does no host work.

Checkpoints (``ckpt_dir``): ``last/`` (weights, optimizer state, RNG states, history: everything an
exact resume needs) and ``best/`` (weights of the best validation epoch). Tensors are stored as
safetensors, everything else as JSON; both folders are written atomically.
Introduced in chapter 4.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file
from tqdm.auto import tqdm

from . import __version__
from .baselines import augment as baseline_augment
from .checkpoint import field, load_checkpoint, load_state, read_json, read_tensors, save_checkpoint, tensors_sha256
from .errors import CheckpointError
from .fusemix import MODES, fusemix, sample_lambda
from .evaluate import evaluate, model_device
from .files import atomic_dir
from .loss import clip_loss
from .pairs import PairedLatents, resolve_device

AUGMENTS = ("fusemix", "none", "noise", "quantize")
MAX_WARMUP_SHARE = 0.25  # no run may spend more than a quarter of its steps warming up
_METRIC = re.compile(r"^(i2t|t2i)_R@(\d+)$")
# fields that do not change what is computed: a resume may differ in them
RESUME_FREE = ("progress", "ckpt_every")


@dataclass
class TrainConfig:
    """Everything that decides a training run. Introduced in chapter 4.

    ``batch_size`` counts loaded pairs per step (FuseMix "halves" turns them into batch_size // 2
    mixed pairs, "permute" keeps batch_size). The last partial batch of an epoch is dropped.
    Warm-up lasts ``warmup_frac`` of the run's steps, or exactly ``warmup_steps`` when that is set
    (the paper's 100); either way at most :data:`MAX_WARMUP_SHARE` of the run. ``patience`` stops a
    run after that many validation evaluations without a new best (``None``: run every epoch). ``select_metric`` (a Recall@K key
    such as ``"t2i_R@1"``, or ``"rsum"`` / ``"mean_recall"``) picks the best epoch on the
    validation pairs, evaluated every ``eval_every`` epochs and after the last one.
    """

    epochs: int = 10
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_frac: float = 0.05
    warmup_steps: int | None = None
    min_lr: float = 1e-6
    augment: str = "fusemix"
    alpha: float = 1.0
    mix_mode: str = "halves"
    noise_std: float = 0.01
    quant_levels: tuple[int, int] = (16, 64)
    seed: int = 42
    device: str = "auto"
    bf16: bool = False
    compile: bool = False
    eval_every: int = 1
    select_metric: str = "t2i_R@1"
    ckpt_every: int = 1
    patience: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)
        self.quant_levels = tuple(int(q) for q in self.quant_levels)
        for name in ("epochs", "batch_size", "eval_every", "ckpt_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise ValueError(f"TrainConfig.warmup_steps must be >= 0 or None, got {self.warmup_steps}")
        if not 0 <= self.warmup_frac <= MAX_WARMUP_SHARE:
            raise ValueError(f"TrainConfig.warmup_frac must be in [0, {MAX_WARMUP_SHARE}], got {self.warmup_frac}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"TrainConfig.patience must be >= 1 or None, got {self.patience}")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"need 0 <= min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if self.augment not in AUGMENTS:
            raise ValueError(f"TrainConfig.augment must be one of {AUGMENTS}, got {self.augment!r}")
        if self.mix_mode not in MODES:
            raise ValueError(f"TrainConfig.mix_mode must be one of {MODES}, got {self.mix_mode!r}")
        if not self.alpha > 0:
            raise ValueError(f"TrainConfig.alpha must be > 0 for Beta(alpha, alpha), got {self.alpha}")
        if self.augment == "fusemix" and self.mix_mode == "halves" and self.batch_size < 2:
            raise ValueError("FuseMix needs batch_size >= 2")
        if not (_METRIC.match(self.select_metric) or self.select_metric in ("rsum", "mean_recall")):
            raise ValueError(f"TrainConfig.select_metric must be like 't2i_R@1', 'i2t_R@5', 'rsum' or "
                             f"'mean_recall', got {self.select_metric!r}")

    @classmethod
    def paper(cls, **overrides) -> "TrainConfig":
        """The paper's run: 500 epochs, 40,960 loaded latents per step (20,480 mixed pairs), 100
        warm-up steps."""
        return cls(**{"epochs": 500, "batch_size": 40960, "warmup_steps": 100, **overrides})

    def warmup(self, total_steps: int) -> int:
        """Warm-up steps of a run of ``total_steps``: ``warmup_steps`` if set, else
        ``round(warmup_frac * total_steps)``."""
        return self.warmup_steps if self.warmup_steps is not None else round(self.warmup_frac * total_steps)

    def check_schedule(self, total_steps: int) -> None:
        """Refuse a run that would spend more than :data:`MAX_WARMUP_SHARE` of its steps warming up."""
        w = self.warmup(total_steps)
        if total_steps > 0 and w > MAX_WARMUP_SHARE * total_steps:
            raise ValueError(f"a warm-up of {w} steps is {100 * w / total_steps:.0f} % of this {total_steps}-step "
                             f"run (at most {100 * MAX_WARMUP_SHARE:.0f} %): the learning rate would barely leave "
                             "its warm-up. Drop warmup_steps (warm up for warmup_frac of the run) or train longer")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


@dataclass
class TrainResult:
    """What :func:`train` returns; the best epoch's weights are already loaded into the model."""

    history: list[dict]
    best_epoch: int | None
    best_score: float | None
    epochs_done: int = 0
    ckpt_dir: Path | None = None


def config_hash(*parts) -> str:
    """A short hash of configs (dataclasses with ``to_dict``, or JSON data): a run folder's name
    that changes whenever anything that decides the run changes. Introduced in chapter 4."""
    data = [p.to_dict() if hasattr(p, "to_dict") else p for p in parts]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def augmented_batch(items, texts, caption_item, idx, cfg: TrainConfig, gens: dict):
    """The pairs of one step: captions ``idx`` with their items, augmented as ``cfg.augment`` says,
    lambda drawn from ``gens["host"]``, permutations and noise from ``gens["device"]``. Shared by
    :func:`train` and :func:`~fusemix_lite.ensemble.train_ensemble` (one call per member).
    Introduced in chapter 4."""
    x, y = items[caption_item[idx]], texts[idx]
    if cfg.augment == "fusemix":
        x, y, _ = fusemix(x, y, cfg.alpha, gens["device"], cfg.mix_mode, lam=sample_lambda(cfg.alpha, gens["host"]))
    else:
        x, y = baseline_augment(x, y, cfg.augment, gens["device"], cfg.noise_std, cfg.quant_levels)
    return x, y


def train_step(model, opt, data, idx, lr: float, cfg: TrainConfig, gens: dict) -> torch.Tensor:
    """One training step on captions ``idx`` of ``data`` = (items, texts, caption_item); returns the
    loss. This is the whole step: :func:`train` adds the schedule, evaluation and checkpoints around
    it. Introduced in chapter 4."""
    x, y = augmented_batch(*data, idx, cfg, gens)                     # FuseMix (chapter 3)
    with torch.autocast(x.device.type, dtype=torch.bfloat16) if cfg.bf16 else nullcontext():
        a, b = model.encode_a(x), model.encode_b(y)                   # the adapters, normalised
        loss = clip_loss(a, b, model.temperature())                   # symmetric InfoNCE
    opt.zero_grad(set_to_none=True)
    loss.backward()
    for group in opt.param_groups:
        group["lr"] = lr                                              # warm-up + cosine (lr_at)
    opt.step()                                                        # AdamW
    model.temperature.clamp_()                                        # tau back into [0.001, 0.5]
    return loss.detach().float()


def pairs_fingerprint(pairs: PairedLatents) -> str:
    """SHA-256 (first 16 hex digits) of a split's latents and pairing: equal exactly when the data is."""
    return tensors_sha256(pairs.items, pairs.texts, pairs.caption_item)[:16]


def run_folder(model, train_pairs: PairedLatents, cfg: TrainConfig, root: str | Path | None = None) -> Path:
    """The checkpoint folder of a run, named by everything that decides it: the model's architecture
    and seed, the training data and the ``TrainConfig`` (less its progress settings). Any chapter that
    asks for the same run gets the same folder, so ``train(..., ckpt_dir=run_folder(...), resume=True)``
    trains once and reloads after. ``root`` defaults to ``paths.run_dir() / "fusion"``.
    Introduced in chapter 4."""
    from .paths import run_dir

    decided = {k: v for k, v in cfg.to_dict().items() if k not in RESUME_FREE}
    parts = [model.config(), {"seed": getattr(model, "seed", None)}, decided, pairs_fingerprint(train_pairs)]
    frozen = getattr(model, "frozen", ())
    if frozen:  # a bound model (adapters.bind): its frozen side's weights decide the run too
        parts.append({s: tensors_sha256(*getattr(model, f"adapter_{s}").state_dict().values()) for s in frozen})
    key = config_hash(*parts)
    parent = Path(root) if root is not None else run_dir() / "fusion"
    return parent / f"{train_pairs.dataset or 'pairs'}-{key}"


def lr_at(step: int, cfg: TrainConfig, total_steps: int) -> float:
    """Learning rate of a step: linear warm-up from ``min_lr`` to ``lr`` over ``cfg.warmup(total_steps)``
    steps, then cosine down to ``min_lr`` at the last step. Introduced in chapter 4.
    """
    warm = cfg.warmup(total_steps)
    if step < warm:
        return cfg.min_lr + (cfg.lr - cfg.min_lr) * step / warm
    span = max(1, total_steps - warm)
    progress = min(1.0, (step - warm) / span)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices (ndim >= 2) only: not on biases, LayerNorms or the temperature.

    Introduced in chapter 4.
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    other = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}]


# ---- checkpoints ---------------------------------------------------------------------------------
def _save_last(path: Path, model, opt, gens: dict, meta: dict) -> None:
    tensors = {}
    opt_sd = opt.state_dict()
    for idx, st in opt_sd["state"].items():
        for name, t in st.items():
            tensors[f"opt.{idx}.{name}"] = t.detach().cpu().contiguous()
    for name, g in gens.items():
        tensors[f"rng.{name}"] = g.get_state().cpu()
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and meta["device_type"] == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    groups = [{k: v for k, v in g.items()} for g in opt_sd["param_groups"]]
    with atomic_dir(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
        save_file(tensors, str(tmp / "state.safetensors"))
        (tmp / "state.json").write_text(json.dumps({**meta, "param_groups": groups}, indent=1))


def _save_best(path: Path, model, meta: dict) -> None:
    with atomic_dir(path) as tmp:
        save_checkpoint(tmp, model, "model.safetensors", "best.json", meta)


def load_model(folder: str | Path):
    """The ``FusionModel`` saved in a run's ``best/`` (or ``last/``) folder, built from the
    ``model_config`` of its JSON file and loaded strictly, in eval mode: the checkpoint convention
    of :mod:`fusemix_lite.checkpoint` (an unknown config field raises ``CheckpointError``).
    Introduced in chapter 4."""
    from .adapters import FusionModel

    folder = Path(folder)
    config = "best.json" if (folder / "best.json").exists() or not (folder / "state.json").exists() else "state.json"
    model, _ = load_checkpoint(folder, "model.safetensors", config,
                               lambda meta, p: FusionModel.from_config(field(meta, "model_config", dict, p), p))
    return model.eval()


def load_weights(model: torch.nn.Module, path: str | Path) -> torch.nn.Module:
    """Load ``model.safetensors`` (from a ``best/`` or ``last/`` folder, or the file) strictly.

    Missing or unexpected keys raise (the official code loaded with ``strict=False``, leaving
    layers silently random); so do a corrupt file and NaN weights (:class:`CheckpointError`, naming
    the file). Introduced in chapter 4.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"no weights at {path}")
    device = model_device(model)
    load_state(model, {k: v.to(device) for k, v in read_tensors(path).items()}, path)
    return model


def _check_resume(path: Path, meta: dict, now: dict) -> None:
    """Refuse a checkpoint made by another config, model, data size or device type."""
    diffs = []
    where = Path(path) / "state.json"
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where} holds a JSON {type(meta).__name__}, not an object")
    old_cfg = {k: v for k, v in field(meta, "train_config", dict, where).items() if k not in RESUME_FREE}
    new_cfg = {k: v for k, v in now["train_config"].items() if k not in RESUME_FREE}
    for k in sorted(set(old_cfg) | set(new_cfg)):
        if old_cfg.get(k) != new_cfg.get(k):
            diffs.append(f"TrainConfig.{k}: {old_cfg.get(k)!r} in the checkpoint, {new_cfg.get(k)!r} now")
    for k in ("model_config", "n_train_pairs", "dims", "device_type"):
        if meta.get(k) != now[k]:
            diffs.append(f"{k}: {meta.get(k)!r} in the checkpoint, {now[k]!r} now")
    if diffs:
        raise ValueError(f"cannot resume from {path}: it belongs to another run:\n  " + "\n  ".join(diffs)
                         + "\nUse another ckpt_dir, or the checkpoint's own settings.")


def _load_last(path: Path, model, opt, gens: dict) -> dict:
    """Restore model, optimiser and generators from ``path`` (a ``last/`` folder); returns its state.json.

    Every file that does not parse, lacks a field or does not fit raises :class:`CheckpointError`
    naming the file and the field.
    """
    path = Path(path)
    jpath, spath = path / "state.json", path / "state.safetensors"
    meta = read_json(jpath, required=("epoch", "step", "history", "best_epoch", "best_score", "param_groups"))
    for name in ("epoch", "step"):
        if isinstance(meta[name], bool) or not isinstance(meta[name], int) or meta[name] < 0:
            raise CheckpointError(f"{jpath}: field {name!r} should be an integer >= 0, got {meta[name]!r}")
    groups = field(meta, "param_groups", list, jpath)
    if not all(isinstance(g, dict) and isinstance(g.get("betas"), list) and len(g["betas"]) == 2 for g in groups):
        raise CheckpointError(f"{jpath}: field 'param_groups' should be a list of objects with two 'betas'")
    load_weights(model, path)
    tensors = read_tensors(spath, required=[f"rng.{name}" for name in gens] + ["rng.torch"])
    state: dict = {}
    for key, t in tensors.items():
        if key.startswith("opt."):
            _, idx, name = (key.split(".", 2) + ["", ""])[:3]
            if not idx.isdigit() or not name:
                raise CheckpointError(f"{spath}: tensor name {key!r} is not 'opt.<index>.<name>'")
            state.setdefault(int(idx), {})[name] = t
    groups = [{**g, "betas": tuple(g["betas"])} for g in groups]
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
        for name, g in gens.items():
            g.set_state(tensors[f"rng.{name}"])
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.cuda"])
    except (ValueError, RuntimeError, TypeError, KeyError) as e:
        raise CheckpointError(f"{path}: the optimiser or random-generator state does not fit "
                              f"({type(e).__name__}: {e})") from e
    return meta


# ---- the loop ------------------------------------------------------------------------------------
def _check_pairs(model, pairs: PairedLatents, what: str) -> None:
    for side, dim, cfg in (("a", pairs.items.shape[1], getattr(model, "cfg_a", None)),
                           ("b", pairs.texts.shape[1], getattr(model, "cfg_b", None))):
        if cfg is not None and cfg.in_dim != dim:
            raise ValueError(f"{what} latents of modality {side} have dim {dim}, the model's adapter_{side} "
                             f"expects {cfg.in_dim}")


def train(model, train_pairs: PairedLatents, val_pairs: PairedLatents | None, cfg: TrainConfig,
          ckpt_dir: str | Path | None = None, resume: bool = False,
          stop_after: int | None = None) -> TrainResult:
    """Train a ``FusionModel`` on paired latents; select the best epoch on ``val_pairs``.

    ``resume=True`` continues from ``ckpt_dir/last`` (bit-identical on CPU to an uninterrupted run)
    and starts fresh if there is none; a checkpoint of another config raises ``ValueError``.
    ``stop_after`` ends the call after that many epochs (the schedule still spans ``cfg.epochs``),
    to split a long run over sessions. ``cfg.seed`` fixes the data order, lambda, noise and dropout;
    the initial weights are the model's: build it with ``FusionModel(..., seed=cfg.seed)`` so that
    the same seed gives the same numbers whatever ran before. The caller's global RNG is left as it
    was (the run draws dropout from a forked one). Training runs on ``cfg.device`` (a GPU with
    "auto" where there is one) and the model comes back on the device it was given, so the
    caller's analysis code never meets a tensor on another device. Introduced in chapter 4.
    """
    devices = [torch.cuda.current_device()] if resolve_device(cfg.device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        return _train(model, train_pairs, val_pairs, cfg, ckpt_dir, resume, stop_after)


def _train(model, train_pairs, val_pairs, cfg, ckpt_dir, resume, stop_after) -> TrainResult:
    if val_pairs is not None and val_pairs.split == "test":
        raise ValueError("refusing to select checkpoints on the 'test' split (the official code's mistake); "
                         "pass validation pairs and evaluate the test split once at the end")
    if train_pairs.split == "test":
        raise ValueError("refusing to train on the 'test' split")
    if resume and ckpt_dir is None:
        raise ValueError("resume=True needs the ckpt_dir of the run to continue")
    _check_pairs(model, train_pairs, "training")
    if val_pairs is not None:
        _check_pairs(model, val_pairs, "validation")
    m = train_pairs.n_texts
    if cfg.batch_size > m:
        raise ValueError(f"batch_size {cfg.batch_size} is larger than the {m} training pairs")
    device = resolve_device(cfg.device)
    steps_per_epoch = m // cfg.batch_size
    total_steps = cfg.epochs * steps_per_epoch
    cfg.check_schedule(total_steps)
    wanted = _METRIC.match(cfg.select_metric)
    ks = sorted({1, 5, 10, int(wanted[2])} if wanted else {1, 5, 10})

    home = model_device(model)  # where the caller keeps the model: it goes back there at the end
    model.to(device)
    train_pairs = train_pairs.to(device)
    val_pairs = val_pairs.to(device) if val_pairs is not None else None
    items, texts, cap = train_pairs.items, train_pairs.texts, train_pairs.caption_item
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas)
    torch.manual_seed(cfg.seed)
    gens = {"host": torch.Generator().manual_seed(cfg.seed),                    # lambda draws
            "device": torch.Generator(device=device).manual_seed(cfg.seed + 1)}  # permutations, noise
    now = {"train_config": cfg.to_dict(), "model_config": model.config(), "n_train_pairs": m,
           "dims": [items.shape[1], texts.shape[1]], "device_type": device.type}
    run = {"epoch": 0, "step": 0, "history": [], "best_epoch": None, "best_score": None, "stale": 0}
    best_in_memory = None

    ckpt = Path(ckpt_dir) if ckpt_dir is not None else None
    if ckpt is not None and (ckpt / "last" / "state.json").exists():
        if not resume:
            raise FileExistsError(f"{ckpt} already holds a checkpoint; pass resume=True to continue it "
                                  "or choose another ckpt_dir")
        meta = read_json(ckpt / "last" / "state.json")
        _check_resume(ckpt / "last", meta, now)
        meta = _load_last(ckpt / "last", model, opt, gens)
        run = {k: meta.get(k, 0) for k in run}

    if cfg.compile:  # compile the adapters in place (same weights and outputs; undone at the end)
        model.adapter_a.compile()
        model.adapter_b.compile()
    last_epoch = cfg.epochs if stop_after is None else min(cfg.epochs, int(stop_after))
    bar = tqdm(total=total_steps, initial=run["step"], disable=not cfg.progress, desc="train", unit="step")
    for epoch in range(run["epoch"], last_epoch):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(m, generator=gens["device"], device=device)
        loss_sum = torch.zeros((), device=device)
        for s in range(steps_per_epoch):
            idx = perm[s * cfg.batch_size:(s + 1) * cfg.batch_size]
            lr = lr_at(run["step"], cfg, total_steps)
            loss_sum += train_step(model, opt, (items, texts, cap), idx, lr, cfg, gens)
            run["step"] += 1
            bar.update()
        mean_loss = float(loss_sum) / steps_per_epoch
        if not math.isfinite(mean_loss):
            raise FloatingPointError(f"training loss became {mean_loss} in epoch {epoch + 1}; "
                                     "lower the learning rate or check the latents")
        row = {"epoch": epoch + 1, "loss": mean_loss, "lr": lr,
               "temperature": float(model.temperature.tau.detach()), "seconds": time.perf_counter() - t0}
        done = epoch + 1
        if val_pairs is not None and (done % cfg.eval_every == 0 or done == cfg.epochs):
            metrics = evaluate(model, val_pairs, ks=ks)
            row.update({f"val_{k}": v for k, v in metrics.items()})
            score = metrics[cfg.select_metric]
            if run["best_score"] is None or score > run["best_score"]:
                run["best_epoch"], run["best_score"], run["stale"] = done, score, 0
                if ckpt is not None:
                    _save_best(ckpt / "best", model, {"epoch": done, "score": score, **now})
                else:
                    best_in_memory = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                run["stale"] += 1
        elif val_pairs is None:
            run["best_epoch"] = done
        run["history"].append(row)
        run["epoch"] = done
        bar.set_postfix(loss=f"{mean_loss:.4f}", **({"val": f"{run['best_score']:.2f}"} if run["best_score"] is not None else {}))
        if ckpt is not None and (done % cfg.ckpt_every == 0 or done == last_epoch):
            _save_last(ckpt / "last", model, opt, gens, {**now, **run, "library_version": __version__})
        if cfg.patience is not None and run["stale"] >= cfg.patience:
            break  # early stopping: the validation score has stopped rising
    bar.close()

    if val_pairs is not None and run["best_epoch"] is not None:
        if ckpt is not None:
            load_weights(model, ckpt / "best")
        elif best_in_memory is not None:
            model.load_state_dict(best_in_memory, strict=True)
    if cfg.compile:
        model.adapter_a._compiled_call_impl = model.adapter_b._compiled_call_impl = None
    model.to(home)
    return TrainResult(run["history"], run["best_epoch"], run["best_score"], run["epoch"], ckpt)
