"""2.1 Prepare training data: shapes, in-order windows inside articles, no duplicates, no leakage."""

import pytest

pytestmark = pytest.mark.lvmgate_phase(2)

CRITERIA = [
    "2.1.shape_mismatch",  # NPZ materialises to (N, context_window, 768)
    "2.1.bad_windows",  # every window: consecutive chunks of one article, target = next chunk
    "2.1.duplicate_sequences",  # no duplicate sequences
    "2.1.repeated_vector_windows",  # no window holds one vector twice (duplicated chunks teach copying)
    "2.1.invalid_vector_windows",  # no zero / NaN vectors in any window
    "2.1.shared_articles",  # zero articles shared between train, validation and test
    "2.1.split_fraction_error",  # split fractions as requested
    "2.1.order_margin",  # targets closer to their neighbour than to older context (order kept)
    "2.1.bank_mismatch",  # the bank is the one the set was prepared against
    "2.1.train_windows",  # something to train on
]


@pytest.mark.parametrize("criterion", CRITERIA)
def test_training_data(sequences, gate, criterion):
    value = sequences.criteria[criterion]
    if criterion == "2.1.order_margin" and value.n == 0:
        gate.skip(criterion, "no windows long enough to measure the order margin")
    gate.check(criterion, value)
