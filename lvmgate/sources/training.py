"""2.2 artifact: the training run named by --lvm-model."""

from __future__ import annotations

from lvmgate.artifacts import GateContext, Source, register


# -- phase 2: 2.2 training run -------------------------------------------------------------------
def _training(ctx: GateContext) -> tuple[dict, bool]:
    """2.2: the run named by --lvm-model (log, checkpoint measured again, model vs baselines)."""
    from lvmgate.training.assess import training_artifact

    return training_artifact(ctx)


def _training_findings(r: dict) -> list[str]:
    from lvmgate.training.assess import findings

    return findings(r)


register(Source("training", 2, _training, _training_findings, whole=True, needs="lvm_model"))
