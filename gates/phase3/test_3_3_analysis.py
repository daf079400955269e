"""3.3 Error analysis: the LVM's failures grouped so that the plan's four questions are answered.

An item fails when its true next chunk is not in the LVM's top 10 over the whole bank. Failures are
grouped by domain, chunk length, position in the article and named-entity density, and compared with
the decoder's failures on the same items. The analysis is complete when enough items were analysed
and every grouping has at least two groups large enough to compare; the answers are the findings.
"""

import pytest

pytestmark = pytest.mark.lvmgate_phase(3)

CRITERIA = [
    "3.3.items",  # test items analysed
    "3.3.compared_groups[domain]",  # do certain domains have higher error rates?
    "3.3.compared_groups[length]",  # are long / short chunks harder?
    "3.3.compared_groups[position]",  # what fails: position in the article
    "3.3.compared_groups[entities]",  # what fails: named-entity density
    "3.3.compared_groups[decoder]",  # are failures consistent across vec2text and the LVM?
]


@pytest.mark.parametrize("criterion", CRITERIA)
def test_failure_analysis(failure_analysis, gate, criterion):
    if "missing" in failure_analysis:
        gate.skip(criterion, failure_analysis.missing)
    skips = failure_analysis.get("skips") or {}
    if criterion in skips:
        gate.skip(criterion, skips[criterion])
    value = failure_analysis.criteria[criterion]
    message = failure_analysis.messages.get(criterion, "")
    if value is None:
        gate.skip(criterion, message or "no decoder was run")
    gate.check(criterion, value, message)
