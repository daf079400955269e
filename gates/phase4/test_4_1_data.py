"""4.1 Final data preparation: the production set carries the plan's augmentation (dropout: mask 10%
of context vectors; noise: Gaussian sigma 0.01; within-context shuffling that keeps article
boundaries), holds out 5% for validation, and passes every 2.1 check again.
Numbers: lvmgate.readiness.production_data, via the `production_data` artifact (--data).
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(4)


@pytest.mark.parametrize("criterion", criterion_ids("4.1"))
def test_production_data(production_data, gate, criterion):
    gate.check(production_data.criterion(criterion))
