"""2.4 Semantic vector arithmetic: do analogies a - b + c ~ d survive the LVM's space? (plan 2.4)

Plan: top-3 accuracy >= 50% and better than random (> 10% for a vocabulary of 1,000). Judged in the
LVM's space against the encoder space it reads (retention) and the chance line. Not applicable when
the encoder has no word semantics (hashing); not measured when the encoder is unknown or unavailable,
or itself fails the chance line. A pass is no evidence of sequence learning: copy-last passes it.
Numbers: lvmgate.sources.arithmetic, via the `arithmetic` artifact (--lvm-model).
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(2)


@pytest.mark.parametrize("criterion", criterion_ids("2.4"))
def test_vector_arithmetic(arithmetic, gate, criterion):
    gate.check(arithmetic.criterion(criterion))
