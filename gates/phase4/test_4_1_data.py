"""4.1 Final data preparation: the production set carries the plan's augmentation (dropout: mask 10%
of context vectors; noise: Gaussian sigma 0.01; within-context shuffling that keeps article
boundaries), holds out 5% for validation, and passes every 2.1 check again (shape, windows inside
articles and in order, no duplicates, no leakage between splits, order signal, the right bank)."""

import pytest

pytestmark = pytest.mark.lvmgate_phase(4)

CRITERIA = [
    "4.1.augment_enabled",  # prepared with --augment
    "4.1.augment_mask_frac",  # dropout: randomly mask 10% of context vectors
    "4.1.augment_noise_sigma",  # noise injection: Gaussian sigma 0.01
    "4.1.augment_shuffle_prob",  # sequence shuffling within the context (article boundaries kept)
    "4.1.val_fraction",  # --val-split 0.05
    "4.1.shape_mismatch",  # the 2.1 checks, on the production set
    "4.1.bad_windows",
    "4.1.duplicate_sequences",
    "4.1.repeated_vector_windows",
    "4.1.invalid_vector_windows",
    "4.1.shared_articles",
    "4.1.split_fraction_error",
    "4.1.order_margin",
    "4.1.bank_mismatch",
    "4.1.train_windows",
]


@pytest.mark.parametrize("criterion", CRITERIA)
def test_production_data(production_data, gate, criterion):
    if production_data is None:
        gate.skip(criterion, "no --data given: the production set was not checked")
    value = production_data.criteria[criterion]
    if criterion == "4.1.order_margin" and value.n == 0:
        gate.skip(criterion, "no windows long enough to measure the order margin")
    gate.check(criterion, value, production_data.messages.get(criterion, ""))
