"""Deployment readiness (plan 4.4): ONNX export, INT8 quantisation, weight size, batch inference,
the HTTP API and an open-loop load test. Every measurement is a frozen `Result` that the phase-4
gates read from JSON artifacts; see docs/deploy.md.

- export:    `export_onnx` / `check_onnx` -> OnnxExport (parity with PyTorch in onnxruntime)
- quantize:  `quantize_report` -> QuantizeReport (torch and onnxruntime dynamic INT8 vs float32)
- weights:   `weights_size` -> WeightsSize (safetensors + compression vs the 4 GiB limit)
- predictor: `Engine`, `MicroBatcher`, `batch_curve` -> BatchCurve (the model wrappers are lvmgate.lvm.predictor's)
- server:    `ServeConfig`, `build_backend`, `create_app`, `serve`, `running_server`
- loadtest:  `run_loadtest` -> LoadTestResult
`--lvm-model` values are resolved by lvmgate.lvm.load.load_model.
Heavy dependencies (torch, onnx, onnxruntime, starlette, uvicorn) are imported when used.
"""

from lvmgate.deploy.export import OnnxExport, ParityPoint, check_onnx, export_onnx
from lvmgate.deploy.loadtest import LoadTestResult, run_loadtest, run_loadtest_async
from lvmgate.deploy.metrics import parse_prometheus
from lvmgate.deploy.predictor import (
    BatchCurve,
    BatchPoint,
    Bf16ExactIndex,
    Engine,
    MicroBatcher,
    QueueFull,
    QueueTimeout,
    batch_curve,
    build_search,
)
from lvmgate.deploy.quantize import (
    EvalSet,
    QuantizeReport,
    QuantizeResult,
    quantize_onnx,
    quantize_report,
    quantize_torch,
    store_eval,
    synthetic_eval,
)
from lvmgate.deploy.server import ServeConfig, build_backend, create_app, running_server, serve
from lvmgate.deploy.weights import PLAN_LIMIT_BYTES, WeightsSize, estimate_bytes, weights_size

__all__ = [
    "PLAN_LIMIT_BYTES",
    "BatchCurve",
    "BatchPoint",
    "Bf16ExactIndex",
    "Engine",
    "EvalSet",
    "LoadTestResult",
    "MicroBatcher",
    "OnnxExport",
    "ParityPoint",
    "QuantizeReport",
    "QuantizeResult",
    "QueueFull",
    "QueueTimeout",
    "ServeConfig",
    "WeightsSize",
    "batch_curve",
    "build_backend",
    "build_search",
    "check_onnx",
    "create_app",
    "estimate_bytes",
    "export_onnx",
    "parse_prometheus",
    "quantize_onnx",
    "quantize_report",
    "quantize_torch",
    "run_loadtest",
    "run_loadtest_async",
    "running_server",
    "serve",
    "store_eval",
    "synthetic_eval",
    "weights_size",
]
