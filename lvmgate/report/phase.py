"""One phase's run as the reports see it (`PhaseRun`) and its phaseN.json body. Its other renderings:
lvmgate.report.markdown (the plan's phase_N_report.md), lvmgate.report.html (the block pytest-html
puts above its results table); lvmgate.report.files writes them.

Every rendering lists the criteria that were not measured and those that do not apply, with their
reasons, and the thresholds that differ from the plan's: a verdict never hides what it did not see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lvmgate.criteria import NOT_APPLICABLE, NOT_MEASURED, Criterion
from lvmgate.gate import phase_summary


@dataclass
class PhaseRun:
    """What one gate run of one phase found (built by the pytest plugin)."""

    phase: int
    decision: str
    criteria: list[Criterion]
    strict: bool = False
    findings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # gate tests that broke before judging
    unjudged: list[str] = field(default_factory=list)  # registry ids no gate test judged (partial run)
    deselected: int = 0
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> artifact dict
    plots: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> plot keys
    policy_digest: str = ""
    policy_changes: list[str] = field(default_factory=list)
    dataset: str | None = None
    store: str | None = None
    duration_s: float = 0.0

    @property
    def not_measured(self) -> list[Criterion]:
        return [c for c in self.criteria if c.status == NOT_MEASURED]

    @property
    def not_applicable(self) -> list[Criterion]:
        return [c for c in self.criteria if c.status == NOT_APPLICABLE]

    @staticmethod
    def grouped(items: list[Criterion]) -> list[tuple[list[str], str]]:
        """[(ids, reason)] with criteria that share a reason together, in order."""
        out: dict[str, list[str]] = {}
        for c in items:
            out.setdefault(c.reason, []).append(c.id)
        return [(ids, why) for why, ids in out.items()]

    def notes(self) -> list[str]:
        """Lines that qualify the verdict: broken tests, partial runs, a lowered policy."""
        out = [f"ERROR (no verdict): {e}" for e in self.errors]
        if self.deselected:
            out.append(f"Partial run: {self.deselected} gate tests deselected")
        if self.unjudged:
            out.append(f"Not judged in this run ({len(self.unjudged)}): {', '.join(self.unjudged)}")
        if self.policy_changes:
            out.append("Policy differs from the plan's thresholds: " + "; ".join(self.policy_changes))
        return out

    def data_line(self) -> str:
        for art in self.artifacts.values():
            r = art.get("result", {})
            if isinstance(r, dict) and "n_articles" in r and "n_chunks" in r:
                return f"{r['n_articles']:,} articles, {r['n_chunks']:,} chunks ({self.dataset or ''})"
        return self.dataset or "n/a"

    def summary(self) -> dict[str, Any]:
        """The phaseN.json body."""
        body = phase_summary(
            self.phase,
            self.criteria,
            strict=self.strict,
            dataset=self.dataset,
            store=self.store,
            policy_digest=self.policy_digest,
            policy_changes=self.policy_changes,
            duration_s=round(self.duration_s, 3),
            artifacts={n: a.get("provenance") for n, a in self.artifacts.items()},
            facts={n: a["facts"] for n, a in self.artifacts.items() if a.get("facts")},
            findings=self.findings,
            errors=self.errors,
            unjudged=self.unjudged,
            deselected=self.deselected,
        )
        body["decision"] = self.decision
        return body
