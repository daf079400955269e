"""3.1 Hyperparameter grid search: the best configuration is identified from completed runs.

The grid (`lvmgate grid`) is found through --data GRID_DIR (or the grid the --lvm-model was trained
in). Every run's model is checked against its log; runs that failed or raised red flags are listed
and never chosen; the best run (by validation margin over the stronger baseline, on held-out
articles) must beat copy-last and context-mean, the plan's "Phase 3 no improvement" STOP point.
"""

import pytest

pytestmark = pytest.mark.lvmgate_phase(3)

CRITERIA = [
    "3.1.completed_runs",  # at least two completed runs to choose from (verified model files)
    "3.1.finished_pct",  # every planned run finished (completed, or failed and listed)
    "3.1.flagged_pct",  # no run failed or raised red flags (they are listed, never chosen)
    "3.1.best_margin_copy_last",  # the best run beats copying the last chunk (val cosine)
    "3.1.best_margin_context_mean",  # the best run beats averaging the context (val cosine)
]


@pytest.mark.parametrize("criterion", CRITERIA)
def test_grid_search(grid_search, gate, criterion):
    if "missing" in grid_search:
        gate.skip(criterion, grid_search.missing)
    value = grid_search.criteria[criterion]
    message = grid_search.messages.get(criterion, "")
    gate.check(criterion, float("nan") if value is None else value, message)
