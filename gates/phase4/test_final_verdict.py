"""Success Criteria (Final): the LVM is production-ready only if ALL hold: Recall@10 > 0.85, BLEU-4 >
0.20 (the LVM decoded by vec2text, from plan 2.3's comparison for this model; nearest-neighbour
decoding is retrieval, not a decoder baseline), latency < 500 ms, memory < 8 GB, and it passes load
testing (1000 QPS). Any failure, or anything not measured, means not production-ready: ship the
vec2text baseline instead (the phase report then says so and lists what failed or is missing).
Numbers: lvmgate.readiness.final_verdict, via the `final_verdict` artifact.
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(4)


@pytest.mark.parametrize("criterion", criterion_ids("final"))
def test_success_criteria(final_verdict, gate, criterion):
    gate.check(final_verdict.criterion(criterion))
