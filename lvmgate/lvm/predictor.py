"""The one Predictor type: context vectors -> next vector, numpy in and out.

    predict(contexts: (B, w, D) float32) -> (B, D) float32

Everything that predicts (a trained LVM, an exported ONNX graph, a baseline, a user's function) is
wrapped as an object with `name` and `predict`, optionally `memory_bytes()`. Every metric takes
this type; `as_predictor` also accepts a plain callable. Model memory is one measure everywhere:
the bytes of a torch module's parameters and buffers (`module_bytes`), or the .onnx file's size.
"""

from __future__ import annotations

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
class FunctionPredictor:
    """A plain callable (B, w, D) -> (B, D) as a Predictor."""

    fn: Callable[[np.ndarray], np.ndarray]
    name: str = "function"

    def predict(self, contexts: np.ndarray) -> np.ndarray:
        return self.fn(contexts)


def as_predictor(obj: Any, name: str | None = None) -> Predictor:
    """`obj` if it already is a Predictor; a torch module or a plain callable wrapped as one."""
    if callable(getattr(obj, "predict", None)):
        if hasattr(obj, "name"):
            return obj
        return FunctionPredictor(obj.predict, name=name or type(obj).__name__)
    if _is_module(obj):
        return TorchPredictor(obj, name=name or type(obj).__name__)
    if callable(obj):
        return FunctionPredictor(obj, name=name or getattr(obj, "__name__", "function"))
    raise InputError(f"{obj!r} is not a predictor (needs predict(contexts), or be a function)")


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
    if _is_module(predictor):
        return module_bytes(predictor)
    fn = getattr(predictor, "memory_bytes", None)
    return int(fn()) if callable(fn) else None


def _is_module(obj: Any) -> bool:
    return hasattr(obj, "parameters") and hasattr(obj, "buffers") and callable(getattr(obj, "eval", None))


def limit_threads(n: int | None) -> None:
    """Cap torch's and the BLAS library's threads at `n` (None: leave them). One thread per compute
    worker is what the server uses: OpenBLAS with 2 spinning threads on 2 shared cores was 3-10x slower."""
    if not n:
        return
    import torch

    torch.set_num_threads(int(n))
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(int(n))
    except ImportError:  # pragma: no cover - BLAS keeps its default
        pass


class TorchPredictor:
    """A torch module as a Predictor: float32, eval mode, inference mode, in batches on its device."""

    def __init__(
        self, module: Any, *, name: str = "torch", threads: int | None = None, batch_size: int = 1024
    ):
        import torch

        limit_threads(threads)
        self.module = module.eval()
        self.name = name
        self.batch_size = int(batch_size)
        self._torch = torch

    def predict(self, contexts: np.ndarray) -> np.ndarray:
        torch = self._torch
        first = next(iter(self.module.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
        out = []
        with torch.inference_mode():
            for lo in range(0, len(contexts), self.batch_size):
                x = np.ascontiguousarray(contexts[lo : lo + self.batch_size], dtype=np.float32)  # (b, w, D)
                out.append(self.module(torch.from_numpy(x).to(device)).float().cpu().numpy())  # (b, D)
        if not out:
            return np.zeros((0, int(np.shape(contexts)[-1])), np.float32)
        return out[0] if len(out) == 1 else np.concatenate(out)

    def memory_bytes(self) -> int:
        return module_bytes(self.module)  # parameters and buffers


class OnnxPredictor:
    """An exported ONNX model run by onnxruntime on CPU; `window` is fixed when the graph fixes it."""

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None, name: str | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise InputError(
                "running an .onnx model needs onnxruntime (pip install 'lvmgate[serving]')"
            ) from None
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or 1)
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a bad file
            raise InputError(f"{path}: onnxruntime cannot load it ({exc})") from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.output_name = self.session.get_outputs()[0].name
        shape = list(inp.shape)
        if len(shape) != 3:
            raise InputError(f"{path}: expected an input of rank 3 (batch, window, dim), got {shape}")
        self.window = shape[1] if isinstance(shape[1], int) else None
        self.dim = shape[2] if isinstance(shape[2], int) else 768
        self.name = name or os.path.basename(str(path))
        self.path = str(path)

    def predict(self, contexts: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(contexts, dtype=np.float32)  # (B, w, D)
        return self.session.run([self.output_name], {self.input_name: x})[0]  # (B, D)

    def memory_bytes(self) -> int:
        return int(os.path.getsize(self.path))


def random_contexts(n: int, window: int, dim: int = 768, *, seed: int = 0) -> np.ndarray:
    """(n, window, dim) float32 unit vectors that drift smoothly along the window: a stand-in input
    for timing, exporting and checking a model where no dataset is at hand."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 1, dim))
    steps = rng.standard_normal((n, window, dim)) * 0.5
    x = (base + np.cumsum(steps, axis=1)).astype(np.float32)
    return x / np.linalg.norm(x, axis=2, keepdims=True)
