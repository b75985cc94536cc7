"""Seeds at the price of one run: several fusion models trained together, as one batched model.

An ensemble of E members stacks each layer's weights along a leading dimension, so one batched
matrix product (``torch.baddbmm``) does the work of E small ones. Member e starts from
``FusionModel(cfg_a, cfg_b, seed=seeds[e])`` and draws its data order, lambda and noise from the
same generators, seeded the same way, as ``train(..., TrainConfig(seed=seeds[e]))``; the loss is the
sum of the members' losses, so each member's gradient is its own and AdamW, which works element by
element, updates it exactly as a single run would. Only dropout differs: one mask stream serves all
members. With dropout 0 each member's weights equal the single run's (up to float rounding,
``tests/test_ensemble.py``). Each member keeps its own best validation epoch.
Introduced in chapter 5.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .adapters import Adapter, AdapterConfig, FusionModel
from .retrieval import recall_at_k
from .evaluate import embed
from .pairs import PairedLatents, resolve_device
from .train import _METRIC, TrainConfig, augmented_batch, lr_at


class StackedLinear(nn.Module):
    """E linear layers applied to E batches at once: ``x`` [E, B, in] -> [E, B, out]."""

    def __init__(self, layers: list[nn.Linear]):
        super().__init__()
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in layers]).clone())
        self.bias = nn.Parameter(torch.stack([m.bias.detach() for m in layers]).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


class StackedLayerNorm(nn.Module):
    """E LayerNorms over the last dimension, each with its own scale and shift."""

    def __init__(self, layers: list[nn.LayerNorm]):
        super().__init__()
        self.eps = layers[0].eps
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in layers]).clone())
        self.bias = nn.Parameter(torch.stack([m.bias.detach() for m in layers]).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        return x * self.weight.unsqueeze(1) + self.bias.unsqueeze(1)


class StackedAdapter(nn.Module):
    """E adapters of one :class:`AdapterConfig` (the same layers as :class:`Adapter`, stacked)."""

    def __init__(self, adapters: list[Adapter]):
        super().__init__()
        self.cfg = adapters[0].cfg
        self.inp = (nn.Identity() if isinstance(adapters[0].inp, nn.Identity)
                    else StackedLinear([a.inp for a in adapters]))
        self.blocks = nn.ModuleList()
        for i in range(self.cfg.depth):
            blocks = [a.blocks[i] for a in adapters]
            self.blocks.append(nn.ModuleDict({
                "norm": StackedLayerNorm([b.norm for b in blocks]),
                "fc1": StackedLinear([b.fc1 for b in blocks]),
                "fc2": StackedLinear([b.fc2 for b in blocks])}))
        self.norm = StackedLayerNorm([a.norm for a in adapters])
        self.proj = StackedLinear([a.proj for a in adapters])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        for b in self.blocks:
            h = F.gelu(b["fc1"](b["norm"](x)))
            x = x + b["fc2"](F.dropout(h, self.cfg.dropout, self.training))
        return self.proj(self.norm(x))

    def unstack(self, e: int, adapter: Adapter) -> None:
        """Copy member ``e``'s weights into a single ``adapter`` of the same config."""
        pairs = [(self.norm, adapter.norm), (self.proj, adapter.proj)]
        if not isinstance(self.inp, nn.Identity):
            pairs.append((self.inp, adapter.inp))
        for b, single in zip(self.blocks, adapter.blocks):
            pairs += [(b["norm"], single.norm), (b["fc1"], single.fc1), (b["fc2"], single.fc2)]
        with torch.no_grad():
            for stacked, one in pairs:
                one.weight.copy_(stacked.weight[e])
                one.bias.copy_(stacked.bias[e])


class EnsembleFusionModel(nn.Module):
    """E :class:`FusionModel` s of one architecture, one per seed, stacked for training together."""

    def __init__(self, cfg_a: AdapterConfig, cfg_b: AdapterConfig, seeds: list[int], temperature: float = 0.07):
        super().__init__()
        seeds = [int(s) for s in seeds]
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"an ensemble needs one or more distinct seeds, got {seeds}")
        singles = [FusionModel(cfg_a, cfg_b, temperature, seed=s) for s in seeds]
        self.seeds = seeds
        self.adapter_a = StackedAdapter([m.adapter_a for m in singles])
        self.adapter_b = StackedAdapter([m.adapter_b for m in singles])
        t = singles[0].temperature
        self.tau_min, self.tau_max = t.min_value, t.max_value
        self.tau = nn.Parameter(torch.full((len(seeds),), float(temperature)))

    def __len__(self) -> int:
        return len(self.seeds)

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each member's symmetric InfoNCE (:func:`~fusemix_lite.loss.clip_loss`) on its own batch:
        ``x`` [E, B, d_a], ``y`` [E, B, d_b] -> [E]."""
        a = F.normalize(self.adapter_a(x), dim=-1)
        b = F.normalize(self.adapter_b(y), dim=-1)
        logits = a @ b.transpose(1, 2) / self.tau[:, None, None]
        e, n = logits.shape[:2]
        labels = torch.arange(n, device=x.device).repeat(e)
        row = F.cross_entropy(logits.reshape(e * n, n), labels, reduction="none").view(e, n).mean(1)
        col = F.cross_entropy(logits.transpose(1, 2).reshape(e * n, n), labels, reduction="none").view(e, n).mean(1)
        return (row + col) / 2

    @torch.no_grad()
    def clamp_temperature_(self) -> None:
        """Every member's tau back into its bounds (after each optimiser step, as in ``train_step``)."""
        self.tau.clamp_(self.tau_min, self.tau_max)

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Weight decay on the stacked weight matrices only, as ``train.param_groups`` does for one model."""
        decay = [m.weight for m in self.modules() if isinstance(m, StackedLinear)]
        ids = {id(p) for p in decay}
        other = [p for p in self.parameters() if id(p) not in ids]
        return [{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}]

    def member(self, e: int) -> FusionModel:
        """Member ``e`` as a plain :class:`FusionModel` (a copy, on the ensemble's device, eval mode)."""
        cfg_a, cfg_b = self.adapter_a.cfg, self.adapter_b.cfg
        one = FusionModel(cfg_a, cfg_b, seed=self.seeds[e]).to(self.tau.device)
        self.adapter_a.unstack(e, one.adapter_a)
        self.adapter_b.unstack(e, one.adapter_b)
        with torch.no_grad():
            one.temperature.tau.copy_(self.tau[e])
        return one.eval()


@dataclass
class EnsembleResult:
    """What :func:`train_ensemble` returns: per member (in seed order) its history, best validation
    epoch and score, and the model with that epoch's weights."""

    seeds: list[int]
    models: list[FusionModel]
    histories: list[list[dict]]
    best_epoch: list[int | None]
    best_score: list[float | None]
    epochs_done: int
    seconds: float


def train_ensemble(cfg_a: AdapterConfig, cfg_b: AdapterConfig, seeds: list[int], train_pairs: PairedLatents,
                   val_pairs: PairedLatents | None, cfg: TrainConfig,
                   subsets: list[torch.Tensor] | None = None) -> EnsembleResult:
    """Train one member per seed at once and select each member's best epoch on ``val_pairs``.

    ``cfg`` is shared (its ``seed`` is ignored: member e uses ``seeds[e]``). ``subsets`` (one
    index tensor of equal length per member, into the training captions) gives each member its own
    subset of the pairs, e.g. the seed's random draw of n pairs in a quantity study: member e trains
    as ``train`` would on ``train_pairs.take_captions(subsets[e])`` (tested). ``patience``
    stops when every member has gone that many evaluations without a new best. bf16, compile and
    checkpoints are for single runs (:func:`~fusemix_lite.train.train`). Introduced in chapter 5.
    """
    if cfg.bf16 or cfg.compile:
        raise ValueError("train_ensemble runs in float32 without torch.compile; use train() for bf16/compile")
    if train_pairs.split == "test" or (val_pairs is not None and val_pairs.split == "test"):
        raise ValueError("refusing to train or select on the 'test' split")
    device = resolve_device(cfg.device)
    n_members = len(seeds)
    m = train_pairs.n_texts
    if subsets is None:
        subsets = [torch.arange(m)] * n_members
    subsets = [torch.as_tensor(s, dtype=torch.long) for s in subsets]
    if len(subsets) != n_members or len({len(s) for s in subsets}) != 1:
        raise ValueError(f"need one subset per seed ({n_members}), all of one length; got lengths "
                         f"{[len(s) for s in subsets]}")
    size = len(subsets[0])
    if any(int(s.min()) < 0 or int(s.max()) >= m for s in subsets if len(s)):
        raise ValueError(f"subset indices must lie in [0, {m}) (the training captions)")
    if cfg.batch_size > size:
        raise ValueError(f"batch_size {cfg.batch_size} is larger than the {size} training pairs per member")
    steps_per_epoch = size // cfg.batch_size
    total_steps = cfg.epochs * steps_per_epoch
    cfg.check_schedule(total_steps)
    wanted = _METRIC.match(cfg.select_metric)
    ks = sorted({1, 5, 10, int(wanted[2])} if wanted else {1, 5, 10})

    model = EnsembleFusionModel(cfg_a, cfg_b, seeds).to(device)
    for side, dim, c in (("a", train_pairs.items.shape[1], cfg_a), ("b", train_pairs.texts.shape[1], cfg_b)):
        if c.in_dim != dim:
            raise ValueError(f"training latents of modality {side} have dim {dim}, adapter_{side} expects {c.in_dim}")
    train_pairs = train_pairs.to(device)
    val_pairs = val_pairs.to(device) if val_pairs is not None else None
    items, texts, cap = train_pairs.items, train_pairs.texts, train_pairs.caption_item
    subsets = [s.to(device) for s in subsets]
    opt = torch.optim.AdamW(model.param_groups(cfg.weight_decay), lr=cfg.lr, betas=cfg.betas)
    gens = [{"host": torch.Generator().manual_seed(s),  # the same streams as train(seed=s)
             "device": torch.Generator(device=device).manual_seed(s + 1)} for s in seeds]
    histories: list[list[dict]] = [[] for _ in seeds]
    best_epoch: list[int | None] = [None] * n_members
    best_score: list[float | None] = [None] * n_members
    best_state: list[dict | None] = [None] * n_members
    stale = [0] * n_members
    step, done, t_start = 0, 0, time.perf_counter()
    devices = [device.index or 0] if device.type == "cuda" else []
    bar = tqdm(total=total_steps, disable=not cfg.progress, desc=f"train x{n_members}", unit="step")
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seeds[0])  # dropout
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            model.train()
            perms = [sub[torch.randperm(size, generator=g["device"], device=device)] for sub, g in zip(subsets, gens)]
            loss_sum = torch.zeros(n_members, device=device)
            for s in range(steps_per_epoch):
                xs, ys = zip(*(augmented_batch(items, texts, cap, p[s * cfg.batch_size:(s + 1) * cfg.batch_size], cfg, g)
                               for p, g in zip(perms, gens)))
                lr = lr_at(step, cfg, total_steps)
                for group in opt.param_groups:
                    group["lr"] = lr
                losses = model.losses(torch.stack(xs), torch.stack(ys))
                opt.zero_grad(set_to_none=True)
                losses.sum().backward()
                opt.step()
                model.clamp_temperature_()
                loss_sum += losses.detach()
                step += 1
                bar.update()
            mean_loss = (loss_sum / steps_per_epoch).tolist()
            if not all(math.isfinite(v) for v in mean_loss):
                raise FloatingPointError(f"training loss became {mean_loss} in epoch {epoch + 1}; "
                                         "lower the learning rate or check the latents")
            done = epoch + 1
            evaluate_now = val_pairs is not None and (done % cfg.eval_every == 0 or done == cfg.epochs)
            seconds = time.perf_counter() - t0
            for e in range(n_members):
                row = {"epoch": done, "loss": mean_loss[e], "lr": lr, "temperature": float(model.tau[e].detach()),
                       "seconds": seconds / n_members}
                if evaluate_now:
                    one = model.member(e)
                    a, b = embed(one, val_pairs)
                    metrics = recall_at_k(a, b, val_pairs.caption_item, ks=ks)
                    row.update({f"val_{k}": v for k, v in metrics.items()})
                    score = metrics[cfg.select_metric]
                    if best_score[e] is None or score > best_score[e]:
                        best_epoch[e], best_score[e], stale[e] = done, score, 0
                        best_state[e] = {k: v.detach().clone() for k, v in one.state_dict().items()}
                    else:
                        stale[e] += 1
                elif val_pairs is None:
                    best_epoch[e] = done
                histories[e].append(row)
            bar.set_postfix(loss=f"{sum(mean_loss) / n_members:.4f}")
            if cfg.patience is not None and val_pairs is not None and min(stale) >= cfg.patience:
                break
    bar.close()
    models = []
    for e in range(n_members):
        one = model.member(e)
        if best_state[e] is not None:
            one.load_state_dict(best_state[e], strict=True)
        models.append(one.cpu())  # trained on cfg.device, handed back on the CPU for analysis
    return EnsembleResult(list(seeds), models, histories, best_epoch, best_score, done,
                          time.perf_counter() - t_start)
