"""Success Criteria (Final): the LVM is production-ready only if ALL hold: Recall@10 > 0.85,
BLEU-4 > 0.20 (from plan 2.3's comparison for this model, else the LVM through the nearest
decoder), latency < 500 ms, memory < 8 GB, and it passes load testing (1000 QPS). If any fails, it
is not production-ready: ship the vec2text baseline instead (the phase report then says so and
lists what failed)."""

import pytest

pytestmark = pytest.mark.lvmgate_phase(4)

CRITERIA = [
    "final.recall_at_10",
    "final.bleu4",
    "final.latency_ms",
    "final.memory_gb",
    "final.load_test",
]


@pytest.mark.parametrize("criterion", CRITERIA)
def test_success_criteria(final_verdict, gate, criterion):
    # without --lvm-model every value is unmeasured, which never passes: not production-ready
    gate.check(criterion, final_verdict.criteria[criterion], final_verdict.messages[criterion])
