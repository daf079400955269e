"""2.2 Train small Mamba LVM: loss decreases, validation tracks training, no NaN/Inf, peak memory
under the limit (training time recorded in the findings). Beyond the plan: the checkpoint measures
what its log says, validation is article-disjoint, and on it the model beats copy-last and
context-mean and predicts the next chunk rather than a context vector."""

import pytest

pytestmark = pytest.mark.lvmgate_phase(2)

CRITERIA = [
    "2.2.nonfinite_loss",  # no NaN/Inf in loss (gradient explosion: lower the learning rate)
    "2.2.loss_decrease",  # loss should decrease (not flatline): first steps -> last epoch
    "2.2.val_train_gap",  # validation loss tracks training loss
    "2.2.val_rise",  # validation loss not diverging from its best
    "2.2.peak_memory_gb",  # < 16 GB on one GPU
    "2.2.checkpoint_unrecorded",  # the checkpoint's weights are ones the run saved and verified
    "2.2.checkpoint_metric_error",  # reloaded, it measures the validation cosine the log recorded
    "2.2.shared_articles",  # validation articles never seen in training
    "2.2.cosine_margin_copy_last",  # beats copying the last context vector (cosine)
    "2.2.cosine_margin_context_mean",  # beats the context mean (cosine)
    "2.2.recall10_margin_copy_last",  # beats copy-last at Recall@10 over the full bank
    "2.2.recall10_margin_context_mean",  # beats context-mean at Recall@10 over the full bank
    "2.2.next_vs_context_margin",  # cos(pred, next) - max cos(pred, context): not a copy
]


@pytest.mark.parametrize("criterion", CRITERIA)
def test_training_run(training, gate, criterion):
    if training is None:
        gate.skip(criterion, "no --lvm-model given: the training run was not assessed")
    value = training.criteria[criterion]
    message = training.messages.get(criterion, "")
    if value is None:
        gate.skip(criterion, message or "not measurable for this run")
    gate.check(criterion, value, message)
