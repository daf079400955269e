"""2.2 Train small Mamba LVM: loss decreases, validation tracks training, no NaN/Inf, peak memory
under the limit (training time in the findings). Beyond the plan: the checkpoint measures what its
log says, validation is article-disjoint, and on it the model beats copy-last and context-mean and
predicts the next chunk rather than a context vector.
Numbers: lvmgate.training.assess, via the `training` artifact (--lvm-model).
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(2)


@pytest.mark.parametrize("criterion", criterion_ids("2.2"))
def test_training_run(training, gate, criterion):
    gate.check(training.criterion(criterion))
