"""Turn a `--lvm-model` value into something to export, quantise or serve.

Specs understood by `load_lvm`:
- `copy_last`, `context_mean`: the baselines, as tiny torch modules (exportable) and numpy predictors
- `preset:NAME[:SEED]`: an *untrained* LVM of a preset (`tiny`, `small`, ...) with seeded weights,
  for demos, tests and speed measurements (artifacts record `trained: false`)
- `PATH.onnx`: an exported model served through onnxruntime (serving only)
- `PATH` (a checkpoint): handed to lvmgate.lvm's checkpoint loader, imported lazily
- `module:attribute`: a torch module, or a zero-argument factory returning one
Every torch model maps contexts (B, w, dim) float32 -> (B, dim).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lvmgate.errors import InputError

BASELINES = ("copy_last", "context_mean")
CHECKPOINT_LOADERS = ("load_lvm", "load_checkpoint", "load_model")  # tried in this order in lvmgate.lvm


@dataclass
class LoadedModel:
    """A model ready to run: the torch module (None for ONNX) and a numpy predictor around it."""

    name: str
    kind: str  # baseline | preset | checkpoint | onnx | module
    predictor: Any  # .name, .predict((B, w, D)) -> (B, D)
    module: Any = None  # torch.nn.Module or None
    window: int | None = None  # fixed context length, None: any
    dim: int = 768
    trained: bool | None = None  # False for presets; None when unknown (checkpoints say themselves)
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "window": self.window,
            "dim": self.dim,
            "trained": self.trained,
            "params": param_count(self.module) if self.module is not None else None,
            **self.info,
        }


def param_count(module: Any) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def baseline_module(name: str, dim: int = 768):
    """copy_last / context_mean as torch modules (B, w, dim) -> (B, dim), so they export too."""
    import torch

    class CopyLastModule(torch.nn.Module):
        def forward(self, context: torch.Tensor) -> torch.Tensor:
            return context[:, -1, :]  # (B, dim)

    class ContextMeanModule(torch.nn.Module):
        def forward(self, context: torch.Tensor) -> torch.Tensor:
            return context.mean(dim=1)  # (B, dim)

    if name == "copy_last":
        return CopyLastModule().eval()
    if name == "context_mean":
        return ContextMeanModule().eval()
    raise InputError(f"unknown baseline {name!r} (use {' or '.join(BASELINES)})")


def load_lvm(
    spec: str, *, window: int | None = None, dim: int = 768, threads: int | None = None
) -> LoadedModel:
    """Load the model a `--lvm-model` value names (see the module doc); errors are InputErrors."""
    from lvmgate.deploy.predictor import OnnxPredictor, TorchPredictor

    spec = str(spec)
    if spec in BASELINES:
        from lvmgate.retrieval.predictors import BASELINES as NUMPY_BASELINES

        return LoadedModel(
            spec, "baseline", NUMPY_BASELINES[spec](), baseline_module(spec, dim), window, dim, None
        )
    if spec.startswith("preset:"):
        return _load_preset(spec, window, threads)
    if spec.endswith(".onnx"):
        pred = OnnxPredictor(spec, threads=threads)
        if window is not None and pred.window is not None and window != pred.window:
            raise InputError(f"{spec} was exported for window {pred.window}, not {window}")
        return LoadedModel(os.path.basename(spec), "onnx", pred, None, pred.window, pred.dim, None)
    if os.path.exists(spec):
        module, info = _load_checkpoint(spec)
        window = window or _int_or_none(info.get("context_window") or info.get("window"))
        out_dim = _model_dim(module, dim)
        return LoadedModel(
            os.path.basename(spec),
            "checkpoint",
            TorchPredictor(module, name=os.path.basename(spec), threads=threads),
            module,
            window,
            out_dim,
            info.get("trained", True),
            {
                k: v
                for k, v in info.items()
                if k in ("val_cosine", "epoch", "config", "context_window", "preset", "weights_digest")
            },
        )
    if ":" in spec:
        mod_name, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError) as exc:
            raise InputError(f"cannot load model {spec!r}: {exc}") from None
        import torch

        if not isinstance(obj, torch.nn.Module) and callable(obj):
            obj = obj()
        if not isinstance(obj, torch.nn.Module):
            raise InputError(f"{spec}: expected a torch.nn.Module or a factory returning one")
        obj.eval()
        return LoadedModel(spec, "module", TorchPredictor(obj, name=spec, threads=threads), obj, window, dim)
    raise InputError(
        f"unknown model {spec!r}: not a file, not {' / '.join(BASELINES)}, not preset:NAME, not module:attribute"
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _model_dim(module: Any, default: int) -> int:
    cfg = getattr(module, "cfg", None)
    return int(getattr(cfg, "dim", default))


def _load_preset(spec: str, window: int | None, threads: int | None) -> LoadedModel:
    import torch

    from lvmgate.deploy.predictor import TorchPredictor
    from lvmgate.lvm.mamba import LVM, preset

    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[1]:
        raise InputError(f"preset spec must be preset:NAME or preset:NAME:SEED, got {spec!r}")
    seed = int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else 0
    cfg = preset(parts[1])
    if cfg.tmd_dim:
        raise InputError("serving and export of TMD-input models are not supported yet")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = LVM(cfg).eval()
    name = f"preset:{parts[1]}"
    return LoadedModel(
        name,
        "preset",
        TorchPredictor(module, name=name, threads=threads),
        module,
        window,
        cfg.dim,
        False,
        {"preset": parts[1], "seed": seed, "config": cfg.to_dict()},
    )


def _load_checkpoint(path: str) -> tuple[Any, dict[str, Any]]:
    """(module, info) through lvmgate.lvm's loader; the first of CHECKPOINT_LOADERS that exists."""
    try:
        lvm = importlib.import_module("lvmgate.lvm")
    except ImportError as exc:  # pragma: no cover - lvmgate.lvm ships with lvmgate
        raise InputError(f"{path}: cannot import lvmgate.lvm ({exc})") from None
    loader = next((getattr(lvm, n) for n in CHECKPOINT_LOADERS if hasattr(lvm, n)), None)
    if loader is None:
        raise InputError(
            f"{path}: this install has no LVM checkpoint loader (lvmgate.lvm needs one of "
            f"{', '.join(CHECKPOINT_LOADERS)}); use preset:NAME, a baseline, or module:attribute"
        )
    loaded = loader(path)
    info: dict[str, Any] = {}
    if isinstance(loaded, tuple):
        module = loaded[0]
        info = dict(loaded[1]) if len(loaded) > 1 and isinstance(loaded[1], dict) else {}
    elif hasattr(loaded, "model"):  # lvmgate.training.checkpoints.LoadedCheckpoint
        module = loaded.model
        body = getattr(loaded, "body", None) or {}
        data = body.get("data") or {}
        windows = {d.get("context_window") for d in data.values() if isinstance(d, dict)} - {None}
        if len(windows) == 1:
            info["context_window"] = windows.pop()
        cfg = getattr(loaded, "config", None)
        if cfg is not None:
            info["config"] = cfg.to_dict() if hasattr(cfg, "to_dict") else cfg
        for key in ("epoch", "preset", "kind", "weights_digest"):
            if key in body:
                info[key] = body[key]
        metrics = getattr(loaded, "metrics", None) or {}
        if "val_cosine" in metrics:
            info["val_cosine"] = metrics["val_cosine"]
    else:
        module = loaded
    if not hasattr(module, "forward"):
        raise InputError(f"{path}: the loader returned {type(module).__name__}, not a torch module")
    if getattr(getattr(module, "cfg", None), "tmd_dim", 0):
        raise InputError(f"{path}: models with TMD-code input cannot be exported or served yet (tmd_dim > 0)")
    module.eval()
    return module, info


def random_contexts(n: int, window: int, dim: int = 768, *, seed: int = 0) -> np.ndarray:
    """(n, window, dim) float32 unit vectors that drift smoothly along the window (a stand-in input)."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 1, dim))
    steps = rng.standard_normal((n, window, dim)) * 0.5
    x = (base + np.cumsum(steps, axis=1)).astype(np.float32)
    return x / np.linalg.norm(x, axis=2, keepdims=True)
