"""Hostile and broken inputs against the latent store, checkpoints, the core functions and retrieval.

Each case feeds one malformed or hostile input and asserts its clear error (matched on the message)
or its documented handling. Every test runs under a timeout (``signal.alarm``) and under a guard
that fails it if anything outside its ``tmp_path`` was written, renamed or deleted (a Python audit
hook on open/rename/remove/mkdir, plus a before/after listing of the repository). ``FUSEMIX_HOME``
points into ``tmp_path`` so the library's default folders are inside it too. (Issue 16.)
"""

import json
import math
import re
import os
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import fusemix_lite.store as store_mod
from fusemix_lite.adapters import AdapterConfig, FusionModel
from fusemix_lite.attributes import AttributeConfig, AttributeNet, load_attribute_classifier, save_attribute_classifier
from fusemix_lite.errors import CheckpointError, StoreCorruptError, StoreMismatchError
from fusemix_lite.extract import extraction_counts
from fusemix_lite.fusemix import fusemix, sample_lambda
from fusemix_lite.generator import FlowUNet, GeneratorConfig, load_generator, save_generator
from fusemix_lite.loss import clip_loss
from fusemix_lite.retrieval import recall_at_k
from fusemix_lite.pairs import PairedLatents
from fusemix_lite.store import LatentStore, StoreKey
from fusemix_lite.train import TrainConfig, _check_resume, _load_last, load_weights, param_groups, train

pytestmark = pytest.mark.usefixtures("one_thread")

TIMEOUT_S = 30
REPO = Path(__file__).resolve().parents[1]
MANIFEST = {"weights_hash": "w", "preprocessing": {"size": 8}, "data_manifest_hash": "d"}
KEY = StoreKey("toy", "train", "image", "enc", "v1")
ROWS, DIM = 6, 5

# ---- the guard: a timeout, and nothing written outside tmp_path ---------------------------------
_WATCH: dict = {"root": None, "bad": []}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _outside(path, dir_fd=None) -> bool:
    try:
        p = Path(os.fsdecode(path))
        if dir_fd is not None and not p.is_absolute():       # shutil.rmtree removes relative to a folder fd
            p = Path(os.readlink(f"/proc/self/fd/{dir_fd}")) / p
        p = p.resolve()
    except (TypeError, ValueError, OSError):
        return False
    return not (p.is_relative_to(_WATCH["root"]) or p.is_relative_to("/dev") or p.is_relative_to("/proc"))


# event -> [(index of a path argument, index of its dir_fd argument or None)]
_PATH_ARGS = {"os.remove": [(0, 1)], "os.rmdir": [(0, 1)], "os.mkdir": [(0, 2)], "shutil.rmtree": [(0, 1)],
              "os.rename": [(0, 2), (1, 3)], "os.replace": [(0, 2), (1, 3)], "os.truncate": [(0, None)],
              "os.symlink": [(1, 2)], "os.link": [(1, 3)], "os.chmod": [(0, 2)]}


def _audit(event: str, args) -> None:
    if _WATCH["root"] is None:
        return
    if event == "open":
        path, mode, flags = args
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & _WRITE_FLAGS)
        if writes and isinstance(path, (str, bytes, os.PathLike)) and _outside(path):
            _WATCH["bad"].append((event, path))
    for i, fd_i in _PATH_ARGS.get(event, ()):
        path = args[i] if i < len(args) else None
        dir_fd = args[fd_i] if fd_i is not None and fd_i < len(args) and isinstance(args[fd_i], int) else None
        if isinstance(path, (str, bytes, os.PathLike)) and _outside(path, dir_fd):
            _WATCH["bad"].append((event, path))


sys.addaudithook(_audit)


def _repo_listing() -> dict:
    skip = {".git", "__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
    out = {}
    for dirpath, dirnames, filenames in os.walk(REPO):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            st = os.stat(os.path.join(dirpath, name))
            out[os.path.join(dirpath, name)] = (st.st_size, st.st_mtime_ns)
    return out


class _Timeout(Exception):
    pass


@pytest.fixture(autouse=True)
def guard(tmp_path, monkeypatch):
    """Timeout per test; fail if the test touched anything outside ``tmp_path``."""
    monkeypatch.setenv("FUSEMIX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))  # torch's own cache folder
    before = _repo_listing()

    def on_alarm(signum, frame):
        raise _Timeout(f"no answer within {TIMEOUT_S} s: a hang")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIMEOUT_S)
    _WATCH["root"], _WATCH["bad"] = tmp_path.resolve(), []
    try:
        yield
    finally:
        _WATCH["root"] = None
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert not _WATCH["bad"], f"touched files outside the test's folder: {_WATCH['bad'][:5]}"
    assert _repo_listing() == before, "the repository tree changed"


def test_guard_catches_a_write_outside(tmp_path):
    """The guard itself can fail: a write outside tmp_path is recorded (then forgotten here)."""
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("x")
    assert _WATCH["bad"] and _WATCH["bad"][0][0] == "open"
    _WATCH["bad"].clear()
    _WATCH["root"] = None
    outside.unlink()


# ---- latent store -------------------------------------------------------------------------------
def _store(tmp_path) -> tuple[LatentStore, np.ndarray]:
    store = LatentStore(tmp_path / "store")
    arr = np.random.default_rng(0).normal(size=(ROWS, DIM)).astype(np.float32)
    store.save(KEY, arr, [f"id{i}" for i in range(ROWS)], MANIFEST, item_index=list(range(ROWS)))
    return store, arr


def _edit_manifest(store, fn) -> None:
    path = store.path(KEY) / "manifest.json"
    path.write_text(json.dumps(fn(json.loads(path.read_text()))))


def test_failed_final_rename_keeps_the_old_key(tmp_path, monkeypatch):
    store, arr = _store(tmp_path)
    real = os.replace

    def failing(src, dst, *a, **k):
        if str(src).endswith(".tmp") and Path(src).is_dir():       # the swap of the new folder
            raise OSError("rename failed (disk full)")
        return real(src, dst, *a, **k)
    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match="rename failed"):
        store.save(KEY, np.zeros((2, DIM)), ["a", "b"], MANIFEST)
    monkeypatch.setattr(os, "replace", real)
    np.testing.assert_array_equal(store.load(KEY).array, arr)
    assert sorted(os.listdir(store.path(KEY).parent)) == ["enc"], "nothing stranded in a hidden folder"


def test_failed_rename_and_failed_restore_says_where_the_old_key_is(tmp_path, monkeypatch):
    store, _ = _store(tmp_path)
    real = os.replace

    def failing(src, dst, *a, **k):
        if (str(src).endswith(".tmp") and Path(src).is_dir()) or str(src).endswith("/x"):
            raise OSError("rename failed")
        return real(src, dst, *a, **k)
    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match=r"nor restore it .*the old version is in .*\.old/x"):
        store.save(KEY, np.zeros((2, DIM)), ["a", "b"], MANIFEST)


@pytest.mark.parametrize("offset", [-1, -17, 200])
def test_same_size_bit_flip_is_caught_by_the_cache_check(tmp_path, offset):
    store, _ = _store(tmp_path)
    path = store.path(KEY) / "latents.npy"
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x04
    path.write_bytes(bytes(data))
    assert not store.exists(KEY)
    for verify in ("crc32", True):
        with pytest.raises(StoreCorruptError, match="checksum"):
            store.load(KEY, verify=verify)
    store.load(KEY, verify=False)  # documented: verify=False checks manifest, header and size only


@pytest.mark.parametrize("edit, field", [
    (lambda m: None, "JSON NoneType, not an object"),
    (lambda m: [m], "JSON list, not an object"),
    (lambda m: "manifest", "JSON str, not an object"),
    (lambda m: {**m, "dtype": "float64"}, "field 'dtype'"),
    (lambda m: {**m, "dtype": "float16"}, "field 'dtype'"),
    (lambda m: {**m, "shape": [ROWS, DIM - 1]}, "manifest says float32"),
    (lambda m: {**m, "shape": [ROWS, DIM, 1]}, "field 'shape'"),
    (lambda m: {**m, "shape": "6x5"}, "field 'shape'"),
    (lambda m: {**m, "shape": [ROWS, -DIM]}, "field 'shape'"),
    (lambda m: {**m, "ids": list(range(ROWS))}, "field 'ids'"),
    (lambda m: {**m, "ids": m["ids"][:-1]}, "ids/item_index do not have"),
    (lambda m: {**m, "item_index": [0.5] * ROWS}, "field 'item_index'"),
    (lambda m: {**m, "item_index": [-1] * ROWS}, "field 'item_index'"),
    (lambda m: {**m, "crc32": "deadbeef"}, "field 'crc32'"),
    (lambda m: {**m, "sha256": None}, "field 'sha256'"),
    (lambda m: {k: v for k, v in m.items() if k != "dtype"}, r"lacks the field\(s\) \['dtype'\]"),
])
def test_edited_store_manifest_is_refused(tmp_path, edit, field):
    store, _ = _store(tmp_path)
    _edit_manifest(store, edit)
    with pytest.raises(StoreCorruptError, match=field) as err:
        store.load(KEY, verify=False)
    assert "manifest.json" in str(err.value) or "latents.npy" in str(err.value), "names the file"
    assert not store.exists(KEY)


@pytest.mark.parametrize("content", [b"{\"shape\": [6, ", b"\xff\xfe\x00garbage", b""])
def test_unparsable_store_manifest_names_the_file(tmp_path, content):
    store, _ = _store(tmp_path)
    (store.path(KEY) / "manifest.json").write_bytes(content)
    with pytest.raises(StoreCorruptError, match=r"manifest.json is not valid JSON"):
        store.load(KEY)


def test_truncated_and_pickled_latents_are_refused(tmp_path):
    store, _ = _store(tmp_path)
    path = store.path(KEY) / "latents.npy"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(StoreCorruptError, match="truncated|bytes, expected"):
        store.load(KEY, verify=False)
    np.save(path, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(StoreCorruptError, match="unreadable"):
        store.load(KEY, verify=False)


@pytest.mark.parametrize("fields, message", [
    (("toy", "../etc", "image", "enc"), "StoreKey.split must be a plain name"),
    (("toy", "train", "image", "/abs"), "StoreKey.encoder must be a plain name"),
    (("toy", "train", "image", "enc", "../v"), "StoreKey.variant must be a plain name"),
    (("toy@v2", "train", "image", "enc"), "StoreKey.dataset must be a plain name"),
    (("toy", "train", "image", "enc", 5), "StoreKey.variant must be a plain name"),
])
def test_store_key_refuses_paths(fields, message):
    with pytest.raises(ValueError, match=message):
        StoreKey(*fields)


def test_nan_latents_and_bad_verify_are_refused(tmp_path):
    store = LatentStore(tmp_path / "store")
    arr = np.ones((3, 2), np.float32)
    arr[1, 0] = np.nan
    with pytest.raises(ValueError, match="contain NaN or Inf"):
        store.save(KEY, arr, ["a", "b", "c"], MANIFEST)
    _store(tmp_path)
    with pytest.raises(ValueError, match="verify must be one of"):
        LatentStore(tmp_path / "store").load(KEY, verify="md5")


def test_key_without_variant_is_ambiguous_between_two(tmp_path):
    store, _ = _store(tmp_path)
    store.save(StoreKey("toy", "train", "image", "enc", "v2"), np.ones((2, 2)), ["a", "b"], MANIFEST)
    with pytest.raises(StoreMismatchError, match=r"2 variants of dataset 'toy' \(v1, v2\)"):
        store.load(StoreKey("toy", "train", "image", "enc"))


def test_corrupt_extraction_log_names_the_line(tmp_path):
    store = LatentStore(tmp_path / "store")
    store.root.mkdir()
    (store.root / "extractions.jsonl").write_text('{"dataset": "toy"}\n')
    with pytest.raises(ValueError, match=r"extractions.jsonl:1: not an extraction record \(KeyError"):
        extraction_counts(store)


# ---- checkpoints ---------------------------------------------------------------------------------
DA, DB = 6, 4


def _model(seed=0):
    torch.manual_seed(seed)
    return FusionModel(AdapterConfig(DA, out_dim=8, depth=1, expansion=2, dropout=0.0),
                       AdapterConfig(DB, out_dim=8, depth=1, expansion=2, dropout=0.0))


def _pairs():
    g = torch.Generator().manual_seed(0)
    return PairedLatents.from_arrays(torch.randn(32, DA, generator=g), torch.randn(32, DB, generator=g),
                                     split="train")


def _cfg():
    return TrainConfig(epochs=2, batch_size=16, warmup_steps=1, device="cpu", progress=False)


@pytest.fixture
def ckpt(tmp_path):
    """A real training checkpoint (``last/`` after one of two epochs) in this test's folder."""
    train(_model(), _pairs(), None, _cfg(), ckpt_dir=tmp_path / "ck", stop_after=1)
    return tmp_path / "ck"


def _resume(ckpt_dir):
    return train(_model(1), _pairs(), None, _cfg(), ckpt_dir=ckpt_dir, resume=True)


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[:40]), "model.safetensors is not a readable safetensors file"),
    (lambda p: p.write_bytes(b"\x00" * 64), "model.safetensors is not a readable safetensors file"),
    (lambda p: p.write_bytes(b"PK\x03\x04 a zip, say a torch pickle"), "not a readable safetensors file"),
])
def test_corrupt_weights_name_the_file(ckpt, damage, message):
    damage(ckpt / "last" / "model.safetensors")
    with pytest.raises(CheckpointError, match=message):
        load_weights(_model(), ckpt / "last")
    with pytest.raises(CheckpointError, match=message):
        _resume(ckpt)


def test_nan_and_foreign_weights_are_refused(ckpt, tmp_path):
    from safetensors.torch import load_file, save_file

    path = ckpt / "last" / "model.safetensors"
    tensors = load_file(str(path))
    save_file({**tensors, "adapter_a.proj_in.weight" if "adapter_a.proj_in.weight" in tensors
               else next(iter(tensors)): torch.full_like(next(iter(tensors.values())), float("nan"))}, str(path))
    with pytest.raises(CheckpointError, match="hold NaN or Inf"):
        load_weights(_model(), path)
    other = FusionModel(AdapterConfig(DA, out_dim=8, depth=2), AdapterConfig(DB, out_dim=8, depth=2))
    save_file(tensors, str(path))
    with pytest.raises(CheckpointError, match="does not fit this model"):
        load_weights(other, path)


def test_state_safetensors_without_rng_names_the_tensor(ckpt):
    from safetensors.torch import load_file, save_file

    path = ckpt / "last" / "state.safetensors"
    save_file({k: v for k, v in load_file(str(path)).items() if k != "rng.host"}, str(path))
    with pytest.raises(CheckpointError, match=r"state.safetensors lacks the tensor\(s\) \['rng.host'\]"):
        _resume(ckpt)


def test_state_safetensors_with_bad_rng_state_is_refused(ckpt):
    from safetensors.torch import load_file, save_file

    path = ckpt / "last" / "state.safetensors"
    save_file({**load_file(str(path)), "rng.host": torch.zeros(3, dtype=torch.uint8)}, str(path))
    with pytest.raises(CheckpointError, match="random-generator state does not fit"):
        _resume(ckpt)


def _direct_load_last(ckpt_dir):
    model = _model()
    opt = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-3)
    return _load_last(ckpt_dir / "last", model, opt, {"host": torch.Generator(), "device": torch.Generator()})


@pytest.mark.parametrize("edit, message", [
    (lambda text: text[: len(text) // 2], r"state.json is not valid JSON"),
    (lambda text: "null", r"state.json holds a JSON NoneType, not an object"),
    (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "param_groups"}),
     r"state.json lacks the field\(s\) \['param_groups'\]"),
    (lambda text: json.dumps({**json.loads(text), "epoch": "1"}), r"state.json: field 'epoch' should be an integer"),
    (lambda text: json.dumps({**json.loads(text), "param_groups": [{"lr": 1}]}), r"field 'param_groups'"),
])
def test_corrupt_resume_state_names_file_and_field(ckpt, edit, message):
    """Through ``_load_last``, the resume path's reader (``train`` still parses state.json once itself
    before calling it, with a bare ``json.loads``: its loop is outside this change)."""
    path = ckpt / "last" / "state.json"
    path.write_text(edit(path.read_text()))
    with pytest.raises(CheckpointError, match=message):
        _direct_load_last(ckpt)


def test_resume_meta_without_train_config_names_the_field(ckpt):
    meta = json.loads((ckpt / "last" / "state.json").read_text())
    del meta["train_config"]
    with pytest.raises(CheckpointError, match=r"state.json lacks the field 'train_config'"):
        _check_resume(ckpt / "last", meta, {})
    with pytest.raises(CheckpointError, match="not an object"):
        _check_resume(ckpt / "last", [meta], {})


def _generator_ckpt(tmp_path) -> Path:
    cfg = GeneratorConfig(image_size=8, cond_dim=4, patch=2, channels=8, channel_mults=(1,), attention=False,
                          emb_dim=8, steps=1, batch_size=2)
    return save_generator(FlowUNet(cfg), tmp_path / "gen")


@pytest.mark.parametrize("edit, message", [
    (lambda p: p.write_text("{"), "generator.json is not valid JSON"),
    (lambda p: p.write_text("[]"), "generator.json holds a JSON list"),
    (lambda p: p.write_text(json.dumps({"format": 1})), "generator.json lacks the field 'config'"),
    (lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "config": {"patch": 3}})),
     "field 'config' is not a valid GeneratorConfig"),
    (lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "extra": "x"})), "field 'extra' should be a dict"),
])
def test_corrupt_generator_config(tmp_path, edit, message):
    folder = _generator_ckpt(tmp_path)
    edit(folder / "generator.json")
    with pytest.raises(CheckpointError, match=message):
        load_generator(folder)


def test_corrupt_generator_weights(tmp_path):
    folder = _generator_ckpt(tmp_path)
    load_generator(folder)                                       # intact: loads
    (folder / "generator.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{bad json header}")
    with pytest.raises(CheckpointError, match="generator.safetensors is not a readable safetensors file"):
        load_generator(folder)


@pytest.mark.parametrize("edit, message", [
    (lambda m: {k: v for k, v in m.items() if k != "classes"}, "attributes.json lacks the field 'classes'"),
    (lambda m: {**m, "classes": {"shape": "ab"}}, "field 'classes' should map"),
    (lambda m: {**m, "classes": {"shape": ["only one"]}}, "do not make a classifier"),
    (lambda m: {**m, "config": {"image_size": 7}}, "field 'config' is not a valid AttributeConfig"),
])
def test_corrupt_attribute_judge(tmp_path, edit, message):
    folder = save_attribute_classifier(AttributeNet(AttributeConfig(image_size=8, channels=4),
                                                    {"shape": ["a", "b"]}), tmp_path / "judge")
    load_attribute_classifier(folder)                            # intact: loads
    path = folder / "attributes.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    with pytest.raises(CheckpointError, match=message):
        load_attribute_classifier(folder)


# ---- core functions --------------------------------------------------------------------------------
X, Y = torch.randn(8, 3, generator=torch.Generator().manual_seed(0)), torch.randn(8, 2)


@pytest.mark.parametrize("alpha", [math.inf, -math.inf, math.nan, 0.0, -1.0, True, "1", None])
def test_fusemix_refuses_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be a finite number > 0"):
        fusemix(X, Y, alpha)
    with pytest.raises(ValueError, match="alpha must be a finite number > 0"):
        sample_lambda(alpha)


@pytest.mark.parametrize("lam", [1.5, -0.1, math.nan])
def test_fusemix_refuses_lambda_outside_0_1(lam):
    with pytest.raises(ValueError, match=r"lam must be a number in \[0, 1\]"):
        fusemix(X, Y, 1.0, lam=lam)


def test_fusemix_finite_alpha_is_finite():
    x, y, lam = fusemix(X, Y, 1e6, torch.Generator().manual_seed(0))
    assert 0 <= lam <= 1 and torch.isfinite(x).all() and torch.isfinite(y).all()


@pytest.mark.parametrize("temperature", [0.0, -0.07, math.nan, math.inf, torch.tensor(0.0),
                                         torch.tensor([0.1, 0.2]), "0.07"])
def test_clip_loss_refuses_bad_temperature(temperature):
    with pytest.raises(ValueError, match="temperature must be one finite number > 0"):
        clip_loss(X, X, temperature)


def test_clip_loss_negative_temperature_would_flip_the_objective():
    """Why it is refused: with -tau the loss is smaller for the *wrong* pairing."""
    a = torch.eye(4)
    right = clip_loss(a, a, 0.1)
    assert right < clip_loss(a, a.roll(1, 0), 0.1)


@pytest.mark.parametrize("caption_item", [np.array([0.0, 1.7, 2.2]), torch.tensor([0.0, 1.0, 2.0]),
                                          torch.tensor([True, False, True])])
def test_paired_latents_refuses_non_integer_caption_item(caption_item):
    with pytest.raises(ValueError, match="caption_item must hold integer item indices"):
        PairedLatents.from_arrays(torch.randn(3, 2), torch.randn(3, 2), caption_item)


def test_paired_latents_refuses_nan():
    items = torch.randn(3, 2)
    items[2, 1] = float("nan")
    with pytest.raises(ValueError, match="items latents contain NaN or Inf in 1 rows"):
        PairedLatents.from_arrays(items, torch.randn(3, 2))


# ---- retrieval -------------------------------------------------------------------------------------
_G = torch.Generator().manual_seed(0)
E_I, E_T, CAP = torch.randn(4, 3, generator=_G), torch.randn(6, 3, generator=_G), torch.tensor([0, 1, 2, 3, 0, 1])


@pytest.mark.parametrize("change, message", [
    ({"item_emb": torch.full((4, 3), float("nan"))}, "NaN or Inf"),
    ({"text_emb": torch.cat([E_T[:5], torch.tensor([[math.inf, 0, 0]])])}, "NaN or Inf"),
    ({"caption_item": CAP.float() + 0.7}, "caption_item must hold integers"),
    ({"caption_item": CAP[:5]}, r"one index per caption \(6\)"),
    ({"caption_item": CAP[:, None]}, r"one index per caption \(6\)"),
    ({"text_emb": E_T[:, :2]}, "must share a dim"),
    ({"item_emb": E_I[None]}, "must be 2-D"),
    ({"caption_item": torch.tensor([0, 1, 2, 9, 0, 1])}, r"indices in \[0, 9\]"),
    ({"caption_item": torch.tensor([0, 1, 2, -1, 0, 1])}, r"indices in \[-1, 2\]"),
    ({"caption_item": torch.tensor([0, 1, 2, 2, 0, 1])}, "1 items have no caption"),
    ({"ks": (0, 1)}, "ks must be positive integers"),
    ({"ks": (1.5,)}, "ks must be positive integers"),
    ({"ks": ()}, "ks must be positive integers"),
    ({"text_key": np.array([0.5] * 6)}, "text_key must hold integers"),
    ({"text_key": torch.arange(5)}, r"one key per caption \(6\)"),
    ({"chunk_size": 0}, "chunk_size must be >= 1"),
    ({"item_emb": E_I[:0]}, "nothing to retrieve"),
])
def test_retrieval_refuses_bad_input(change, message):
    args = {"item_emb": E_I, "text_emb": E_T, "caption_item": CAP, **change}
    with pytest.raises(ValueError, match=message):
        recall_at_k(**args)


def test_retrieval_on_clean_input_still_answers():
    out = recall_at_k(E_I, E_T, CAP, ks=(1, 5))
    assert 0 <= out["i2t_R@1"] <= 100 and out["t2i_R@5"] == 100.0  # 4 items: a caption's R@5 is all of them


# ---- one save/load convention: an unknown config field is refused, naming the field and the file ----
def _adapter_ckpt(tmp_path) -> Path:
    from fusemix_lite.adapters import AdapterConfig, FusionModel
    from fusemix_lite.train import _save_best

    model = FusionModel(AdapterConfig(6, out_dim=4, depth=1, expansion=2), AdapterConfig(5, out_dim=4, depth=0), seed=0)
    _save_best(tmp_path / "run" / "best", model, {"epoch": 1, "score": 0.0, "model_config": model.config()})
    return tmp_path / "run" / "best"


@pytest.mark.parametrize("thing", ["adapters", "generator", "judge"])
def test_every_checkpoint_refuses_an_unknown_config_field(tmp_path, thing):
    from fusemix_lite.train import load_model

    if thing == "adapters":
        folder, name, load = _adapter_ckpt(tmp_path), "best.json", load_model
        before = load(folder).state_dict()
        add = lambda m: {**m, "model_config": {**m["model_config"], "b": {**m["model_config"]["b"], "gate": True}}}
        where = "'model_config.b' has unknown AdapterConfig field\\(s\\) \\['gate'\\]"
    elif thing == "generator":
        folder, name, load = _generator_ckpt(tmp_path), "generator.json", lambda f: load_generator(f)[0]
        before = load(folder).state_dict()
        add = lambda m: {**m, "config": {**m["config"], "gate": True}}
        where = "'config' has unknown GeneratorConfig field\\(s\\) \\['gate'\\]"
    else:
        folder = save_attribute_classifier(AttributeNet(AttributeConfig(image_size=8, channels=4), {"shape": ["a", "b"]}),
                                           tmp_path / "judge")
        name, load = "attributes.json", load_attribute_classifier
        before = load(folder).state_dict()
        add = lambda m: {**m, "config": {**m["config"], "gate": True}}
        where = "'config' has unknown AttributeConfig field\\(s\\) \\['gate'\\]"
    assert all(torch.isfinite(v).all() for v in before.values())      # the intact checkpoint loads
    path = folder / name
    path.write_text(json.dumps(add(json.loads(path.read_text()))))
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ": field " + where):
        load(folder)


def test_load_model_rebuilds_the_saved_adapters(tmp_path):
    from fusemix_lite.adapters import AdapterConfig, FusionModel
    from fusemix_lite.train import load_model

    folder = _adapter_ckpt(tmp_path)
    loaded = load_model(folder)
    ref = FusionModel(AdapterConfig(6, out_dim=4, depth=1, expansion=2), AdapterConfig(5, out_dim=4, depth=0), seed=0)
    assert loaded.config() == ref.config() and not loaded.training
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), ref.state_dict().values()))
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors is missing"):
        load_model(folder)
