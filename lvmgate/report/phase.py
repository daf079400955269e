"""One phase's run as the reports see it (`PhaseRun`), and its three renderings: phaseN.json, the
plan's phase_N_report.md and the HTML block pytest-html puts above its results table.

Every rendering lists the criteria that were not measured and those that do not apply, with their
reasons, and the thresholds that differ from the plan's: a verdict never hides what it did not see.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
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


def write_phase_reports(run: PhaseRun, report_dir: str | Path) -> None:
    """phaseN.json and phase_N_report.md into `report_dir` (atomically)."""
    from lvmgate.io import write_json
    from lvmgate.report.markdown import render_phase_report, write_phase_report

    report_dir = Path(report_dir)
    write_json(report_dir / f"phase{run.phase}.json", run.summary())
    write_phase_report(report_dir / f"phase_{run.phase}_report.md", render_phase_report(run))


COLORS = {
    "pass": "#1a7f37",
    "warn": "#9a6700",
    "fail": "#cf222e",
    NOT_MEASURED: "#8250df",
    NOT_APPLICABLE: "#57606a",
}


def gate_tables_html(runs: list[PhaseRun]) -> str:
    """The gate table, the not-measured list, findings and plots of each phase, as one HTML block."""
    from lvmgate.report.plots import PLOTS, data_uri

    parts = ["<div class='lvmgate'>"]
    for run in runs:
        dcolor = {"GO": COLORS["pass"], "WARN": COLORS["warn"], "STOP": COLORS["fail"]}[run.decision]
        parts.append(f"<h2>Phase {run.phase}: <span style='color:{dcolor}'>{run.decision}</span></h2>")
        parts.append(
            "<table class='lvmgate-gates' style='border-collapse:collapse'><tr>"
            + "".join(
                f"<th style='text-align:left;padding:2px 8px'>{h}</th>"
                for h in ("criterion", "threshold", "value [95% CI]", "status", "action / reason")
            )
            + "</tr>"
        )
        for c in run.criteria:
            cells = (
                f"<code>{html.escape(c.id)}</code> {html.escape(c.title)}",
                html.escape(c.threshold),
                html.escape(c.value_text()),
                f"<b style='color:{COLORS[c.status]}'>{c.status.replace('_', ' ').upper()}</b>",
                html.escape(c.fail_action if c.status in ("fail", "warn") else c.reason),
            )
            parts.append("<tr>" + "".join(f"<td style='padding:2px 8px'>{x}</td>" for x in cells) + "</tr>")
        parts.append("</table>")
        for title, items in (("Not measured", run.not_measured), ("Not applicable", run.not_applicable)):
            if items:
                parts.append(
                    f"<h3>{title}</h3><ul>"
                    + "".join(
                        f"<li><code>{html.escape(c.id)}</code>: {html.escape(c.reason)}</li>" for c in items
                    )
                    + "</ul>"
                )
        lines = run.notes() + run.findings
        if lines:
            parts.append(
                "<h3>Key findings</h3><ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in lines) + "</ul>"
            )
        for name, art in run.artifacts.items():
            result = art.get("result", art)
            for key in run.plots.get(name, ()):
                for title, fn in PLOTS.get(key, []):
                    try:
                        uri = data_uri(fn(result))
                    except Exception as exc:  # a broken plot must not hide the verdict
                        parts.append(f"<p>plot {html.escape(title)} failed: {html.escape(str(exc))}</p>")
                        continue
                    parts.append(
                        f"<figure style='display:inline-block;margin:4px'><img alt='{html.escape(title)}' "
                        f"src='{uri}'/><figcaption>{html.escape(title)}</figcaption></figure>"
                    )
    parts.append("</div>")
    return "".join(parts)
