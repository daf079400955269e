"""2.3 Reconstruction quality: the LVM's predicted next vector decoded to text and compared (plan 2.3).

Plan: LVM BLEU-4 >= vec2text BLEU-4, LVM cosine >= 0.6, under 1 s per query; at or above the
baseline on all metrics continue, within 5% tune, significantly below (> 20%) STOP with the
diagnostics. "vec2text BLEU-4" is vec2text decoding the true next vector on the same held-out
windows (a paired ceiling); beyond the plan the LVM must beat copy-last and context-mean decoded
the same way, on articles it was never trained on. vec2text criteria without weights, or not
requested, are not measured: Phase 2's GO point needs them.
Numbers: lvmgate.compare, via the `reconstruction` artifact (--lvm-model).
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(2)


@pytest.mark.parametrize("criterion", criterion_ids("2.3"))
def test_reconstruction(reconstruction, gate, criterion):
    gate.check(reconstruction.criterion(criterion))
