"""4.4 Deployment readiness check, box by box, from the artifacts `lvmgate readiness` writes for this
model (an artifact made for another model is not evidence: those boxes are not measured): weights
< 4 GB compressed; ONNX export matches PyTorch in onnxruntime; INT8 tested; batch inference faster
than one at a time; the HTTP API answers what the model predicts; a load test at 1000 QPS, long
enough, with p99 under the limit and no errors; /metrics and JSON logs working under load.
Numbers: lvmgate.readiness.deployment_checklist, via the `deployment` artifact (--lvm-model).
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(4)


@pytest.mark.parametrize("criterion", criterion_ids("4.4"))
def test_deployment_checklist(deployment, gate, criterion):
    gate.check(deployment.criterion(criterion))
