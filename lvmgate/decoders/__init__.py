"""Decoders: vectors back to text behind one interface, `get_decoder(name, ...).decode(vectors)`.

- `nearest`: exact cosine nearest neighbour in the corpus's own (whole) vector bank; no weights.
- `jxe`, `ielab`: vec2text GTR-base inversion + corrector with the original project's two presets;
  weights from a local folder or the Hugging Face cache, offline (see docs/decoders.md).
Model-backed decoders import torch / vec2text lazily: importing lvmgate.decoders is cheap.
"""

from __future__ import annotations

from typing import Any

from lvmgate.decoders.base import Decoded, Decoder
from lvmgate.decoders.nearest import NearestDecoder
from lvmgate.errors import InputError

VEC2TEXT_DECODERS = ("jxe", "ielab")
DECODER_NAMES = ("nearest", *VEC2TEXT_DECODERS)

__all__ = ["DECODER_NAMES", "VEC2TEXT_DECODERS", "Decoded", "Decoder", "NearestDecoder", "get_decoder"]


def get_decoder(name: str, **kwargs: Any) -> Decoder:
    """Build a decoder by name.

    nearest: `get_decoder("nearest", bank=(N, D) array, texts=list or rows->texts, method=...)`
    or `get_decoder("nearest", store=store, dataset=name)` for a store's whole bank.
    jxe / ielab: `get_decoder("jxe", model_path=None, device=None, num_steps=None,
    sequence_beam_width=None, batch_size=None)`.
    """
    if name == "nearest":
        store, dataset = kwargs.pop("store", None), kwargs.pop("dataset", None)
        if store is not None:
            if dataset is None:
                raise InputError("nearest: a store needs a dataset name")
            return NearestDecoder.from_store(store, dataset, **kwargs)
        try:
            return NearestDecoder(kwargs.pop("bank"), kwargs.pop("texts"), **kwargs)
        except KeyError as exc:
            raise InputError(
                f"nearest: missing {exc.args[0]!r} (pass bank= and texts=, or store= and dataset=)"
            ) from None
    if name in VEC2TEXT_DECODERS:
        from lvmgate.decoders.vec2text import Vec2TextDecoder

        return Vec2TextDecoder(name, **kwargs)
    raise InputError(f"unknown decoder {name!r} (known: {', '.join(DECODER_NAMES)})")
