"""The encoder interface and registry."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

import numpy as np

from lvmgate.errors import InputError

_REGISTRY: dict[str, Callable[..., Encoder]] = {}


class Encoder(abc.ABC):
    """Turns texts into unit-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int
    unit_norm: bool = True  # False: raw vectors (vec2text-gtr's mean-pooled space); compare by cosine

    @property
    def spec(self) -> str:
        """Identity recorded with a dataset, e.g. 'hashing:dim=768:salt=lvmgate'."""
        return self.name

    @abc.abstractmethod
    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """(n, dim) float32; rows of unit norm unless `unit_norm` is False (vec2text-gtr keeps the raw
        mean-pooled vectors its decoders were trained on); all-zero for texts with nothing to encode."""


def register(name: str) -> Callable[[Callable[..., Encoder]], Callable[..., Encoder]]:
    """Decorator adding a factory under `name` to the registry."""

    def deco(factory: Callable[..., Encoder]) -> Callable[..., Encoder]:
        _REGISTRY[name] = factory
        return factory

    return deco


def encoder_names() -> list[str]:
    return sorted(_REGISTRY)


def get_encoder(spec: str, **kwargs) -> Encoder:
    """Build an encoder from a name or a recorded spec ('hashing:dim=384:salt=x'); kwargs override.
    The built-in encoders are registered by the package (lvmgate.encoders imports them)."""
    name, *parts = spec.split(":")
    for part in parts:
        key, _, value = part.partition("=")
        kwargs.setdefault(key, int(value) if value.isdigit() else value)
    if name not in _REGISTRY:
        raise InputError(f"unknown encoder {name!r} (known: {', '.join(sorted(_REGISTRY))})")
    try:
        return _REGISTRY[name](**kwargs)
    except TypeError as exc:
        raise InputError(f"encoder {name!r}: {exc}") from None
