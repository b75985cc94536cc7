"""Reading checkpoint and state files: every failure names the file and, where it is one, the field.

Checkpoints are safetensors (weights, optimiser state, random-generator states) plus a JSON file
(config, progress). A truncated, edited or foreign file raises :class:`CheckpointError` instead of a
raw ``SafetensorError``, ``JSONDecodeError`` or ``KeyError``. Nothing is ever unpickled.
Introduced in chapter 4.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import torch

from .errors import CheckpointError


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
