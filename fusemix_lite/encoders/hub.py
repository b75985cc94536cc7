"""Full-profile encoders whose weights come from the Hugging Face Hub (never downloaded offline).

The paper's encoders: DINOv2 (image, CLS after the final LayerNorm), BGE-large-en-v1.5 (text, CLS,
not normalised), E5-large-v2 (text, "query: " + masked mean), Whisper (audio) and open_clip towers.
Every class also takes an injected ``model``/``config`` so that its code path is tested offline on a
tiny, randomly initialised model. A hub model missing from the local cache on an offline machine
raises :class:`~fusemix_lite.errors.OfflineError` within seconds. Introduced in chapter 2.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

import torch

from ..errors import OfflineError, UnknownNameError
from .base import (IMAGENET_MEAN, IMAGENET_STD, Encoder, file_sha256, image_preprocessing,
                   image_transform, state_dict_sha256, to_rgb)

_TRUE = ("1", "true", "yes", "on")
_REACHABLE: dict[str, bool] = {}


def hub_offline(timeout: float = 3.0) -> bool:
    """True when ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` is set or the hub does not answer
    within ``timeout`` seconds (probed once per process, in a thread, so DNS cannot hang us)."""
    if any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return True
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    if host not in _REACHABLE:
        ok: list[bool] = []

        def probe() -> None:
            try:
                socket.create_connection((host, 443), timeout=timeout).close()
                ok.append(True)
            except OSError:
                pass

        t = threading.Thread(target=probe, daemon=True)
        t.start()
        t.join(timeout + 0.5)
        _REACHABLE[host] = bool(ok)
    return not _REACHABLE[host]


def offline_error(encoder: str, what: str) -> OfflineError:
    return OfflineError(
        f"encoder {encoder!r} needs {what} from the Hugging Face Hub, which is not in the local cache, "
        "and this machine is offline. Run the full profile on a machine with network access "
        "(or use an offline encoder: fusemix_lite.encoders.list_encoders(profile='offline') lists them).")


_WEIGHT_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*"]


def hub_snapshot(encoder: str, repo: str, revision: str | None = None,
                 allow_patterns: list[str] | None = None) -> Path:
    """Local folder of a hub repository: from the cache, else downloaded (if online)."""
    from huggingface_hub import snapshot_download

    patterns = allow_patterns or _WEIGHT_FILES
    try:
        return Path(snapshot_download(repo, revision=revision, allow_patterns=patterns, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError and friends)
        pass
    if hub_offline():
        raise offline_error(encoder, repo)
    return Path(snapshot_download(repo, revision=revision, allow_patterns=patterns))


def snapshot_identity(folder: Path, repo: str) -> str:
    """``hf:<repo>@<commit>`` for a hub cache snapshot folder (its name is the commit)."""
    return f"hf:{repo}@{Path(folder).name}"


class _HFSource:
    """Where a transformers model comes from: a local folder, a hub repo, or an injected model."""

    def __init__(self, encoder: str, source: str | Path | None, model: torch.nn.Module | None,
                 config=None, revision: str | None = None):
        if source is None and model is None and config is None:
            raise ValueError(f"encoder {encoder!r}: give a folder, a hub repo id, a model or a config")
        self.encoder, self.source, self.revision = encoder, source, revision
        self.injected = model
        if config is not None and model is None:
            from transformers import AutoModel

            self.injected = AutoModel.from_config(config)

    @property
    def is_local(self) -> bool:
        return self.source is not None and Path(str(self.source)).is_dir()

    def folder(self) -> Path:
        if self.is_local:
            return Path(str(self.source))
        return hub_snapshot(self.encoder, str(self.source), self.revision)

    def identity(self) -> str:
        if self.injected is not None:
            return "sha256-state:" + state_dict_sha256(self.injected)
        if self.is_local:
            files = sorted(Path(str(self.source)).glob("*.safetensors")) or sorted(Path(str(self.source)).glob("*.bin"))
            if not files:
                raise FileNotFoundError(f"no weight file (*.safetensors, *.bin) in {self.source}")
            return "sha256:" + file_sha256(*files)
        return snapshot_identity(self.folder(), str(self.source))

    def load(self, cls=None) -> torch.nn.Module:
        if self.injected is not None:
            return self.injected
        from transformers import AutoModel

        return (cls or AutoModel).from_pretrained(str(self.folder()))

    def tokenizer(self, tokenizer=None):
        if tokenizer is not None:
            return tokenizer
        from transformers import AutoTokenizer

        if self.source is None:
            raise ValueError(f"encoder {self.encoder!r}: an injected model needs an injected tokenizer")
        return AutoTokenizer.from_pretrained(str(self.folder()))


def _hidden_size(config, model) -> int | None:
    """The width of an injected config or model (None for hub/folder sources)."""
    cfg = config if config is not None else getattr(model, "config", None)
    return getattr(cfg, "hidden_size", None)


# ---------------------------------------------------------------------------------------------
# DINOv2 (image)
# ---------------------------------------------------------------------------------------------
DINOV2 = {"vits14": ("facebook/dinov2-small", 384), "vitb14": ("facebook/dinov2-base", 768),
          "vitl14": ("facebook/dinov2-large", 1024), "vitg14": ("facebook/dinov2-giant", 1536)}


class Dinov2Encoder(Encoder):
    """DINOv2 (no registers): the CLS token after the final LayerNorm (``pooler_output``).

    Preprocessing as in the paper: resize 224 bicubic, centre-crop 224, ImageNet mean/std.
    """

    def __init__(self, name: str, repo: str | None, dim: int, image_size: int = 224,
                 model: torch.nn.Module | None = None, config=None, revision: str | None = None):
        dim = _hidden_size(config, model) or dim
        super().__init__(name, "image", dim, image_preprocessing(
            image_size, IMAGENET_MEAN, IMAGENET_STD, "crop", "bicubic",
            "CLS token after the final LayerNorm (pooler_output)"))
        self.src = _HFSource(name, repo, model, config, revision)
        self.transform = image_transform(image_size, IMAGENET_MEAN, IMAGENET_STD, "crop", "bicubic")

    def _weights_identity(self) -> str:
        return self.src.identity()

    def _build(self) -> torch.nn.Module:
        return self.src.load()

    def prepare(self, raw) -> torch.Tensor:
        return self.transform(to_rgb(raw))

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=self._to_device(batch))
        return out.pooler_output


# ---------------------------------------------------------------------------------------------
# Text: BGE, E5 (and MiniLM from a local folder, see offline.py)
# ---------------------------------------------------------------------------------------------
_PUNCT = '.!"()*#:;~'


def clean_caption(text: str, max_words: int = 50) -> str:
    """The paper's (LAVIS) caption cleaning: lower-case, ``.!"()*#:;~`` -> space, <= ``max_words``."""
    table = str.maketrans({c: " " for c in _PUNCT})
    words = text.lower().translate(table).split()
    return " ".join(words[:max_words])


class HFTextEncoder(Encoder):
    """A transformers text encoder with CLS or masked-mean pooling.

    ``prefix`` is prepended (E5's ``"query: "``); ``clean=True`` applies :func:`clean_caption`;
    ``normalize=True`` L2-normalises the output.
    """

    def __init__(self, name: str, source: str | Path | None, dim: int, pooling: str = "mean",
                 normalize: bool = False, prefix: str = "", clean: bool = False, max_words: int = 50,
                 max_tokens: int = 512, model: torch.nn.Module | None = None, config=None, tokenizer=None,
                 revision: str | None = None):
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
        dim = _hidden_size(config, model) or dim
        pre = {"input": "str", "clean": (f"lower-case; {_PUNCT} -> space; first {max_words} words"
                                         if clean else "strip whitespace"),
               "prefix": prefix, "max_tokens": max_tokens,
               "pooling": "CLS of the last hidden state" if pooling == "cls" else "masked mean of the last hidden state",
               "normalize": normalize}
        super().__init__(name, "text", dim, pre)
        self.src = _HFSource(name, source, model, config, revision)
        self.pooling, self.normalize, self.prefix = pooling, normalize, prefix
        self.clean, self.max_words, self.max_tokens = clean, max_words, max_tokens
        self._tokenizer = tokenizer

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = self.src.tokenizer()
        return self._tokenizer

    def _weights_identity(self) -> str:
        return self.src.identity()

    def _build(self) -> torch.nn.Module:
        _ = self.tokenizer  # resolve before DataLoader workers start
        return self.src.load()

    def prepare(self, raw) -> str:
        if not isinstance(raw, str):
            raise TypeError(f"a text encoder expects str, got {type(raw).__name__}")
        text = clean_caption(raw, self.max_words) if self.clean else raw.strip()
        if not text:
            raise ValueError(f"empty caption after cleaning: {raw!r}")
        return self.prefix + text

    def collate(self, prepared: list[str]) -> dict:
        return dict(self.tokenizer(prepared, padding=True, truncation=True, max_length=self.max_tokens,
                                   return_tensors="pt"))

    def forward(self, batch: dict) -> torch.Tensor:
        batch = {k: self._to_device(v) for k, v in batch.items()}
        hidden = self.model(**batch).last_hidden_state
        if self.pooling == "cls":
            out = hidden[:, 0]
        else:
            m = batch["attention_mask"].to(hidden.dtype).unsqueeze(-1)
            out = (hidden * m).sum(1) / m.sum(1).clamp_min(1)
        return torch.nn.functional.normalize(out.float(), dim=-1) if self.normalize else out


# ---------------------------------------------------------------------------------------------
# open_clip towers
# ---------------------------------------------------------------------------------------------
class OpenCLIPEncoder(Encoder):
    """One tower of an open_clip model: ``encode_image`` or ``encode_text`` (projected, not
    normalised). ``pretrained=None`` builds random weights (tests); ``model``/``preprocess``/
    ``tokenizer`` can be injected."""

    def __init__(self, name: str, arch: str, pretrained: str | None, tower: str,
                 model: torch.nn.Module | None = None, preprocess=None, tokenizer=None, seed: int = 0):
        import open_clip

        if tower not in ("image", "text"):
            raise ValueError(f"tower must be 'image' or 'text', got {tower!r}")
        cfg = open_clip.get_model_config(arch)
        if cfg is None and model is None:
            raise UnknownNameError(f"open_clip has no architecture {arch!r}; see open_clip.list_models()")
        dim = model.text_projection.shape[1] if (model is not None and tower == "text"
                                                 and hasattr(model, "text_projection")) else None
        dim = dim or (cfg["embed_dim"] if cfg else getattr(model.visual, "output_dim"))
        self.pcfg = {}
        if pretrained is not None:
            self.pcfg = open_clip.get_pretrained_cfg(arch, pretrained)
            if not self.pcfg:
                raise UnknownNameError(f"open_clip has no pretrained tag {pretrained!r} for {arch}; "
                                       f"known tags: {open_clip.list_pretrained_tags_by_model(arch)}")
        pre = {"open_clip": arch, "pretrained": pretrained, "tower": tower,
               "pooling": f"encode_{tower} (projected, not normalised)"}
        if tower == "image":
            pre.update(input="PIL image; transparency composited onto white; RGB",
                       mean=list(self.pcfg.get("mean", open_clip.OPENAI_DATASET_MEAN)),
                       std=list(self.pcfg.get("std", open_clip.OPENAI_DATASET_STD)),
                       interpolation=self.pcfg.get("interpolation", "bicubic"),
                       resize=self.pcfg.get("resize_mode", "shortest"),
                       size=(cfg or {}).get("vision_cfg", {}).get("image_size"))
        else:
            pre.update(input="str", clean="strip whitespace",
                       max_tokens=(cfg or {}).get("text_cfg", {}).get("context_length", 77))
        super().__init__(name, tower, dim, pre)
        self.arch, self.pretrained, self.tower, self.seed = arch, pretrained, tower, seed
        self._injected, self._preprocess, self._tokenizer = model, preprocess, tokenizer
        self._user_model = model is not None

    def _checkpoint(self) -> str | None:
        """Local path of the pretrained checkpoint, None if it must be downloaded (online)."""
        hub = self.pcfg.get("hf_hub", "")
        if self.pcfg.get("file"):
            return self.pcfg["file"]
        if hub:
            from huggingface_hub import try_to_load_from_cache

            repo, filename = os.path.split(hub)  # "org/repo/file" or "org/repo/" (default file)
            names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
            if filename.endswith((".bin", ".pth")):
                names.insert(0, filename[:-4] + ".safetensors")
            for n in names:
                hit = try_to_load_from_cache(repo, n)
                if isinstance(hit, str):
                    return hit
        if hub_offline():
            raise offline_error(self.name, f"open_clip weights {self.arch}/{self.pretrained} ({hub or self.pcfg.get('url')})")
        return None

    def _create(self):
        import open_clip

        if self.pretrained is None:
            torch.manual_seed(self.seed)
            return open_clip.create_model_and_transforms(self.arch, pretrained=None)
        path = self._checkpoint()
        if path is None:  # online: let open_clip download by tag
            return open_clip.create_model_and_transforms(self.arch, pretrained=self.pretrained)
        return open_clip.create_model_and_transforms(
            self.arch, pretrained=path, force_quick_gelu=bool(self.pcfg.get("quick_gelu", False)),
            image_mean=self.pcfg.get("mean"), image_std=self.pcfg.get("std"),
            image_interpolation=self.pcfg.get("interpolation"), image_resize_mode=self.pcfg.get("resize_mode"))

    def _ensure(self) -> None:
        if self._injected is None or (self.tower == "image" and self._preprocess is None):
            model, _, preprocess = self._create()
            self._injected = model if self._injected is None else self._injected
            self._preprocess = preprocess if self._preprocess is None else self._preprocess

    @property
    def preprocess(self):
        if self._preprocess is None:
            self._ensure()
        return self._preprocess

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            import open_clip

            try:
                self._tokenizer = open_clip.get_tokenizer(self.arch)
            except OSError as e:
                raise offline_error(self.name, f"the tokenizer of {self.arch}") from e
        return self._tokenizer

    def _weights_identity(self) -> str:
        if self._injected is None and self.pretrained is not None:
            path = self._checkpoint()
            if path is not None:
                p = Path(path)
                if p.parent.parent.name == "snapshots":  # a hub cache file: name the commit
                    return f"open_clip:{self.arch}:{self.pretrained}@{p.parent.name}"
                return "sha256:" + file_sha256(p)
        self._ensure()
        return "sha256-state:" + state_dict_sha256(self._injected)

    def _build(self) -> torch.nn.Module:
        self._ensure()
        if self.tower == "text":
            _ = self.tokenizer
        return self._injected

    def __getstate__(self) -> dict:  # spawned DataLoader workers need the transforms only
        state = super().__getstate__()
        if not self._user_model:
            state["_injected"] = None
        return state

    def unload(self) -> None:
        if not self._user_model and self.pretrained is not None:
            self._injected = None
        super().unload()

    def prepare(self, raw):
        if self.tower == "image":
            return self.preprocess(to_rgb(raw))
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError(f"a text encoder expects a non-empty str, got {raw!r}")
        return raw.strip()

    def collate(self, prepared: list):
        return torch.stack(prepared) if self.tower == "image" else self.tokenizer(prepared)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        if self.tower == "image":
            return self.model.encode_image(self._to_device(batch))
        return self.model.encode_text(self._to_device(batch))


def parse_openclip_name(name: str) -> tuple[str, str, str]:
    """``openclip-<arch>-<pretrained>-<image|text>`` -> (arch, pretrained, tower)."""
    import open_clip

    body = name[len("openclip-"):]
    for tower in ("image", "text"):
        if body.endswith("-" + tower):
            body = body[: -len(tower) - 1]
            break
    else:
        raise UnknownNameError(f"{name!r}: an open_clip encoder name ends in -image or -text, "
                               "e.g. openclip-ViT-B-32-openai-image")
    archs = sorted(open_clip.list_models(), key=len, reverse=True)
    for arch in archs:
        if body.startswith(arch + "-"):
            return arch, body[len(arch) + 1:], tower
    raise UnknownNameError(f"{name!r}: no open_clip architecture matches; e.g. {', '.join(archs[:5])}")


WHISPER_SIZES = {"tiny": 384, "tiny.en": 384, "base": 512, "base.en": 512, "small": 768, "small.en": 768,
                 "medium": 1024, "medium.en": 1024, "large": 1280, "large-v2": 1280, "large-v3": 1280,
                 "large-v3-turbo": 1280}
