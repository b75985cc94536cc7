"""Data studies and ablations (paper Fig. 3 and Fig. 5): which pairs to train on, and how much noise
they can take.

- diversity: :func:`kdpp_greedy` picks a diverse subset with a k-DPP (greedy MAP), against
  :func:`uniform_subset`;
- quantity: :func:`nested_subsets`, growing subsets, each inside the next;
- quality: :func:`corrupt_captions`, a known fraction of captions made worse (or mispaired);
- seeds: :func:`run_seeds` and :func:`summarise` turn per-seed results into mean +- std;
- evidence: :func:`paired_difference` (a paired 95 % t interval over seeds) and :func:`verdict`,
  the rule that turns an interval into "reproduced", "not reproduced" or "no detectable difference";
- matched comparisons: :func:`run_arms` trains every arm of a study at every data size, one
  batched ensemble of seeds per (arm, size), each seed on its own subset shared by all arms.

Introduced in chapter 9.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .errors import UnknownNameError

__all__ = [
    "KERNELS", "CORRUPTIONS", "DEFAULT_ATTRIBUTES", "GENERIC_CAPTIONS",
    "kernel_matrix", "kdpp_greedy", "uniform_subset", "nested_subsets",
    "Corrupted", "corrupt_captions", "n_corrupted", "run_seeds", "summarise",
    "PairedDifference", "paired_difference", "verdict", "VERDICTS", "run_arms", "run_members", "log_ticks", "glue_finding", "decide",
]

# ----------------------------------------------------------------------------------------------
# Diversity: k-DPP by greedy MAP
# ----------------------------------------------------------------------------------------------

KERNELS = ("poly2", "linear")


def _check_kernel(kernel: str) -> None:
    if kernel not in KERNELS:
        raise UnknownNameError(f"unknown kernel {kernel!r}; known kernels: {', '.join(KERNELS)}")


def _kernel(a: torch.Tensor, b: torch.Tensor, kernel: str) -> torch.Tensor:
    """K(a, b) for rows of L2-normalised ``a`` and ``b``."""
    dot = a @ b.T
    return (dot + 1.0).square_() if kernel == "poly2" else dot


def _self_similarity(kernel: str) -> float:
    """K(x, x) for a unit vector x: the same for every point, so set exactly (not left to rounding)."""
    return 4.0 if kernel == "poly2" else 1.0


def _normalised(latents: torch.Tensor | np.ndarray, dtype: torch.dtype, device) -> torch.Tensor:
    if isinstance(latents, torch.Tensor):
        x = latents
    else:  # a copy: memory-mapped (read-only) arrays from the latent store are fine
        x = torch.from_numpy(np.array(latents, dtype=np.float64 if dtype == torch.float64 else np.float32))
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"latents must be a non-empty 2-D array [N, d], got shape {tuple(x.shape)}")
    x = x.to(device=device if device is not None else x.device, dtype=dtype)
    if not torch.isfinite(x).all():
        raise ValueError("latents contain NaN or inf")
    norms = x.norm(dim=1, keepdim=True)
    if (norms == 0).any():
        raise ValueError("latents contain an all-zero row, which cannot be L2-normalised")
    return x / norms


def kernel_matrix(latents: torch.Tensor | np.ndarray, kernel: str = "poly2",
                  dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The full [N, N] DPP kernel on L2-normalised latents: ``(<x, y> + 1)^2`` for "poly2" (the
    paper's), ``<x, y>`` for "linear" (rank <= d, so it cannot pick more than d points).
    Introduced in chapter 9."""
    _check_kernel(kernel)
    x = _normalised(latents, dtype, None)
    out = _kernel(x, x, kernel)
    out.diagonal().fill_(_self_similarity(kernel))
    return out


def _check_count(k: int, n: int, what: str = "k") -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {type(k).__name__}")
    if not 0 <= k <= n:
        raise ValueError(f"{what} must be in [0, {n}] (the number of points), got {k}")
    return int(k)


def kdpp_greedy(latents: torch.Tensor | np.ndarray, k: int, kernel: str = "poly2", *,
                dtype: torch.dtype = torch.float64, device: str | torch.device | None = None,
                eps: float | None = None, max_kernel_bytes: int = 4 * 2**30) -> np.ndarray:
    """Choose ``k`` diverse rows of ``latents`` [N, d]: greedy MAP of a k-DPP, as in the paper's
    diversity study (kernel ``(<x, y> + 1)^2`` on L2-normalised latents).

    Each step adds the point that most increases ``log det L[S, S]``, using the incremental
    Cholesky form of Chen et al. (NeurIPS 2018, "Fast greedy MAP inference for DPP"): O(N k^2)
    time and a [k, N] factor in memory. The [N, N] kernel is kept only if it fits in
    ``max_kernel_bytes``; otherwise each pick's kernel row is recomputed (O(N d) a step).

    Returns the indices (int64) in the order they were picked, so every prefix is the greedy subset
    of its size. Every point has the same self-similarity, so the first pick is index 0, and ties
    go to the lowest index. Raises ``ValueError`` if the kernel has rank < k (e.g. duplicated
    latents): a gain below ``eps`` (default: 100 machine epsilons of ``dtype``, relative to the
    self-similarity) counts as zero. On the unit sphere in R^d the poly2 kernel has rank at most
    (d + 1)(d + 2) / 2 - 1, the linear one d. The official code (``FeaturePairDataset``'s ``dpp``)
    runs the same algorithm on a full float64 numpy kernel and silently returns fewer than k points
    in that case. Runs on ``device`` (default: where the latents are); float32
    is about 2-3x faster on CPU but may break near-ties differently. Introduced in chapter 9.
    """
    _check_kernel(kernel)
    x = _normalised(latents, dtype, device)
    n = x.shape[0]
    k = _check_count(k, n)
    self_sim = _self_similarity(kernel)
    full = None
    if n * n * x.element_size() <= max_kernel_bytes:  # cheaper to look rows up than recompute
        full = _kernel(x, x, kernel)
        full.diagonal().fill_(self_sim)
    tol = (100 * torch.finfo(dtype).eps if eps is None else eps) * self_sim
    factor = torch.zeros(k, n, dtype=dtype, device=x.device)  # row t: Cholesky column of pick t
    gain = torch.full((n,), self_sim, dtype=dtype, device=x.device)  # d_i^2, log-det gain = log d_i^2
    picked = torch.empty(k, dtype=torch.long)
    for t in range(k):
        j = int(torch.argmax(gain))
        dj2 = float(gain[j])
        if not dj2 > tol:  # also catches NaN
            raise ValueError(
                f"the {kernel} kernel has rank {t} < k={k} on these latents (duplicated or degenerate "
                f"points): no {k}-subset has a positive determinant; choose k <= {t}")
        picked[t] = j
        if full is not None:
            row = full[j]
        else:
            row = _kernel(x[j:j + 1], x, kernel)[0]
            row[j] = self_sim
        e = (row - factor[:t, j] @ factor[:t]) / math.sqrt(dj2)
        factor[t] = e
        gain -= e.square_()
        gain[j] = -math.inf  # never pick twice (-inf stays -inf)
    return picked.numpy()


# ----------------------------------------------------------------------------------------------
# Quantity: uniform and nested subsets
# ----------------------------------------------------------------------------------------------

def nested_subsets(n: int, sizes: Iterable[int], seed: int) -> list[np.ndarray]:
    """Uniform random subsets of ``range(n)`` of the given sizes, each the prefix of one seeded
    permutation, so a smaller subset always lies inside a larger one (the quantity study). Each
    subset is returned sorted. Introduced in chapter 9."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    sizes = [_check_count(s, n, "size") for s in sizes]
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[:s]) for s in sizes]


def uniform_subset(n: int, k: int, seed: int) -> np.ndarray:
    """``k`` of ``range(n)`` drawn uniformly without replacement, sorted; the diversity study's
    baseline. Equal to ``nested_subsets(n, [k], seed)[0]``. Introduced in chapter 9."""
    if isinstance(n, (int, np.integer)) and n >= 0:
        _check_count(k, n)
    return nested_subsets(n, [k], seed)[0]


# ----------------------------------------------------------------------------------------------
# Quality: corrupted captions
# ----------------------------------------------------------------------------------------------

CORRUPTIONS = ("swap_attribute", "truncate", "generic", "shuffle_pairs")

DEFAULT_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "colour": ("red", "green", "blue", "yellow", "orange", "purple", "pink", "brown", "black",
               "white", "grey", "gray", "cyan", "magenta"),
    "shape": ("circle", "square", "triangle", "star", "rectangle", "ellipse", "oval", "pentagon",
              "hexagon", "heart", "cross", "diamond"),
}
GENERIC_CAPTIONS: tuple[str, ...] = ("an image", "a picture", "a photo")

_WORD = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*")


@dataclass(frozen=True)
class Corrupted:
    """A corruption's result. ``captions`` is a new list (for "shuffle_pairs": the captions in their
    new pairing, ``captions[i] == original[permutation[i]]``); ``mask[i]`` is True where entry ``i``
    was corrupted; ``permutation`` is set only for "shuffle_pairs" (apply it to text latents:
    ``texts[permutation]``, keeping ``caption_item``)."""

    captions: list[str]
    mask: np.ndarray
    permutation: np.ndarray | None = None


def n_corrupted(n: int, rate: float) -> int:
    """How many of ``n`` entries a corruption at ``rate`` changes: ``round(rate * n)``, halves
    rounded up. Introduced in chapter 9."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)):
        raise TypeError(f"rate must be a number in [0, 1], got {type(rate).__name__}")
    if not 0.0 <= float(rate) <= 1.0:  # also rejects NaN
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    return int(math.floor(float(rate) * n + 0.5))


def _attribute_groups(vocab) -> dict[str, list[str]]:
    groups = DEFAULT_ATTRIBUTES if vocab is None else vocab
    if not isinstance(groups, Mapping):
        if isinstance(groups, str):
            raise TypeError("vocab must be a list of words or a dict group -> words, not a string")
        groups = {"words": groups}
    out: dict[str, list[str]] = {}
    for name, words in groups.items():
        words = [str(w).lower() for w in words]
        if len(set(words)) < 2:
            raise ValueError(f"vocab group {name!r} needs at least two distinct words to swap between")
        if any(not _WORD.fullmatch(w) for w in words):
            raise ValueError(f"vocab group {name!r} must hold single words, got {words}")
        out[str(name)] = sorted(set(words))
    return out


def _choose(rng: np.random.Generator, eligible: np.ndarray, m: int, kind: str, n: int) -> np.ndarray:
    if len(eligible) < m:
        raise ValueError(f"{kind!r} at this rate must change {m} of {n} captions but only "
                         f"{len(eligible)} can be changed that way; lower the rate")
    return np.sort(rng.choice(eligible, size=m, replace=False)) if m else np.zeros(0, np.int64)


def corrupt_captions(captions: Sequence[str], kind: str, rate: float, seed: int,
                     vocab: Sequence[str] | Mapping[str, Sequence[str]] | None = None, *,
                     keep_words: int = 3) -> Corrupted:
    """Corrupt exactly ``n_corrupted(len(captions), rate)`` captions, chosen with ``seed``, for the
    quality study. Pure: the input is not modified. Every chosen entry really changes.

    - "swap_attribute": one attribute word (``vocab``: a list, or a dict group -> words; default
      :data:`DEFAULT_ATTRIBUTES`, colours and shapes) becomes another word of the same group.
      Only captions holding such a word can be chosen.
    - "truncate": keep the first ``keep_words`` words (only longer captions can be chosen).
    - "generic": replace by a generic caption (``vocab``, default :data:`GENERIC_CAPTIONS`).
    - "shuffle_pairs": mispair the chosen captions by a cyclic shift among themselves; returns the
      ``permutation`` (at least two entries are moved whenever any are).

    Raises ``ValueError`` if too few captions can be changed that way. Introduced in chapter 9.
    """
    if kind not in CORRUPTIONS:
        raise UnknownNameError(f"unknown corruption kind {kind!r}; known kinds: {', '.join(CORRUPTIONS)}")
    if isinstance(captions, str) or not all(isinstance(c, str) for c in captions):
        raise TypeError("captions must be a sequence of strings")
    caps = list(captions)
    n = len(caps)
    m = n_corrupted(n, rate)
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool)

    if kind == "shuffle_pairs":
        if m == 1:
            raise ValueError(f"rate {rate} mispairs exactly one of {n} captions, which a permutation "
                             "cannot do; use a rate giving 0 or at least 2")
        chosen = _choose(rng, np.arange(n), m, kind, n)
        chosen = rng.permutation(chosen)
        perm = np.arange(n)
        perm[chosen] = np.roll(chosen, 1)  # a cycle: no chosen index stays in place
        mask[chosen] = True
        return Corrupted([caps[i] for i in perm], mask, perm)

    if kind == "swap_attribute":
        groups = _attribute_groups(vocab)
        group_of = {w: g for g, ws in groups.items() for w in ws}
        hits = [[mt for mt in _WORD.finditer(c) if mt.group().lower() in group_of] for c in caps]
        chosen = _choose(rng, np.flatnonzero([bool(h) for h in hits]), m, kind, n)
        for i in chosen:
            mt = hits[i][rng.integers(len(hits[i]))]
            old = mt.group().lower()
            new = str(rng.choice([w for w in groups[group_of[old]] if w != old]))
            if mt.group()[0].isupper():
                new = new.capitalize()
            caps[i] = caps[i][:mt.start()] + new + caps[i][mt.end():]
    elif kind == "truncate":
        if isinstance(keep_words, bool) or not isinstance(keep_words, int) or keep_words < 1:
            raise ValueError(f"keep_words must be an int >= 1, got {keep_words!r}")
        words = [c.split() for c in caps]
        chosen = _choose(rng, np.flatnonzero([len(w) > keep_words for w in words]), m, kind, n)
        for i in chosen:
            caps[i] = " ".join(words[i][:keep_words])
    else:  # generic
        generic = list(GENERIC_CAPTIONS if vocab is None else vocab)
        if isinstance(vocab, (str, Mapping)) or not generic or not all(isinstance(g, str) for g in generic):
            raise ValueError("vocab for 'generic' must be a non-empty list of generic captions")
        chosen = _choose(rng, np.flatnonzero([c not in generic for c in caps]), m, kind, n)
        for i in chosen:
            caps[i] = generic[rng.integers(len(generic))]
    mask[chosen] = True
    return Corrupted(caps, mask)


# ----------------------------------------------------------------------------------------------
# Seeds: mean +- std for error bars
# ----------------------------------------------------------------------------------------------

def run_seeds(fn: Callable[[int], Mapping | Sequence[Mapping]], seeds: Iterable[int]) -> pd.DataFrame:
    """Call ``fn(seed)`` for each seed; it returns one record (a dict) or a list of them. Returns
    all records as rows, with a "seed" column. Introduced in chapter 9."""
    rows: list[dict] = []
    for seed in seeds:
        out = fn(seed)
        for rec in [out] if isinstance(out, Mapping) else out:
            if not isinstance(rec, Mapping):
                raise TypeError(f"fn must return a dict or a list of dicts, got {type(rec).__name__}")
            rows.append({**rec, "seed": seed})
    return pd.DataFrame(rows)


def summarise(records: pd.DataFrame | Sequence[Mapping], by: str | Sequence[str],
              metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and sample std (ddof=1; 0 for a single seed) of each metric per group of ``by``, one row
    per group with columns ``<metric>_mean``, ``<metric>_std`` and ``n``; ready for error bars.
    ``metrics`` defaults to every numeric column except ``by`` and "seed". Introduced in chapter 9."""
    df = records if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in by + list(metrics or []) if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} not in the records; they have {list(df.columns)}")
    if metrics is None:
        metrics = [c for c in df.select_dtypes("number").columns if c not in by and c != "seed"]
    if not metrics:
        raise ValueError("no numeric metric columns to summarise")
    grouped = df.groupby(by, sort=True)[list(metrics)]
    mean, std = grouped.mean(), grouped.std(ddof=1).fillna(0.0)
    out = pd.concat([mean.add_suffix("_mean"), std.add_suffix("_std")], axis=1)
    out = out[[f"{m}_{s}" for m in metrics for s in ("mean", "std")]]
    out["n"] = df.groupby(by, sort=True).size()
    return out.reset_index()


# ----------------------------------------------------------------------------------------------
# Evidence: paired differences with a confidence interval, and the verdict they support
# ----------------------------------------------------------------------------------------------

VERDICTS = ("reproduced", "not reproduced", "no detectable difference")


@dataclass(frozen=True)
class PairedDifference:
    """Mean of ``a - b`` over paired runs (same seed, same data subset) with a two-sided t interval."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float

    def __str__(self) -> str:
        return (f"{self.mean:+.1f} points ({100 * self.confidence:.0f} % CI {self.low:+.1f} to "
                f"{self.high:+.1f}, {self.n} paired seeds)")


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> PairedDifference:
    """The paired difference ``a[i] - b[i]`` (entry i of both from the same seed and subset): its mean
    and the Student t interval ``mean +- t_{n-1} * sd / sqrt(n)``. Pairing removes what the two runs
    of a seed share (initial weights, data order, subset), so the interval is far narrower than one
    built from two independent spreads. Needs 2 or more pairs; the book uses 5 or more.
    Introduced in chapter 5."""
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be 1-D and paired one to one, got shapes {a.shape} and {b.shape}")
    if len(a) < 2:
        raise ValueError(f"a paired interval needs at least 2 pairs, got {len(a)}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must be finite (a NaN here is a failed run: find it, do not average it)")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    d = a - b
    half = float(stats.t.ppf((1 + confidence) / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)))
    m = float(d.mean())
    return PairedDifference(m, m - half, m + half, len(d), confidence)


def verdict(diff: PairedDifference, margin: float = 0.0) -> str:
    """The decision rule for a claim "A beats B" (``diff`` = A - B): "reproduced" when the whole
    interval lies above ``margin``, "not reproduced" when it lies below ``-margin`` (B beats A), and
    "no detectable difference" when it straddles. Introduced in chapter 5."""
    if diff.low > margin:
        return VERDICTS[0]
    if diff.high < -margin:
        return VERDICTS[1]
    return VERDICTS[2]


def glue_finding(results, key: str, claim: str, paper: str, diff: PairedDifference, margin: float = 0.0) -> str:
    """Record one row of the book's findings scoreboard and glue its parts for the preface:
    ``sb_<key>_diff``, ``_low``, ``_high``, ``_n`` and ``_verdict`` (the verdict computed from the
    interval by :func:`verdict`). Appends the row to ``results["scoreboard"]`` and returns the
    verdict. ``results`` is a :class:`~fusemix_lite.notebook.Results`. Introduced in chapter 5."""
    v = verdict(diff, margin)
    for part, value in (("diff", diff.mean), ("low", diff.low), ("high", diff.high), ("n", diff.n), ("verdict", v)):
        results.glue(f"sb_{key}_{part}", value)
    rows = results.values.setdefault("scoreboard", [])
    rows.append({"key": key, "claim": claim, "paper": paper, "difference": diff.mean, "low": diff.low,
                 "high": diff.high, "n_seeds": diff.n, "verdict": v})
    return v


def decide(results, key: str, claim: str, paper: str, a: Sequence[float], b: Sequence[float], a_name: str,
           b_name: str) -> tuple[PairedDifference, str]:
    """The primary comparison of a finding, by the rule fixed before the run: the paired difference
    ``a - b`` (one value per seed, arm ``a_name`` minus arm ``b_name``), its :func:`verdict`, the
    scoreboard row (:func:`glue_finding`) and one sentence that says both, glued as Markdown
    ``scoreboard_<key>`` (e.g. "**reproduced**: A beat B by +2.1 points (95 % CI ...)").
    Returns ``(difference, verdict)``. Introduced in chapter 9."""
    d = paired_difference(a, b)
    v = glue_finding(results, key, claim, paper, d)
    results.verdict(f"scoreboard_{key}", {
        VERDICTS[0]: f"**{v}**: {a_name} beat {b_name} by {d}",
        VERDICTS[1]: f"**{v}**: {a_name} did *worse* than {b_name}, by {d}",
        VERDICTS[2]: f"**{v}**: {a_name} minus {b_name} is {d}; the interval contains zero"}[v])
    return d, v


def log_ticks(ax, values: Sequence[float]) -> None:
    """Log-scale x axis with a tick at each of ``values``, labelled with plain numbers.
    Introduced in chapter 5."""
    ax.set_xscale("log")
    ax.set_xticks(list(values))
    ax.set_xticklabels([f"{v:,.0f}" if v >= 1 else f"{v:g}" for v in values])
    ax.minorticks_off()


# ----------------------------------------------------------------------------------------------
# Matched comparisons: every arm, every size, seeds batched
# ----------------------------------------------------------------------------------------------

def run_members(cfg: "TrainConfig", adapters, seeds: Sequence[int], train_pairs, subsets, val_pairs, test_pairs,
                *, steps: int, eval_points: int = 12) -> list[dict]:
    """One batched run (:func:`~fusemix_lite.ensemble.train_ensemble`): member e, seed ``seeds[e]``,
    trains on the captions ``subsets[e]`` of ``train_pairs`` (all of equal size n) with ``cfg`` at
    batch ``min(cfg.batch_size, n // 2)`` for ``steps`` optimiser steps rounded up to whole epochs,
    is evaluated ``eval_points`` times on ``val_pairs``, keeps its best evaluation and is scored once
    on ``test_pairs``. One row per member: ``n_pairs``, ``seed``, test metrics, ``best_epoch``,
    ``epochs``, ``steps``, ``batch_size``, ``val_score`` and ``train_R@1`` (t2i on 500 of the member's own
    training captions, for the overfitting gap). The recipe of every study in chapters 5, 9 and 10.
    Introduced in chapter 9."""
    from .ensemble import train_ensemble
    from .retrieval import recall_at_k
    from .evaluate import embed

    seeds = [int(s) for s in seeds]
    subs = [torch.as_tensor(np.asarray(s), dtype=torch.long) for s in subsets]
    n = len(subs[0])
    bs = min(cfg.batch_size, n // 2)
    per_epoch = n // bs
    epochs = max(1, math.ceil(int(steps) / per_epoch))
    run_cfg = dataclasses.replace(cfg, batch_size=bs, epochs=epochs, progress=False,
                                  eval_every=max(1, epochs // eval_points))
    res = train_ensemble(*adapters, seeds, train_pairs, val_pairs, run_cfg, subsets=subs)
    rows = []
    for e, (s, model) in enumerate(zip(seeds, res.models)):
        test = recall_at_k(*embed(model, test_pairs), test_pairs.caption_item.to(test_pairs.items.device))
        own = subs[e][:500].to(train_pairs.caption_item.device)
        items_used = torch.unique(train_pairs.caption_item[own])
        remap = torch.full((train_pairs.n_items,), -1, dtype=torch.long, device=items_used.device)
        remap[items_used] = torch.arange(len(items_used), device=items_used.device)
        a, b = embed(model, type(train_pairs)(train_pairs.items[items_used], train_pairs.texts[own],
                                             remap[train_pairs.caption_item[own]]))
        seen = recall_at_k(a, b, remap[train_pairs.caption_item[own]].cpu())["t2i_R@1"]
        rows.append({"n_pairs": n, "seed": s, **test, "best_epoch": res.best_epoch[e], "epochs": res.epochs_done,
                     "steps": res.epochs_done * per_epoch, "batch_size": bs, "val_score": res.best_score[e],
                     "train_R@1": seen})
    return rows


def run_arms(arms: Mapping[str, "TrainConfig"], sizes: Sequence[int], seeds: Sequence[int], adapters,
             train_pairs, val_pairs, test_pairs, *, steps: Callable[[int], int] | int,
             eval_points: int = 12, progress: bool = True) -> pd.DataFrame:
    """Train each arm (a :class:`~fusemix_lite.train.TrainConfig`; its ``epochs`` and ``eval_every``
    are set here) at each training-set size, with one member per seed (:func:`run_members`), and
    evaluate each member's best validation epoch once on ``test_pairs``.

    Matched by construction: at a size, every arm trains on the same per-seed subsets (seed s draws
    ``nested_subsets(n_pairs, sizes, s)``: each smaller subset inside the larger) for the same number
    of optimiser steps (``steps(n)``, rounded up to whole epochs), is evaluated ``eval_points`` times
    on validation and selected by the same rule. ``adapters`` is ``(cfg_a, cfg_b)``. Returns one
    row per (arm, size, seed): :func:`run_members`' columns and ``arm``.
    Introduced in chapter 5."""
    from tqdm.auto import tqdm

    sizes, seeds = [int(s) for s in sizes], [int(s) for s in seeds]
    m = train_pairs.n_texts
    subsets = {s: nested_subsets(m, sizes, s) for s in seeds}
    rows = []
    bar = tqdm(total=len(arms) * len(sizes), desc="arms x sizes", disable=not progress)
    for i, n in enumerate(sizes):
        for name, cfg in arms.items():
            wanted = steps(n) if callable(steps) else int(steps)
            rows += [{"arm": name, **row} for row in
                     run_members(cfg, adapters, seeds, train_pairs, [subsets[s][i] for s in seeds], val_pairs,
                                 test_pairs, steps=wanted, eval_points=eval_points)]
            bar.update()
    bar.close()
    return pd.DataFrame(rows)
