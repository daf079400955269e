"""The plan's phase report (artifacts/reports/phase_N_report.md), rendered with jinja2."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import jinja2

from lvmgate import __version__
from lvmgate.criteria import Criterion as CriterionT
from lvmgate.gate import GO, NEXT_ON_GO, STOP
from lvmgate.io import atomic_open
from lvmgate.report.phase import PhaseRun

TITLES = {
    1: "Data Quality Validation",
    2: "Early Training Experiment",
    3: "Mid-Scale Training",
    4: "Full-Scale Production Training",
}
MARKS = {
    "pass": "✅",
    "warn": "⚠️",
    "fail": "❌",
    "not_measured": "❔ not measured",
    "not_applicable": "➖ n/a",
}
DECISION_MARKS = {"GO": "✅", "WARN": "⚠️", "STOP": "❌"}


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        keep_trailing_newline=True,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
    )


def render_phase_report(run: PhaseRun) -> str:
    """The plan's report template for one phase run (metrics, findings, decision, next steps)."""
    criteria, decision, phase = run.criteria, run.decision, run.phase
    failed = [c for c in criteria if c.status == "fail"]
    warned = [c for c in criteria if c.status == "warn"]
    unmeasured = run.not_measured
    if decision == STOP:
        rationale = "failed: " + (
            "; ".join(f"`{c.id}` {c.value_text()} vs {c.threshold}" + _why(c) for c in failed)
            or "gate tests broke before reaching a verdict, or --strict turned WARN into STOP (see findings)"
        )
        next_steps = list(dict.fromkeys(c.fail_action for c in failed if c.fail_action)) or [
            "Investigate failures"
        ]
        next_steps += _measure_steps(run)
        next_steps.append("DO NOT PROCEED until the failing criteria pass")
    elif decision == GO:
        rationale = (
            f"all {len(criteria)} criteria measured pass with their 95% intervals on the pass side"
            + (f" ({len(run.not_applicable)} do not apply to this input)." if run.not_applicable else ".")
        )
        next_steps = NEXT_ON_GO.get(phase, [])
    elif not warned and not unmeasured:
        rationale = "every criterion that ran passed, but the run was partial (see findings)."
        next_steps = ["Run the whole phase before deciding"]
    else:
        bits = [f"`{c.id}` {c.value_text()} vs {c.threshold}" for c in warned]
        if unmeasured:
            bits.append("not measured: " + ", ".join(f"`{c.id}`" for c in unmeasured) + " (see Not Measured)")
        rationale = (
            "no criterion failed, but these are undecided, in a warn band or not measured: " + "; ".join(bits)
        )
        next_steps = [
            c.fail_action if c.fail_action and "would decide" not in c.reason else _resample(c)
            for c in warned
        ]
        next_steps += _measure_steps(run)
        if not any(c.id.startswith("final.") for c in [*warned, *unmeasured]):  # no "ship it" undecided
            next_steps += NEXT_ON_GO.get(phase, [])
    summary = (
        f"{len(criteria)} criteria: {sum(c.status == 'pass' for c in criteria)} pass, {len(warned)} warn, "
        f"{len(failed)} fail, {len(unmeasured)} not measured, {len(run.not_applicable)} not applicable. "
        f"Decision: {decision}."
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
            data=run.data_line(),
            duration=f"{run.duration_s:.1f} s",
            summary=summary,
            criteria=rows,
            not_measured=[(", ".join(f"`{i}`" for i in ids), why) for ids, why in run.grouped(unmeasured)],
            not_applicable=[
                (", ".join(f"`{i}`" for i in ids), why) for ids, why in run.grouped(run.not_applicable)
            ],
            findings=run.notes() + run.findings,
            decision=decision,
            decision_mark=DECISION_MARKS[decision],
            rationale=rationale,
            next_steps=list(dict.fromkeys(next_steps)),
            version=__version__,
            policy_digest=run.policy_digest,
            store=run.store or "",
        )
    )


def _why(c: CriterionT, limit: int = 400) -> str:
    """' (reason)' for a failed criterion, shortened: what was seen (e.g. the shared article ids)."""
    if not c.reason:
        return ""
    text = c.reason if len(c.reason) <= limit else c.reason[: limit - 1] + "…"
    return f" ({text})"


def _measure_steps(run: PhaseRun) -> list[str]:
    return [
        f"Measure {', '.join(f'`{i}`' for i in ids)}: {why}" for ids, why in run.grouped(run.not_measured)
    ]


def _resample(c: CriterionT) -> str:
    """Next step for an undecided criterion: how much data its reason says would decide it."""
    if "would decide" in c.reason:
        return f"Re-check `{c.id}` on more data: {c.reason.rsplit('. ', 1)[-1]}"
    return f"Re-check `{c.id}` on a larger sample"


def write_phase_report(path: str | Path, text: str) -> Path:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)
