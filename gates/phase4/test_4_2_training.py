"""4.2 Train large production LVM: the run itself (760M-label model, A100-class GPU, days) happens
elsewhere; this gate reads what it left behind, so that the plan's box is ticked honestly: the
checkpoint's configuration (--d-model 768, --n-layers 24), epochs completed (10), mixed precision and
gradient checkpointing as trained, the checkpointing strategy (every epoch, the best 3 by validation
loss kept, the final one saved), the model file being one the log recorded, and no NaN/Inf.
Numbers: lvmgate.training.production, via the `production_training` artifact (--lvm-model).
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(4)


@pytest.mark.parametrize("criterion", criterion_ids("4.2"))
def test_production_training(production_training, gate, criterion):
    gate.check(production_training.criterion(criterion))
