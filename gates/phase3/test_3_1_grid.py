"""3.1 Hyperparameter grid search: the best configuration is identified from completed runs.

The grid (`lvmgate grid`) is found through --grid, --data GRID_DIR or the grid the --lvm-model was
trained in. Every run's model is checked against its log; runs that failed or raised red flags are
listed and never chosen; the best run (by validation margin over the stronger baseline, on held-out
articles) must beat copy-last and context-mean, the plan's "Phase 3 no improvement" STOP point.
Numbers: lvmgate.grid, via the `grid_search` artifact.
"""

import pytest

from lvmgate.policy import criterion_ids

pytestmark = pytest.mark.lvmgate_phase(3)


@pytest.mark.parametrize("criterion", criterion_ids("3.1"))
def test_grid_search(grid_search, gate, criterion):
    gate.check(grid_search.criterion(criterion))
