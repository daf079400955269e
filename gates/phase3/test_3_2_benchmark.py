"""3.2 Benchmark suite: next-chunk retrieval over the whole bank with the LVM's prediction as query.

The plan's targets: LVM Recall@10 > vec + 5 points (read as hit@10, the true next chunk in the top
10; a paired interval over the same queries), latency < 500 ms (p95, one query alone, prediction and
search), memory < 4 GB (the model). Beyond the plan: the LVM must also beat context-mean.
Numbers: lvmgate.sources.phase3.benchmark_lvm, via the `retrieval_benchmark` artifact.
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(3)


@pytest.mark.parametrize("criterion", criterion_ids("3.2"))
def test_benchmark(retrieval_benchmark, gate, criterion):
    gate.check(retrieval_benchmark.criterion(criterion))
