"""One grammar for `--lvm-model`: every command and every phase resolves a model here.

    copy_last | context_mean   the baselines (a numpy predictor and a torch module, so they export too)
    preset:NAME[:SEED]         an *untrained* LVM of a preset (tiny, small, ...) with seeded random
                               weights and the plain head (an untrained residual head would be the
                               context mean for every seed), for demos and speed measurements
                               (artifacts record `trained: false`)
    PATH.onnx                  an exported graph run by onnxruntime (no torch module)
    PATH                       an lvmgate checkpoint (lvmgate.lvm.checkpoint), weights digest measured
    module:attribute           a torch module, an object with `predict`, a class or zero-argument
                               factory returning one of those, or a plain function (B, w, D) -> (B, D)

`load_model(spec)` returns a `LoadedModel`: `.predictor` (the one Predictor type), `.module` (torch,
when there is one), `.digest` (what ties every artifact to these weights) and what the file says.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from lvmgate.errors import InputError
from lvmgate.lvm.baselines import BASELINES, baseline_module
from lvmgate.lvm.predictor import OnnxPredictor, Predictor, TorchPredictor, as_predictor, model_memory

KINDS = ("baseline", "preset", "checkpoint", "onnx", "module")


@dataclass
class LoadedModel:
    """A model ready to run, and what is known about it."""

    spec: str
    name: str
    kind: str  # one of KINDS
    predictor: Predictor  # .name, .predict((B, w, D)) -> (B, D)
    module: Any = None  # torch.nn.Module or None (ONNX, numpy-only predictors)
    window: int | None = None  # fixed context length; None: any
    dim: int | None = None  # output dimension when known
    trained: bool | None = None  # False for presets; None when unknown
    info: dict[str, Any] = field(default_factory=dict)

    def predict(self, contexts):
        """(B, w, D) float32 -> (B, D) float32."""
        return self.predictor.predict(contexts)

    @property
    def params(self) -> int | None:
        return int(sum(p.numel() for p in self.module.parameters())) if self.module is not None else None

    def memory_bytes(self) -> int | None:
        """Parameters + buffers of the torch module, the .onnx file's size, 0 for a baseline."""
        return model_memory(self.module if self.module is not None else self.predictor)

    @cached_property
    def digest(self) -> str | None:
        """`baseline:NAME`, the sha256 of the weights as loaded (first 16 hex), the .onnx file's sha256;
        None for a numpy-only predictor (nothing to tie an artifact to). Computed once per load."""
        if self.kind == "baseline":
            return f"baseline:{self.spec}"
        if self.info.get("weights_digest"):  # a checkpoint's, measured when it was loaded
            return self.info["weights_digest"]
        if self.module is not None:
            from lvmgate.lvm.checkpoint import weights_digest

            return weights_digest(self.module.state_dict())
        if self.kind == "onnx":
            from lvmgate.io import file_sha256

            return file_sha256(self.spec)[:16]
        return None

    def require_module(self, what: str) -> Any:
        """The torch module, or one InputError saying that `what` needs one."""
        if self.module is None:
            raise InputError(
                f"{self.spec}: {what} needs the PyTorch model (a checkpoint, preset or torch module), "
                f"not {self.kind}"
            )
        return self.module

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "window": self.window,
            "dim": self.dim,
            "trained": self.trained,
            "params": self.params,
            **self.info,
        }


def load_model(
    spec: str | os.PathLike | Any,
    *,
    window: int | None = None,
    dim: int | None = None,
    threads: int | None = None,
    device: str | None = None,
) -> LoadedModel:
    """Resolve a `--lvm-model` value (see the module doc); every failure is one InputError."""
    if not isinstance(spec, str | os.PathLike):
        pred = as_predictor(spec)
        return LoadedModel(pred.name, pred.name, "module", pred, _module_of(pred), window, dim)
    spec = str(spec)
    if spec in BASELINES:
        pred = BASELINES[spec]()
        return LoadedModel(spec, spec, "baseline", pred, baseline_module(spec), window, dim)
    if spec.startswith("preset:"):
        return _load_preset(spec, window, threads)
    if spec.endswith(".onnx"):
        pred = OnnxPredictor(spec, threads=threads)
        if window is not None and pred.window is not None and window != pred.window:
            raise InputError(f"{spec} was exported for window {pred.window}, not {window}")
        return LoadedModel(spec, os.path.basename(spec), "onnx", pred, None, pred.window, pred.dim)
    if os.path.exists(spec) or spec.endswith(".pt"):
        return _load_checkpoint(spec, window, threads, device)
    if ":" in spec:
        return _load_attribute(spec, window, dim, threads)
    raise InputError(
        f"unknown model {spec!r}: not a file, not {' / '.join(BASELINES)}, not preset:NAME, "
        "not module:attribute"
    )


def load_predictor(spec: str | os.PathLike | Any) -> Predictor:
    """The Predictor `spec` names (shorthand for `load_model(spec).predictor`)."""
    return load_model(spec).predictor


def _load_preset(spec: str, window: int | None, threads: int | None) -> LoadedModel:
    import torch

    from lvmgate.lvm.mamba import LVM, preset

    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[1] or (len(parts) == 3 and not parts[2].isdigit()):
        raise InputError(f"preset spec must be preset:NAME or preset:NAME:SEED, got {spec!r}")
    seed = int(parts[2]) if len(parts) == 3 else 0
    cfg = _context_only(spec, preset(parts[1], head="plain"))  # random: seeds differ
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = LVM(cfg).eval()
    name = f"preset:{parts[1]}"
    pred = TorchPredictor(module, name=name, threads=threads)
    info = {"preset": parts[1], "seed": seed, "config": cfg.to_dict()}
    return LoadedModel(spec, name, "preset", pred, module, window, cfg.dim, False, info)


def _load_checkpoint(spec: str, window: int | None, threads: int | None, device: str | None) -> LoadedModel:
    from lvmgate.io import file_sha256
    from lvmgate.lvm.checkpoint import find_training_log, load_lvm

    loaded = load_lvm(spec, device=device or "cpu")
    _context_only(spec, loaded.config)
    body = loaded.body
    windows = {d.get("context_window") for d in (body.get("data") or {}).values() if isinstance(d, dict)}
    windows.discard(None)
    saved_window = windows.pop() if len(windows) == 1 else None
    info: dict[str, Any] = {
        "path": str(Path(spec).resolve()),
        "sha256": file_sha256(spec),
        "weights_digest": loaded.weights_digest,  # measured, not the file's claim
        "config": loaded.config.to_dict(),
        "context_window": saved_window,
        "training_log": str(find_training_log(spec)),
    }
    info.update({k: body[k] for k in ("epoch", "preset") if k in body})
    if "val_cosine" in loaded.metrics:
        info["val_cosine"] = loaded.metrics["val_cosine"]
    name = os.path.basename(spec)
    pred = TorchPredictor(loaded.model, name=name, threads=threads)
    w = window or _int_or_none(saved_window)
    return LoadedModel(spec, name, "checkpoint", pred, loaded.model, w, int(loaded.config.dim), True, info)


def _load_attribute(spec: str, window: int | None, dim: int | None, threads: int | None) -> LoadedModel:
    mod_name, _, attr = spec.partition(":")
    try:
        obj = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"cannot load model {spec!r}: {exc}") from None
    if isinstance(obj, type) or (not hasattr(obj, "predict") and _is_factory(obj)):
        obj = obj()  # a class, or a zero-argument factory
    module = _module_of(obj)
    if module is not None:
        module.eval()
        name = getattr(obj, "name", None)
        pred: Predictor = TorchPredictor(
            module, name=name if isinstance(name, str) else spec, threads=threads
        )
    else:
        pred = as_predictor(obj, name=attr)
    out_dim = dim or _int_or_none(getattr(getattr(module, "cfg", None), "dim", None))
    return LoadedModel(spec, spec, "module", pred, module, window, out_dim)


def _context_only(spec: str, cfg: Any) -> Any:
    """`cfg`, unless the model also reads TMD codes: no phase and no server feeds those yet."""
    if getattr(cfg, "tmd_dim", 0):
        raise InputError(
            f"{spec}: models with TMD-code input (tmd_dim > 0) cannot be run from context vectors alone yet"
        )
    return cfg


def _module_of(obj: Any) -> Any:
    """`obj` when it is a torch module (or wraps one as `.module`), else None."""
    for cand in (obj, getattr(obj, "module", None)):
        if cand is not None and hasattr(cand, "state_dict") and hasattr(cand, "parameters"):
            return cand
    return None


def _is_factory(fn: Callable) -> bool:
    """A callable that is not a torch module and takes no required arguments."""
    if not callable(fn) or hasattr(fn, "state_dict"):
        return False
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
