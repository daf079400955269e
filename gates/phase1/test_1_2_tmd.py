"""1.2 TMD distribution: TMD codes are meaningful (plan 1.2).

Top domain < 50% (one domain > 70%: TMD is broken), unknown (code 0, plus untagged rows) < 30%
(> 50%: hybrid mode falls back too often), at least 5 domains with > 5% of chunks.
Numbers: lvmgate.metrics.tmd_distribution, via the `tmd` artifact.
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(1)


@pytest.mark.parametrize("criterion", criterion_ids("1.2"))
def test_tmd_distribution(tmd, gate, criterion):
    gate.check(tmd.criterion(criterion))
