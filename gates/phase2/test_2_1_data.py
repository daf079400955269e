"""2.1 Prepare training data: the plan's checks (NPZ shape (N, context_window, 768), sequences in order
and not shuffled across articles, no duplicate sequences) and, beyond the plan: no window holds one
vector twice, no invalid vectors, zero articles shared between splits, split shares as requested,
an order signal inside the windows, the right bank, something to train on, and every window that
`prepare` dropped counted (drops hide duplicated or invalid chunks).
Numbers: lvmgate.metrics.sequence_checks, via the `sequences` artifact (--data).
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(2)


@pytest.mark.parametrize("criterion", criterion_ids("2.1"))
def test_training_data(sequences, gate, criterion):
    gate.check(sequences.criterion(criterion))
