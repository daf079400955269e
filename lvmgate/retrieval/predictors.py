"""The Predictor protocol (context vectors -> next vector) and the two baselines every LVM must beat.

    predict(contexts: (B, w, D) float32) -> (B, D) float32

`copy_last` returns the last context vector (the failure mode the original LVMs converged to) and
`context_mean` the mean of the context (which beat those LVMs on held-out articles). A trained LVM
plugs in through the same protocol: any object with `name` and `predict`, optionally
`memory_bytes()` (reported as model memory by the benchmark).

`load_predictor(spec)` turns a command-line value into a Predictor: `copy_last`, `context_mean`,
`module:attribute` (an object with `predict`, a class or zero-argument factory returning one, or a
plain function contexts -> predictions), or an LVM checkpoint path, loaded with
`lvmgate.training.checkpoints.load_lvm` (its memory reported from the model's parameters).
`as_predictor` also wraps plain callables, the form lvmgate.lvm's baselines take.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from lvmgate.errors import InputError


@runtime_checkable
class Predictor(Protocol):
    """Predicts the next chunk vector from a window of context vectors."""

    name: str

    def predict(self, contexts: np.ndarray) -> np.ndarray:
        """(B, w, D) float32 contexts -> (B, D) float32 predicted next vectors."""
        ...


@dataclass(frozen=True)
class CopyLast:
    """Baseline: the next vector is the last context vector."""

    name: str = "copy_last"

    def predict(self, contexts: np.ndarray) -> np.ndarray:
        return np.asarray(contexts, dtype=np.float32)[:, -1, :].copy()  # (B, D)

    def memory_bytes(self) -> int:
        return 0


@dataclass(frozen=True)
class ContextMean:
    """Baseline: the next vector is the mean of the context vectors."""

    name: str = "context_mean"

    def predict(self, contexts: np.ndarray) -> np.ndarray:
        return np.asarray(contexts, dtype=np.float32).mean(axis=1)  # (B, D)

    def memory_bytes(self) -> int:
        return 0


@dataclass(frozen=True)
class FunctionPredictor:
    """Wraps a plain callable (B, w, D) -> (B, D) as a Predictor."""

    fn: Callable[[np.ndarray], np.ndarray]
    name: str = "function"

    def predict(self, contexts: np.ndarray) -> np.ndarray:
        return self.fn(contexts)


BASELINES: dict[str, Callable[[], Predictor]] = {"copy_last": CopyLast, "context_mean": ContextMean}


def check_prediction(pred: Any, n: int, dim: int, name: str) -> np.ndarray:
    """A predictor's output as (n, dim) float32; anything else is an InputError naming it."""
    try:
        out = np.asarray(pred, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"predictor {name!r} returned a non-numeric result ({exc})") from None
    if out.shape != (n, dim):
        raise InputError(f"predictor {name!r} returned shape {out.shape}, expected ({n}, {dim})")
    return out


def module_bytes(module: Any) -> int:
    """Bytes of a torch module's parameters and buffers: the one measure of a model's memory."""
    tensors = [*module.parameters(), *module.buffers()]
    return int(sum(t.numel() * t.element_size() for t in tensors))


def model_memory(predictor: Any) -> int | None:
    """A torch module's parameters and buffers (counted, not asked), else the predictor's own
    `memory_bytes()`, else None (unknown)."""
    if hasattr(predictor, "parameters") and hasattr(predictor, "buffers"):
        return module_bytes(predictor)
    fn = getattr(predictor, "memory_bytes", None)
    return int(fn()) if callable(fn) else None


@dataclass(frozen=True)
class CheckpointPredictor:
    """A loaded LVM checkpoint as a Predictor; memory = bytes of the model's parameters and buffers."""

    name: str
    loaded: Any

    def predict(self, contexts: np.ndarray) -> np.ndarray:
        return self.loaded.predict(contexts)

    def memory_bytes(self) -> int | None:
        model = getattr(self.loaded, "model", None)
        if model is None or not hasattr(model, "parameters"):
            return None
        return module_bytes(model)


def as_predictor(obj: Any, name: str | None = None) -> Predictor:
    """`obj` if it already is a Predictor; a plain callable (B, w, D) -> (B, D) wrapped as one."""
    if callable(getattr(obj, "predict", None)):
        if hasattr(obj, "name"):
            return obj
        return FunctionPredictor(obj.predict, name=name or type(obj).__name__)
    if callable(obj):
        return FunctionPredictor(obj, name=name or getattr(obj, "__name__", "function"))
    raise InputError(f"{obj!r} is not a predictor (needs predict(contexts), or be a function)")


def load_checkpoint(path: str) -> Predictor:
    """An LVM checkpoint through lvmgate.training.checkpoints.load_lvm."""
    try:
        from lvmgate.training.checkpoints import load_lvm
    except ImportError as exc:
        raise InputError(
            f"{path}: loading an LVM checkpoint needs lvmgate.training.checkpoints.load_lvm ({exc}); "
            f"use {', '.join(BASELINES)} or module:attribute"
        ) from None
    return CheckpointPredictor(os.path.basename(path), load_lvm(path))


def load_predictor(spec: str | Any) -> Predictor:
    """A Predictor from a name, `module:attribute`, or an LVM checkpoint path (see module doc)."""
    if not isinstance(spec, str):
        return as_predictor(spec)
    if spec in BASELINES:
        return BASELINES[spec]()
    if os.path.exists(spec):
        return load_checkpoint(spec)
    if ":" in spec:
        mod_name, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError) as exc:
            raise InputError(f"cannot load predictor {spec!r}: {exc}") from None
        if isinstance(obj, type):
            obj = obj()  # a class
        elif not hasattr(obj, "predict") and callable(obj) and _takes_no_arguments(obj):
            obj = obj()  # a factory
        return as_predictor(obj, name=attr)
    raise InputError(
        f"unknown predictor {spec!r}: not a file, not {' or '.join(BASELINES)}, not module:attribute"
    )


def _takes_no_arguments(fn: Callable) -> bool:
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)
