"""INT8 quantisation, measured: size, speed-up, and what it costs in cosine and Recall@10.

Two routes, each compared with the float32 model on the same contexts:
- `torch-dynamic-int8`: torch.ao.quantization.quantize_dynamic on every nn.Linear (weights int8,
  activations quantised on the fly); the selective scan, convolution and norms stay float32.
- `onnxruntime-dynamic-int8`: onnxruntime.quantization.quantize_dynamic on an exported ONNX file
  (MatMul / Gemm weights int8).
Quality: cosine between the int8 and float32 predictions (mean and min), the overlap of their top-10
neighbours over the whole bank, and, when the true next rows are known (windows from a store),
Recall@10 of each and its change.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lvmgate.deploy.export import median_ms
from lvmgate.errors import InputError
from lvmgate.results import Result


@dataclass(frozen=True)
class QuantizeResult(Result):
    """One INT8 route against float32."""

    method: str
    fp32_bytes: int
    int8_bytes: int
    size_ratio: float  # int8 / fp32
    batch_size: int
    fp32_ms_per_batch: float
    int8_ms_per_batch: float
    speedup: float  # fp32 time / int8 time
    n_eval: int
    cosine_to_fp32_mean: float
    cosine_to_fp32_min: float
    top10_overlap: float | None  # mean share of float32's top-10 rows that int8 also returns
    recall_at_10_fp32: float | None
    recall_at_10_int8: float | None
    recall_at_10_change: float | None  # int8 - fp32
    path: str | None = None  # where the quantised artifact was written
    notes: str = ""


@dataclass(frozen=True)
class QuantizeReport(Result):
    """Everything `lvmgate quantize` measured; `tested` is true when at least one route ran."""

    model: dict[str, Any]
    window: int
    eval_source: str
    k: int
    results: tuple[QuantizeResult, ...]
    tested: bool
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EvalSet:
    """Contexts to compare on; with a bank, the top-k agreement; with targets, Recall@k."""

    contexts: np.ndarray  # (n, w, D) float32
    bank: np.ndarray | None = None  # (N, D)
    targets: np.ndarray | None = None  # (n,) bank rows of the true next chunk
    exclude: np.ndarray | None = None  # (n, m) bank rows never ranked (the context's own rows)
    source: str = "synthetic"


def quantize_torch(model: Any) -> Any:
    """A copy of `model` with every nn.Linear dynamically quantised to int8 (torch.ao)."""
    import copy

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(copy.deepcopy(model).eval(), {torch.nn.Linear}, dtype=torch.qint8)


def quantize_onnx(src: str | os.PathLike, dst: str | os.PathLike) -> str:
    """Dynamic int8 quantisation of an ONNX file's weights with onnxruntime (written atomically)."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise InputError("ONNX quantisation needs onnxruntime: pip install 'lvmgate[serving]'") from None
    from lvmgate.deploy.export import _quiet, atomic_path

    if not os.path.exists(src):
        raise InputError(f"{src}: no such file")
    with atomic_path(dst) as tmp, _quiet():
        quantize_dynamic(str(src), tmp, weight_type=QuantType.QInt8)
    return str(dst)


def state_dict_bytes(model: Any) -> int:
    """Bytes of torch.save(model.state_dict()) (packed int8 weights count as what they store)."""
    import torch

    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.tell()


def compare(
    fp32: Callable[[np.ndarray], np.ndarray],
    int8: Callable[[np.ndarray], np.ndarray],
    data: EvalSet,
    *,
    k: int = 10,
    batch_size: int = 64,
    index: Any = None,
) -> dict[str, Any]:
    """Cosine, top-k overlap and Recall@k of `int8` against `fp32`, plus their speed at `batch_size`."""
    ctx = np.asarray(data.contexts, dtype=np.float32)
    a = np.concatenate([fp32(ctx[i : i + batch_size]) for i in range(0, len(ctx), batch_size)])  # (n, D)
    b = np.concatenate([int8(ctx[i : i + batch_size]) for i in range(0, len(ctx), batch_size)])
    cos = np.sum(a * b, 1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
    out: dict[str, Any] = {
        "n_eval": len(ctx),
        "cosine_to_fp32_mean": float(cos.mean()),
        "cosine_to_fp32_min": float(cos.min()),
        "top10_overlap": None,
        "recall_at_10_fp32": None,
        "recall_at_10_int8": None,
        "recall_at_10_change": None,
    }
    if data.bank is not None:
        if index is None:
            from lvmgate.retrieval.search import ExactIndex

            index = ExactIndex(data.bank, "numpy")
        _, ra = index.search(a, k, data.exclude)  # (n, k)
        _, rb = index.search(b, k, data.exclude)
        out["top10_overlap"] = float(
            np.mean([len(set(x) & set(y)) / k for x, y in zip(ra.tolist(), rb.tolist())])
        )
        if data.targets is not None:
            t = np.asarray(data.targets)[:, None]
            ra_hit, rb_hit = float(np.mean((ra == t).any(1))), float(np.mean((rb == t).any(1)))
            out.update(
                recall_at_10_fp32=ra_hit, recall_at_10_int8=rb_hit, recall_at_10_change=rb_hit - ra_hit
            )
    x = ctx[:batch_size] if len(ctx) >= batch_size else np.resize(ctx, (batch_size, *ctx.shape[1:]))
    out["fp32_ms"] = median_ms(lambda: fp32(x), repeats=7)
    out["int8_ms"] = median_ms(lambda: int8(x), repeats=7)
    return out


def _result(
    method: str, fp_bytes: int, q_bytes: int, batch_size: int, m: dict[str, Any], **extra: Any
) -> QuantizeResult:
    return QuantizeResult(
        method=method,
        fp32_bytes=int(fp_bytes),
        int8_bytes=int(q_bytes),
        size_ratio=q_bytes / fp_bytes if fp_bytes else float("nan"),
        batch_size=batch_size,
        fp32_ms_per_batch=m["fp32_ms"],
        int8_ms_per_batch=m["int8_ms"],
        speedup=m["fp32_ms"] / m["int8_ms"] if m["int8_ms"] > 0 else float("nan"),
        n_eval=m["n_eval"],
        cosine_to_fp32_mean=m["cosine_to_fp32_mean"],
        cosine_to_fp32_min=m["cosine_to_fp32_min"],
        top10_overlap=m["top10_overlap"],
        recall_at_10_fp32=m["recall_at_10_fp32"],
        recall_at_10_int8=m["recall_at_10_int8"],
        recall_at_10_change=m["recall_at_10_change"],
        **extra,
    )


def quantize_report(
    model: Any,
    data: EvalSet,
    *,
    window: int,
    model_info: dict[str, Any] | None = None,
    onnx_path: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    k: int = 10,
    batch_size: int = 64,
    threads: int | None = None,
) -> QuantizeReport:
    """Run the torch route, and the onnxruntime route when `onnx_path` (a float32 export) is given."""
    import torch

    from lvmgate.lvm.predictor import OnnxPredictor, TorchPredictor

    if data.contexts.ndim != 3 or data.contexts.shape[1] != window:
        raise InputError(f"evaluation contexts must be (n, {window}, D), got {data.contexts.shape}")
    index = None
    if data.bank is not None:
        from lvmgate.retrieval.search import ExactIndex

        index = ExactIndex(data.bank, "numpy")
    results = []
    fp = TorchPredictor(model, name="fp32", threads=threads)
    qmodel = quantize_torch(model)
    n_linear = sum(
        1 for m in qmodel.modules() if "quantized" in type(m).__module__ and type(m).__name__ == "Linear"
    )
    q = TorchPredictor(qmodel, name="int8", threads=threads)
    m = compare(fp.predict, q.predict, data, k=k, batch_size=batch_size, index=index)
    saved = None
    if out_dir is not None:
        from lvmgate.io import atomic_open

        saved = os.path.join(str(out_dir), "model_int8.pt")
        with atomic_open(saved, "wb") as fh:
            torch.save(qmodel.state_dict(), fh)
    results.append(
        _result(
            "torch-dynamic-int8",
            state_dict_bytes(model),
            state_dict_bytes(qmodel),
            batch_size,
            m,
            path=saved,
            notes=f"{n_linear} nn.Linear layers quantised; scan, conv and norms stay float32",
        )
    )
    if onnx_path is not None:
        import tempfile

        target_dir = str(out_dir) if out_dir is not None else tempfile.mkdtemp(prefix="lvmgate-int8-")
        q_path = quantize_onnx(onnx_path, os.path.join(target_dir, "model_int8.onnx"))
        fp_onnx, q_onnx = OnnxPredictor(onnx_path, threads=threads), OnnxPredictor(q_path, threads=threads)
        m = compare(fp_onnx.predict, q_onnx.predict, data, k=k, batch_size=batch_size, index=index)
        results.append(
            _result(
                "onnxruntime-dynamic-int8",
                os.path.getsize(onnx_path),
                os.path.getsize(q_path),
                batch_size,
                m,
                path=q_path if out_dir is not None else None,
                notes="weights of MatMul/Gemm int8 (onnxruntime.quantization.quantize_dynamic, QInt8)",
            )
        )
    return QuantizeReport(
        model=model_info or {},
        window=int(window),
        eval_source=data.source,
        k=int(k),
        results=tuple(results),
        tested=bool(results),
        params={"batch_size": batch_size, "threads": threads},
    )


def synthetic_eval(
    window: int, dim: int = 768, *, n: int = 256, bank_rows: int = 4096, seed: int = 0
) -> EvalSet:
    """Drifting random contexts and a random unit bank: agreement only, no Recall (no true next rows)."""
    from lvmgate.lvm.predictor import random_contexts

    rng = np.random.default_rng(seed + 1)
    bank = rng.standard_normal((bank_rows, dim)).astype(np.float32)
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    return EvalSet(
        random_contexts(n, window, dim, seed=seed),
        bank,
        None,
        None,
        f"synthetic ({n} contexts, {bank_rows}-row bank)",
    )


def store_eval(store: Any, dataset: str, window: int, *, n: int = 512, seed: int = 0) -> EvalSet:
    """`n` next-chunk windows of the store's articles (never crossing one), the whole bank, the true
    next rows, and the context rows excluded from ranking (as lvmgate.retrieval's `next` task)."""
    from lvmgate.retrieval.queries import next_queries, store_windows, usable_rows

    info = store.require(dataset)
    if info.dim is None:
        raise InputError(f"dataset {dataset!r} has no vectors")
    bank = store.vectors(dataset)
    index = store.articles(dataset)
    usable = usable_rows(bank)
    context, target = store_windows(index, window, usable=usable)
    if len(target) == 0:
        raise InputError(f"dataset {dataset!r} has no window of {window} + 1 consecutive chunks")
    qs = next_queries(index, context, target, n, seed=seed)
    contexts = np.asarray(bank[qs.context.reshape(-1)], dtype=np.float32).reshape(len(qs), window, -1)
    return EvalSet(contexts, bank, qs.target, qs.exclude, f"{store.url}#{dataset}: {qs.source}")
