"""Frozen unimodal encoders behind one interface (:class:`Encoder`). Introduced in chapter 2.

>>> enc = get_encoder("minilm-l6").load("cpu")
>>> enc.encode(["a dog on the beach"]).shape
torch.Size([1, 384])
"""

from .base import Encoder, resolve_device, to_rgb
from .registry import EncoderSpec, encoder_spec, get_encoder, list_encoders

__all__ = ["Encoder", "EncoderSpec", "encoder_spec", "get_encoder", "list_encoders", "resolve_device", "to_rgb"]
