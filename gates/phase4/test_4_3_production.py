"""4.3 Final validation and benchmarking: the LVM's next-chunk retrieval over the whole bank on
held-out windows. Recall@10 is hit@10 (the true next chunk among the top 10, as in 2.2 and 3.2);
Precision@10 is read as R-precision, because raw P@10 cannot exceed 0.3 with three relevant rows;
latency is one query alone (predict + whole-bank search), memory is the bank index plus the model.
The benchmark must be held out: its articles are checked against the model's training split."""

import pytest

pytestmark = pytest.mark.lvmgate_phase(4)

CRITERIA = [
    "4.3.recall_at_10",  # > 0.85 (high retrieval quality)
    "4.3.precision_at_10",  # > 0.70 (good ranking)
    "4.3.latency_ms",  # < 500 ms (acceptable for production)
    "4.3.memory_gb",  # < 8 GB (deployable on a consumer GPU)
    "4.3.shared_articles",  # "held-out test set": no benchmarked article was in the model's training data
]


@pytest.mark.parametrize("criterion", CRITERIA)
def test_production_metrics(production_bench, gate, criterion):
    if production_bench is None:
        gate.skip(criterion, "no --lvm-model given: the production model was not benchmarked")
    gate.check(criterion, production_bench.criteria[criterion], production_bench.messages[criterion])
