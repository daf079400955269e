"""Phase 4 from artifacts: production data (4.1), production metrics (4.3), the deployment checklist
(4.4) and the plan's final verdict ("Success Criteria (Final)"), plus `run_readiness`, which measures
every 4.4 box for one model in one go.

The functions return values and the messages that explain them; the phase-4 gates judge each value
against the policy. The one exception is `final_verdict`, which combines five criteria into
"production-ready or not" and therefore applies the policy's `final.*` (and `4.4.load_*`) thresholds
itself, so that its statement and the gate's table agree.

- `production_data(data)`: the 2.1 checks again on the production set, the plan's augmentation as
  recorded in the set's meta (mask 10%, noise sigma 0.01, within-context shuffling) and the
  validation share (plan: 0.05).
- `production_bench(model, split)`: the retrieval benchmark's `next` task over the **whole bank**
  on held-out windows with the LVM. The plan's "Recall@10" is read as **hit@10** (the true next
  chunk among the top 10), the definition `lvmgate.lvm.evaluate` uses for gate 2.2 and the one
  docs/retrieval.md recommends for 3.2; graded recall@10 (which also credits the two chunks after
  it) is recorded beside it. "Precision@10" is read as **R-precision** (relevant rows in the top R
  / R, R = the judged relevant rows, at most 3 for `next`): raw P@10 cannot exceed 3/10 with three
  relevant rows, so a P@10 > 0.70 line could never pass; raw P@10 and its ceiling are recorded.
  Latency is the p95 of one query alone (prediction + whole-bank search), memory what serving
  needs resident: the bank index plus the model. It also decodes the LVM's predictions with the
  nearest-neighbour decoder (whole bank) for a BLEU-4 the final verdict can fall back on.
- `deployment_checklist(deploy_dir, model)`: the seven 4.4 boxes from artifacts/deploy/*.json,
  each with the artifact value behind it. An artifact made for another model (its model digest
  differs from --lvm-model's) or on another dataset never ticks a box: its value is NaN and the
  message says why.
- `final_verdict(...)`: Recall@10, BLEU-4, latency, memory and the load test; production-ready only
  when all five hold, otherwise "ship the vec2text baseline instead" with what failed."""

from lvmgate.readiness.checklist import (
    CHECKLIST,
    CHECKLIST_IDS,
    LOAD_IDS,
    METRIC_FAMILIES,
    DeploymentChecklist,
    deployment_checklist,
)
from lvmgate.readiness.identity import (
    DEFAULT_DEPLOY_DIR,
    DEPLOY_FILES,
    ArtifactStatus,
    ModelIdentity,
    artifact_digest,
    artifact_status,
    load_model,
    missing,
    model_identity,
)
from lvmgate.readiness.production import (
    BLEU_ITEMS,
    PLAN_QUERIES,
    ProductionBench,
    ProductionData,
    production_bench,
    production_data,
    r_precision,
)
from lvmgate.readiness.run import ApiCheck, ReadinessRun, api_checks, run_readiness
from lvmgate.readiness.verdict import (
    FINAL_IDS,
    FINAL_ITEMS,
    NO_VEC2TEXT_BLEU,
    RECONSTRUCTION_FILE,
    SHIP_BASELINE,
    BleuChoice,
    FinalVerdict,
    choose_bleu,
    final_verdict,
    reconstruction_bleu,
)

__all__ = [
    "BLEU_ITEMS",
    "CHECKLIST",
    "CHECKLIST_IDS",
    "DEFAULT_DEPLOY_DIR",
    "DEPLOY_FILES",
    "FINAL_IDS",
    "FINAL_ITEMS",
    "LOAD_IDS",
    "METRIC_FAMILIES",
    "NO_VEC2TEXT_BLEU",
    "PLAN_QUERIES",
    "RECONSTRUCTION_FILE",
    "SHIP_BASELINE",
    "ApiCheck",
    "ArtifactStatus",
    "BleuChoice",
    "DeploymentChecklist",
    "FinalVerdict",
    "ModelIdentity",
    "ProductionBench",
    "ProductionData",
    "ReadinessRun",
    "api_checks",
    "artifact_digest",
    "artifact_status",
    "choose_bleu",
    "deployment_checklist",
    "final_verdict",
    "load_model",
    "missing",
    "model_identity",
    "production_bench",
    "production_data",
    "r_precision",
    "reconstruction_bleu",
    "run_readiness",
]
