"""Turning judged criteria into a phase decision, one line of explanation and the phaseN.json body.

A phase is STOP when any criterion fails (or warns, under --strict), WARN when any warns or was not
measured (or, under --strict, STOP then too), GO otherwise. Not-applicable criteria do not move the
decision; they are listed. The Criterion contract itself lives in lvmgate.criteria.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lvmgate.criteria import FAIL, NOT_APPLICABLE, NOT_MEASURED, PASS, WARN, Criterion
from lvmgate.policy import Policy
from lvmgate.results import Estimate

GO, WARN_DECISION, STOP = "GO", "WARN", "STOP"

# the plan's "GO points" / next steps per phase
NEXT_ON_GO = {
    1: ["Continue ingestion", "Plan Phase 2 (early training after batches 5-10)"],
    2: ["Scale up to Phase 3 (mid-scale training, hyperparameter grid)"],
    3: ["Proceed to full-scale training (Phase 4)"],
    4: ["Ship the LVM: production-ready on every final criterion"],
}


def judge(
    policy: Policy, criterion_id: str, estimate: Estimate | float | bool, reason: str = ""
) -> Criterion:
    """Judge one measured value against the policy's threshold for `criterion_id` (notebooks, tools)."""
    return Criterion.measured(criterion_id, estimate, reason).judged(policy)


def decide(results: Iterable[Criterion], *, strict: bool = False) -> str:
    """STOP if any criterion failed (or warned / was not measured, when strict); WARN if any warned or
    was not measured; GO otherwise."""
    statuses = {r.status for r in results}
    if FAIL in statuses or (strict and statuses & {WARN, NOT_MEASURED}):
        return STOP
    if statuses & {WARN, NOT_MEASURED}:
        return WARN_DECISION
    return GO


def explain(r: Criterion) -> str:
    """One line for test output and reports."""
    verdict = {
        PASS: "pass",
        WARN: "WARN (undecided or in the warn band)",
        FAIL: "FAIL -> STOP",
        NOT_MEASURED: "NOT MEASURED (never a pass: the phase is at best WARN)",
        NOT_APPLICABLE: "not applicable to this input",
    }
    if r.status in (NOT_MEASURED, NOT_APPLICABLE):
        return f"{r.id}: {verdict[r.status]}: {r.reason}"
    line = f"{r.id}: {r.value_text()} vs {r.threshold}: {verdict[r.status]}"
    if r.status in (FAIL, WARN) and r.fail_action:
        line += f". Action: {r.fail_action}"
    if r.reason:
        line += f". {r.reason}"
    return line


def phase_summary(phase: int, results: list[Criterion], *, strict: bool = False, **extra: Any) -> dict:
    """The phaseN.json body (contract in DESIGN.md): phase, decision, criteria, plus what was not
    measured or does not apply (by id, with the reason) and provenance."""
    decision = decide(results, strict=strict)
    return {
        "phase": phase,
        "decision": decision,
        "strict": strict,
        "criteria": [r.row() for r in results],
        "not_measured": {r.id: r.reason for r in results if r.status == NOT_MEASURED},
        "not_applicable": {r.id: r.reason for r in results if r.status == NOT_APPLICABLE},
        **extra,
    }
