"""2.2 artifact: the training run named by --lvm-model."""

from __future__ import annotations

from pathlib import Path

from lvmgate.artifacts import GateContext, Source, register


# -- phase 2: 2.2 training run -------------------------------------------------------------------
def _training(ctx: GateContext) -> tuple[dict, bool]:
    """2.2: the run named by --lvm-model (log, checkpoint measured again, model vs baselines)."""
    from lvmgate.training.assess import training_artifact

    return training_artifact(ctx)


def _training_findings(r: dict) -> list[str]:
    from lvmgate.training.assess import findings

    return findings(r)


TRAINING = register(
    Source("training", 2, _training, _training_findings, needs="lvm_model", sections=("2.2",))
)


# -- phase 4: 4.2 the production run -------------------------------------------------------------
def _production_training(ctx: GateContext) -> tuple[dict, bool]:
    """4.2: the run that wrote --lvm-model, from its log and checkpoints (read each run: cheap)."""
    from lvmgate.criteria import criteria_dict
    from lvmgate.training.production import assess_production_run

    run = assess_production_run(ctx.options["lvm_model"])
    art = {
        "tool": "production_training",
        "provenance": ctx.provenance(
            "production_training", sample_size=None, params={"lvm_model": run.model_path, "log": run.log_path}
        ),
        "result": run.to_dict(),
        "criteria": criteria_dict(run.criteria()),
        "facts": run.facts(),
    }
    return art, True


def _production_findings(r: dict) -> list[str]:
    return [
        f"4.2 run {Path(r['model_path']).name}: {r['status']}, preset {r['preset']} ({r['plan_label'] or '-'}), "
        f"{r['parameters'] or 0:,} parameters, d_model {r['d_model']}, {r['n_layers']} layers, {r['epochs']} of "
        f"{r['epochs_planned']} epochs, mixed precision {r['mixed_precision']}, gradient checkpointing "
        f"{r['gradient_checkpointing']}; best epochs by val loss {r['best_epochs']}."
    ]


PRODUCTION_TRAINING = register(
    Source(
        "production_training",
        4,
        _production_training,
        _production_findings,
        needs="lvm_model",
        sections=("4.2",),
    )
)
