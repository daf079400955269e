"""The plan's phase report (artifacts/reports/phase_N_report.md), rendered with jinja2."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import jinja2

from lvmgate import __version__
from lvmgate.gate import GO, NEXT_ON_GO, STOP, CriterionResult
from lvmgate.io import atomic_open

TITLES = {
    1: "Data Quality Validation",
    2: "Early Training Experiment",
    3: "Mid-Scale Training",
    4: "Full-Scale Production Training",
}
MARKS = {"pass": "✅", "warn": "⚠️", "fail": "❌", "skip": "⏭️"}
DECISION_MARKS = {"GO": "✅", "WARN": "⚠️", "STOP": "❌"}


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        keep_trailing_newline=True,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
    )


def render_phase_report(
    phase: int,
    decision: str,
    criteria: list[CriterionResult],
    *,
    findings: list[str],
    data: str,
    duration_s: float,
    store: str = "",
    policy_digest: str = "",
) -> str:
    failed = [c for c in criteria if c.status == "fail"]
    warned = [c for c in criteria if c.status in ("warn", "skip")]
    if decision == STOP:
        rationale = "failed: " + (
            "; ".join(f"`{c.id}` {c.value_text()} vs {c.threshold}" for c in failed)
            or "gate tests broke before reaching a verdict (see findings)"
        )
        next_steps = list(dict.fromkeys(c.fail_action for c in failed if c.fail_action)) or [
            "Investigate failures"
        ]
        next_steps.append("DO NOT PROCEED until the failing criteria pass")
    elif decision == GO:
        rationale = f"all {len(criteria)} criteria pass with their 95% intervals on the pass side."
        next_steps = NEXT_ON_GO.get(phase, [])
    elif not warned:
        rationale = "every criterion that ran passed, but the run was partial (gate tests deselected)."
        next_steps = ["Run the whole phase before deciding"]
    else:
        rationale = "no criterion failed, but these are undecided, in a warn band or skipped: " + "; ".join(
            f"`{c.id}` {c.value_text()} vs {c.threshold}" + (f" ({c.message})" if c.status == "skip" else "")
            for c in warned
        )
        next_steps = [c.fail_action or f"Re-check {c.id} on a larger sample" for c in warned]
        if not any(c.id.startswith("final.") for c in warned):  # an undecided final verdict is no "ship it"
            next_steps += NEXT_ON_GO.get(phase, [])
    summary = (
        f"{len(criteria)} criteria: {sum(c.status == 'pass' for c in criteria)} pass, "
        f"{sum(c.status == 'warn' for c in criteria)} warn, {len(failed)} fail, "
        f"{sum(c.status == 'skip' for c in criteria)} skipped. Decision: {decision}."
    )
    rows = [
        {
            "id": c.id,
            "title": c.title,
            "threshold": c.threshold,
            "actual": c.value_text(),
            "mark": MARKS[c.status],
        }
        for c in criteria
    ]
    return (
        _env()
        .get_template("phase_report.md.j2")
        .render(
            phase=phase,
            title=TITLES.get(phase, f"Phase {phase}"),
            date=_dt.date.today().isoformat(),
            data=data,
            duration=f"{duration_s:.1f} s",
            summary=summary,
            criteria=rows,
            findings=findings,
            decision=decision,
            decision_mark=DECISION_MARKS[decision],
            rationale=rationale,
            next_steps=list(dict.fromkeys(next_steps)),
            version=__version__,
            policy_digest=policy_digest,
            store=store,
        )
    )


def write_phase_report(path: str | Path, text: str) -> Path:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)
