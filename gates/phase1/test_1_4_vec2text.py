"""1.4 Vec2Text baseline: reconstruction quality every later LVM result is compared with (plan 1.4).

BLEU-4 >= 0.15 and round-trip cosine >= 0.7 per vec2text backend (jxe, ielab). A backend whose
weights are missing, or that was not requested (--backends), is not measured: the phase is then at
best WARN, never a silent GO on a baseline nobody measured. Beyond the plan, `nearest` always runs
the round-trip compatibility check: decoded text re-encoded with the dataset's encoder must land on
the input vector, else the vectors are not from the encoder the decoders expect.
Numbers: lvmgate.baseline, via the `vec2text_baseline` artifact.
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(1)


@pytest.mark.parametrize("criterion", criterion_ids("1.4"))
def test_vec2text_baseline(vec2text_baseline, gate, criterion):
    gate.check(vec2text_baseline.criterion(criterion))
