"""4.3 Final validation and benchmarking: the LVM's next-chunk retrieval over the whole bank on
held-out windows. Recall@10 is hit@10 (as in 2.2 and 3.2); Precision@10 is read as R-precision,
because raw P@10 cannot exceed 0.3 with three relevant rows; latency is one query alone (predict +
whole-bank search); memory is the bank index plus the model; the benchmark must be held out.
Numbers: lvmgate.readiness.production_bench, via the `production_bench` artifact (--lvm-model).
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(4)


@pytest.mark.parametrize("criterion", criterion_ids("4.3"))
def test_production_metrics(production_bench, gate, criterion):
    gate.check(production_bench.criterion(criterion))
