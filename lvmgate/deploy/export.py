"""ONNX export of an LVM (opset >= 17, dynamic batch), checked in onnxruntime against PyTorch.

The model is any torch module mapping contexts (B, w, D) float32 -> (B, D). The batch axis is
dynamic; the window w is fixed at export (the Mamba scan unrolls log2(w) steps for that length), and
the graph declares it, so onnxruntime refuses a context of another length instead of answering
wrongly: `window_enforced` records that this was checked.

Exporters: `dynamo` (torch 2.13's default, `torch.export` + onnxscript) and `torchscript` (the
legacy tracer, `dynamo=False`, deprecated but faster to run). Both export the pure-PyTorch Mamba
LVM (lvmgate.lvm.mamba) and match it within ~1e-7 (docs/deploy.md).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.errors import InputError
from lvmgate.results import Result

EXPORTERS = ("dynamo", "torchscript")
MIN_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "context", "next_vector"


@dataclass(frozen=True)
class ParityPoint(Result):
    batch_size: int
    max_abs_diff: float
    min_cosine: float  # lowest cosine between the two outputs over the batch


@dataclass(frozen=True)
class OnnxExport(Result):
    """An exported ONNX file and how closely onnxruntime reproduces PyTorch on it."""

    path: str
    exporter: str
    opset: int
    window: int
    dim: int
    input_name: str
    output_name: str
    dynamic_batch: bool  # the graph's batch axis is symbolic and several batch sizes ran
    window_enforced: bool  # onnxruntime rejects a context of another length
    size_bytes: int
    export_seconds: float
    parity: tuple[ParityPoint, ...]
    max_abs_diff: float
    tolerance: float
    passed: bool  # max_abs_diff <= tolerance and dynamic_batch
    torch_ms_per_seq: float  # at the largest parity batch size, one thread setting as configured
    onnxruntime_ms_per_seq: float
    versions: dict[str, str] = field(default_factory=dict)


def _versions() -> dict[str, str]:
    out = {}
    for name in ("torch", "onnx", "onnxruntime", "onnxscript"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = "missing"
    return out


def _require(name: str, why: str) -> None:
    import importlib.util

    if importlib.util.find_spec(name) is None:
        raise InputError(f"{why} needs {name}: pip install 'lvmgate[serving]'")


def export_onnx(
    model: Any,
    path: str | os.PathLike,
    *,
    window: int,
    dim: int = 768,
    opset: int = 18,
    exporter: str = "dynamo",
    tolerance: float = 1e-4,
    batch_sizes: tuple[int, ...] = (1, 3, 64),
    seed: int = 0,
    threads: int | None = None,
) -> OnnxExport:
    """Export `model` to `path` (written atomically) and check it in onnxruntime against PyTorch."""
    import torch

    if exporter not in EXPORTERS:
        raise InputError(f"unknown exporter {exporter!r} (use {' or '.join(EXPORTERS)})")
    if opset < MIN_OPSET:
        raise InputError(f"opset {opset} is below the required {MIN_OPSET}")
    if window < 1 or dim < 1:
        raise InputError("window and dim must be positive")
    _require("onnx", "ONNX export")
    _require("onnxruntime", "checking an ONNX export")
    if exporter == "dynamo":
        _require("onnxscript", "torch's dynamo ONNX exporter")
    model = model.eval()
    example = torch.from_numpy(_contexts(2, window, dim, seed))  # (2, w, D): batch 2 keeps the axis symbolic
    path = Path(path)
    t0 = time.perf_counter()
    with atomic_path(path) as tmp, _quiet():
        try:
            if exporter == "dynamo":
                batch = torch.export.Dim("batch", min=1, max=1 << 20)
                how = dict(dynamo=True, dynamic_shapes=({0: batch},), external_data=False, verbose=False)
            else:
                how = dict(dynamo=False, dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
            torch.onnx.export(
                model,
                (example,),
                tmp,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                **how,
            )
        except InputError:
            raise
        except Exception as exc:  # the exporter's own errors are long; keep the first line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"ONNX export ({exporter}) failed: {type(exc).__name__}: {first}") from exc
    seconds = time.perf_counter() - t0
    return check_onnx(
        model,
        path,
        window=window,
        dim=dim,
        exporter=exporter,
        tolerance=tolerance,
        batch_sizes=batch_sizes,
        seed=seed,
        threads=threads,
        export_seconds=seconds,
    )


def check_onnx(
    model: Any,
    path: str | os.PathLike,
    *,
    window: int,
    dim: int = 768,
    exporter: str = "unknown",
    tolerance: float = 1e-4,
    batch_sizes: tuple[int, ...] = (1, 3, 64),
    seed: int = 0,
    threads: int | None = None,
    export_seconds: float = float("nan"),
) -> OnnxExport:
    """Validate an ONNX file (onnx.checker), and compare onnxruntime with `model` at several batch sizes."""
    import onnx
    import torch

    from lvmgate.lvm.predictor import OnnxPredictor

    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    symbolic_batch = bool(dims) and dims[0].HasField("dim_param") and not dims[0].HasField("dim_value")
    del proto
    ort_pred = OnnxPredictor(path, threads=threads)
    points = []
    for b in batch_sizes:
        x = _contexts(b, window, dim, seed + b)
        with torch.inference_mode():
            ref = model(torch.from_numpy(x)).float().numpy()  # (b, D)
        got = ort_pred.predict(x)  # (b, D)
        if got.shape != ref.shape:
            raise InputError(f"{path}: onnxruntime returned {got.shape} for batch {b}, PyTorch {ref.shape}")
        diff = float(np.max(np.abs(got - ref)))
        cos = np.sum(got * ref, 1) / np.maximum(
            np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1), 1e-30
        )
        points.append(ParityPoint(int(b), diff, float(cos.min())))
    try:
        ort_pred.predict(_contexts(2, window + 1, dim, seed))
        window_enforced = False
    except Exception:  # onnxruntime's InvalidArgument for a wrong input shape
        window_enforced = True
    big = _contexts(max(batch_sizes), window, dim, seed)
    torch_ms = median_ms(lambda: model(torch.from_numpy(big)), torch_mode=True) / len(big)
    ort_ms = median_ms(lambda: ort_pred.predict(big)) / len(big)
    max_diff = max(p.max_abs_diff for p in points)
    dynamic = symbolic_batch and len(set(batch_sizes)) > 1
    return OnnxExport(
        path=str(path),
        exporter=exporter,
        opset=int(opset),
        window=int(window),
        dim=int(dim),
        input_name=ort_pred.input_name,
        output_name=ort_pred.output_name,
        dynamic_batch=bool(dynamic),
        window_enforced=window_enforced,
        size_bytes=os.path.getsize(path),
        export_seconds=float(export_seconds),
        parity=tuple(points),
        max_abs_diff=max_diff,
        tolerance=float(tolerance),
        passed=bool(max_diff <= tolerance and dynamic),
        torch_ms_per_seq=torch_ms,
        onnxruntime_ms_per_seq=ort_ms,
        versions=_versions(),
    )


def _contexts(n: int, window: int, dim: int, seed: int) -> np.ndarray:
    from lvmgate.lvm.predictor import random_contexts

    return random_contexts(n, window, dim, seed=seed)


def median_ms(fn, *, repeats: int = 5, torch_mode: bool = False) -> float:
    """Median wall time of `fn` in ms after one warm-up call."""
    ctx = contextlib.nullcontext()
    if torch_mode:
        import torch

        ctx = torch.inference_mode()
    with ctx:
        fn()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """A temporary sibling path for a writer that opens files itself; renamed over `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        yield str(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' and quantiser's progress prints, log warnings and deprecation warnings."""
    loggers = [logging.getLogger(), logging.getLogger("torch.onnx")]  # onnxruntime warns on the root logger
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@dataclass(frozen=True)
class ExportReport(Result):
    """What `lvmgate export` measured: ONNX parity, weight size, and optionally the batch curve."""

    model: dict[str, Any]
    onnx: OnnxExport | None
    weights: Any  # lvmgate.deploy.weights.WeightsSize
    batch_curve: Any  # lvmgate.deploy.predictor.BatchCurve | None
    provenance: Any  # lvmgate.results.Provenance
