"""3.3 Error analysis: the LVM's failures grouped so that the plan's four questions are answered.

An item fails when its true next chunk is not in the LVM's top 10 over the whole bank. Failures are
grouped by domain, chunk length, position in the article and named-entity density, and compared with
the decoder's failures on the same items (vec2text: without weights that comparison is not measured).
Numbers: lvmgate.analysis, via the `failure_analysis` artifact.
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(3)


@pytest.mark.parametrize("criterion", criterion_ids("3.3"))
def test_failure_analysis(failure_analysis, gate, criterion):
    gate.check(failure_analysis.criterion(criterion))
