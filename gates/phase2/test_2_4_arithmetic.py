"""2.4 Semantic vector arithmetic: do analogies a - b + c ~ d survive the LVM's space? (plan 2.4)

Plan: top-3 accuracy >= 50% and better than random (> 10% for a vocabulary of 1,000). Judged in the
LVM's space against the encoder space it reads (the control: retention) and the chance line. It
does not apply (skipped, not recorded, the reason printed and in the findings) when the encoder
has no word semantics (hashing): there is nothing for the LVM to preserve. It is skipped and
recorded (WARN) when the encoder is unknown or unavailable, or itself fails the chance line. A
pass is no evidence of sequence learning: copy-last passes it exactly.
"""

import pytest

pytestmark = pytest.mark.lvmgate_phase(2)

CRITERIA = [
    "2.4.top3_accuracy",  # >= 0.5 in the LVM's space (plan)
    "2.4.top3_above_chance",  # better than random (plan: > 10% for a vocabulary of 1,000)
    "2.4.top3_retention",  # LVM-space / encoder-space top-3: structure kept
]


@pytest.mark.parametrize("criterion", CRITERIA)
def test_vector_arithmetic(arithmetic, gate, criterion):
    if arithmetic is None:
        gate.skip(criterion, "no --lvm-model given: the LVM's space was not tested")
    if criterion in arithmetic.not_applicable:  # e.g. hashing vectors: no word semantics to preserve
        gate.skip(criterion, arithmetic.not_applicable[criterion], record=False)
    value = arithmetic.criteria[criterion]
    message = arithmetic.messages.get(criterion, "")
    if value is None:
        gate.skip(criterion, message or "not measurable for this run")
    gate.check(criterion, value, message)
