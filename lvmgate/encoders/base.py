"""The encoder interface and registry."""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lvmgate.errors import InputError

_REGISTRY: dict[str, Callable[..., Encoder]] = {}
_DIMS: dict[str, int] = {}  # encoders of a fixed dimension


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


def register(
    name: str, *, dim: int | None = None
) -> Callable[[Callable[..., Encoder]], Callable[..., Encoder]]:
    """Decorator adding a factory under `name` to the registry; `dim`: its fixed output dimension
    (None: the factory's `dim` parameter decides it), known without loading any weights."""

    def deco(factory: Callable[..., Encoder]) -> Callable[..., Encoder]:
        _REGISTRY[name] = factory
        if dim is not None:
            _DIMS[name] = dim
        return factory

    return deco


def _spec_parts(spec: str) -> tuple[str, dict[str, Any]]:
    name, *parts = spec.split(":")
    params: dict[str, Any] = {}
    for part in parts:
        key, _, value = part.partition("=")
        params[key] = int(value) if value.isdigit() else value
    return name, params


def declared_dim(spec: str | None) -> int | None:
    """The dimension an encoder spec produces, without building it (None: unknown name)."""
    if not spec:
        return None
    name, params = _spec_parts(spec)
    if "dim" in params:
        return int(params["dim"])
    if name in _DIMS:
        return _DIMS[name]
    factory = _REGISTRY.get(name)
    default = None if factory is None else inspect.signature(factory).parameters.get("dim")
    return None if default is None or default.default is inspect.Parameter.empty else int(default.default)


def encoder_names() -> list[str]:
    return sorted(_REGISTRY)


def get_encoder(spec: str, **kwargs) -> Encoder:
    """Build an encoder from a name or a recorded spec ('hashing:dim=384:salt=x'); kwargs override.
    The built-in encoders are registered by the package (lvmgate.encoders imports them)."""
    name, params = _spec_parts(spec)
    for key, value in params.items():
        kwargs.setdefault(key, value)
    if name not in _REGISTRY:
        raise InputError(f"unknown encoder {name!r} (known: {', '.join(sorted(_REGISTRY))})")
    try:
        return _REGISTRY[name](**kwargs)
    except TypeError as exc:
        raise InputError(f"encoder {name!r}: {exc}") from None
