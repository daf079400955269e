"""Judging criteria against the policy and turning criteria into a phase decision.

A criterion result carries the value with its interval, the threshold as written, the status
(pass / warn / fail / skip) and the plan's fail action. A phase is STOP when any criterion fails,
WARN when any warns (or is skipped), GO otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lvmgate.policy import FAIL, PASS, SKIP, WARN, Policy
from lvmgate.results import Estimate, Result

GO, WARN_DECISION, STOP = "GO", "WARN", "STOP"

# the plan's "GO points" / next steps per phase
NEXT_ON_GO = {
    1: ["Continue ingestion", "Plan Phase 2 (early training after batches 5-10)"],
    2: ["Scale up to Phase 3 (mid-scale training, hyperparameter grid)"],
    3: ["Proceed to full-scale training (Phase 4)"],
    4: ["Ship the LVM: production-ready on every final criterion"],
}


@dataclass(frozen=True)
class CriterionResult(Result):
    id: str
    title: str
    value: float
    low: float
    high: float
    n: int
    threshold: str
    status: str
    message: str = ""
    fail_action: str = ""

    @property
    def phase(self) -> int | None:
        """The plan section's phase; the final success criteria (`final.*`) belong to phase 4."""
        head = self.id.split(".", 1)[0]
        if head == "final":
            return 4
        return int(head) if head.isdigit() else None

    def value_text(self, digits: int = 3) -> str:
        """'0.42 [0.41, 0.43]' or '0.42' when there is no interval."""

        def f(x: float) -> str:
            return f"{x:.{digits}g}" if abs(x) < 1e4 else f"{x:,.0f}"

        def nan(x: float | None) -> bool:
            return x is None or (isinstance(x, float) and math.isnan(x))

        if self.status == SKIP:
            return "skipped"
        if nan(self.value):
            return "n/a"
        if nan(self.low) or nan(self.high):
            return f(self.value)
        if self.low == self.high == self.value or self.low is None:
            return f(self.value)
        return f"{f(self.value)} [{f(self.low)}, {f(self.high)}]"


def judge(
    policy: Policy, criterion_id: str, estimate: Estimate | float | bool, message: str = ""
) -> CriterionResult:
    """Judge one value against the policy's threshold for `criterion_id`."""
    t = policy[criterion_id]
    title = t.title + (f" ({criterion_id.split('[', 1)[1].rstrip(']')})" if "[" in criterion_id else "")
    if isinstance(estimate, bool):
        estimate = Estimate.exact(float(estimate), 1)
    if not isinstance(estimate, Estimate):
        estimate = Estimate.exact(float(estimate), 1)
    status = t.judge(estimate)
    return CriterionResult(
        id=criterion_id,
        title=title,
        value=float(estimate.value),
        low=float(estimate.low),
        high=float(estimate.high),
        n=int(estimate.n),
        threshold=t.describe(),
        status=status,
        message=message,
        fail_action=t.fail_action,
    )


def skipped(policy: Policy | None, criterion_id: str, reason: str) -> CriterionResult:
    title = threshold = ""
    if policy is not None and criterion_id.split("[", 1)[0] in policy.thresholds:
        t = policy[criterion_id]
        title, threshold = t.title, t.describe()
        if "[" in criterion_id:
            title += f" ({criterion_id.split('[', 1)[1].rstrip(']')})"
    nan = float("nan")
    return CriterionResult(criterion_id, title, nan, nan, nan, 0, threshold, SKIP, reason)


def decide(results: Iterable[CriterionResult], *, strict: bool = False) -> str:
    """STOP if any criterion failed (or warned, when strict); WARN if any warned or was skipped."""
    statuses = {r.status for r in results}
    if FAIL in statuses or (strict and WARN in statuses):
        return STOP
    if WARN in statuses or SKIP in statuses:
        return WARN_DECISION
    return GO


def explain(r: CriterionResult) -> str:
    """One line for test output and reports."""
    verdict = {
        PASS: "pass",
        WARN: "WARN (undecided or in the warn band)",
        FAIL: "FAIL -> STOP",
        SKIP: "skipped",
    }
    line = f"{r.id}: {r.value_text()} vs {r.threshold}: {verdict[r.status]}"
    if r.status in (FAIL, WARN) and r.fail_action:
        line += f". Action: {r.fail_action}"
    if r.message:
        line += f". {r.message}"
    return line


def phase_summary(phase: int, results: list[CriterionResult], *, strict: bool = False, **extra: Any) -> dict:
    """The phaseN.json body (contract in DESIGN.md): phase, decision, criteria, plus provenance."""
    decision = decide(results, strict=strict)
    return {
        "phase": phase,
        "decision": decision,
        "strict": strict,
        "criteria": [
            {
                "id": r.id,
                "title": r.title,
                "value": r.value,
                "low": r.low,
                "high": r.high,
                "n": r.n,
                "threshold": r.threshold,
                "status": r.status,
                "message": r.message,
                "fail_action": r.fail_action,
            }
            for r in results
        ],
        **extra,
    }
