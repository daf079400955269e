"""1.3 Chunk boundary analysis: chunks end cleanly (plan 1.3).

Sentence-complete endings >= 70% (< 50%: adjust the semantic chunker), average length 250-400
characters, no chunks under 50 or over 1000 characters.
Numbers: lvmgate.metrics.boundaries, via the `boundaries` artifact.
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(1)


@pytest.mark.parametrize("criterion", criterion_ids("1.3"))
def test_chunk_boundaries(boundaries, gate, criterion):
    gate.check(boundaries.criterion(criterion))
