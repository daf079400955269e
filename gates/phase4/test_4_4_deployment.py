"""4.4 Deployment readiness check, box by box, from the artifacts `lvmgate readiness` writes for this
model (an artifact made for another model, or on another dataset, never ticks a box):
weights < 4 GB compressed; ONNX export matches PyTorch in onnxruntime with a dynamic batch; INT8
tested; batch inference faster than one at a time; the HTTP API answers what the model predicts
and rejects malformed requests; a load test at 1000 QPS, long enough, with p99 under the latency
limit and no errors; /metrics and JSON logs working under load."""

import pytest

pytestmark = pytest.mark.lvmgate_phase(4)

CRITERIA = [
    "4.4.weights_gb",  # Model weights < 4GB (compressed)
    "4.4.onnx_max_abs_diff",  # ONNX export successful (parity with PyTorch, dynamic batch)
    "4.4.int8_cosine",  # Quantization (INT8) tested
    "4.4.batch_speedup",  # Batch inference optimized
    "4.4.api_failures",  # API integration tested
    "4.4.load_qps",  # Load testing completed (1000 QPS) ...
    "4.4.load_p99_ms",  # ... with p99 under the latency limit
    "4.4.load_errors",  # ... and no errors
    "4.4.load_duration_s",  # ... sustained, not a burst
    "4.4.monitoring_failures",  # Monitoring/logging configured
]


@pytest.mark.parametrize("criterion", CRITERIA)
def test_deployment_checklist(deployment, gate, criterion):
    if deployment is None:
        gate.skip(criterion, "no --lvm-model given: deployment readiness was not checked")
    gate.check(criterion, deployment.criteria[criterion], deployment.messages[criterion])
