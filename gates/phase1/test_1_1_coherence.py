"""1.1 Sequential coherence: consecutive chunks have narrative flow (plan 1.1 and STOP point 1).

The plan's criteria: mean similarity >= 0.3 (0.2-0.3 acceptable, investigate outliers; < 0.2 STOP
INGESTION), high-coherence pairs >= 60%, low-coherence pairs <= 20%. Beyond the plan, because those
three pass broken data: lift over random pairs (anisotropy), order margin lag 1 - lag k (order lost
inside articles), chunk_index integrity (lost positions, merged ids), zero/NaN rows (failed embedding
batches) and duplicate content (chunks ingested twice raise coherence and teach copying).
Numbers: lvmgate.metrics.coherence and lvmgate.metrics.duplicates, via the `coherence` artifact.
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(1)


@pytest.mark.parametrize("criterion", criterion_ids("1.1"))
def test_sequential_coherence(coherence, gate, criterion):
    gate.check(coherence.criterion(criterion))
