"""Saving and loading trained things: every failure names the file and, where it is one, the field.

**One convention** for every trained thing (the adapters, the generator, the attribute judge), as
transformers' ``save_pretrained`` / ``from_pretrained``: a folder with a weights file (safetensors)
and a JSON file whose config field holds the model's dataclass config(s)
(:func:`save_checkpoint`). Loading (:func:`load_checkpoint`) rebuilds the model from that config
with :func:`config_from`, which refuses an **unknown config field** with a
:class:`CheckpointError` naming the field and the file (an error beats a silently ignored
setting), then loads the weights strictly (:func:`load_state`). A truncated, edited or foreign
file raises :class:`CheckpointError` instead of a raw ``SafetensorError``, ``JSONDecodeError`` or
``KeyError``. Nothing is ever unpickled. Introduced in chapter 4.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Callable, Sequence

import torch

from .errors import CheckpointError
from .files import write_atomic


def read_json(path: str | Path, required: Sequence[str] = (), error: type[Exception] = CheckpointError,
              prefix: str = "") -> dict:
    """The JSON object in ``path``, with the ``required`` fields; ``error`` (default
    :class:`CheckpointError`) naming the file otherwise, its message starting with ``prefix``.
    The latent store reads its manifests with it too."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{prefix}no file {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{prefix}{path} is not valid JSON ({e}); the file is corrupt") from e
    if not isinstance(data, dict):
        raise error(f"{prefix}{path} holds a JSON {type(data).__name__}, not an object")
    missing = [f for f in required if f not in data]
    if missing:
        raise error(f"{prefix}{path} lacks the field(s) {missing}")
    return data


def field(data: dict, name: str, kind: type | tuple, path: str | Path):
    """``data[name]`` if it is a ``kind``; :class:`CheckpointError` naming the file and field otherwise."""
    if name not in data:
        raise CheckpointError(f"{path} lacks the field {name!r}")
    value, kinds = data[name], kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        want = " or ".join(k.__name__ for k in kinds)
        raise CheckpointError(f"{path}: field {name!r} should be a {want}, got {value!r:.80}")
    return value


def read_tensors(path: str | Path, required: Sequence[str] = ()) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, with the ``required`` names; :class:`CheckpointError` otherwise."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file {path}")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({type(e).__name__}: {e})") from e
    missing = [n for n in required if n not in tensors]
    if missing:
        raise CheckpointError(f"{path} lacks the tensor(s) {missing}")
    return tensors


def load_state(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: str | Path) -> torch.nn.Module:
    """``model.load_state_dict(tensors, strict=True)`` with finite values; errors name ``path``."""
    bad = [k for k, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise CheckpointError(f"{path}: tensor(s) {bad[:5]} hold NaN or Inf")
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not fit this model: {e}") from e
    return model


def tensors_sha256(*tensors: torch.Tensor) -> str:
    """SHA-256 (hex) of tensors' shapes, dtypes and bytes: equal exactly when the data is. Names
    cached runs by their data (``train.run_folder``, ``generator.cached_generator``)."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def config_from(cls: type, data, path: str | Path, name: str = "config"):
    """``cls(**data)`` for a dataclass config read from field ``name`` of ``path``. An unknown field
    (a setting this version of the library does not have), a missing or an invalid one raises
    :class:`CheckpointError` naming the field and the file."""
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: field {name!r} should be an object, got {data!r:.80}")
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise CheckpointError(f"{path}: field {name!r} has unknown {cls.__name__} field(s) {unknown}; "
                              "refused rather than ignored (saved by another version of the library?)")
    try:
        return cls(**data)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: field {name!r} is not a valid {cls.__name__} ({e})") from e


def save_checkpoint(folder: str | Path, model: torch.nn.Module, weights: str, config: str, meta: dict) -> Path:
    """Write ``folder/weights`` (the state dict, safetensors) and ``folder/config`` (``meta`` as
    JSON, holding the model's config), each atomically. Returns ``folder``."""
    from safetensors.torch import save

    folder = Path(folder)
    write_atomic(folder / weights, save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}))
    write_atomic(folder / config, json.dumps(meta, indent=2, sort_keys=True).encode())
    return folder


def load_checkpoint(folder: str | Path, weights: str, config: str,
                    build: Callable[[dict, Path], torch.nn.Module],
                    required: Sequence[str] = ()) -> tuple[torch.nn.Module, dict]:
    """The model saved in ``folder`` by :func:`save_checkpoint`, and its JSON. ``build(meta, path)``
    makes the model from the JSON (with :func:`config_from`); the weights are then loaded strictly."""
    folder = Path(folder)
    for name in (config, weights):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"no checkpoint at {folder}: {name} is missing")
    meta = read_json(folder / config, required)
    model = build(meta, folder / config)
    return load_state(model, read_tensors(folder / weights), folder / weights), meta
