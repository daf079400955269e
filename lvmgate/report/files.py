"""The files a phase run leaves in the report folder: phaseN.json and the plan's phase_N_report.md,
each written atomically."""

from __future__ import annotations

from pathlib import Path

from lvmgate.io import write_json
from lvmgate.report.markdown import render_phase_report, write_phase_report
from lvmgate.report.phase import PhaseRun


def write_phase_reports(run: PhaseRun, report_dir: str | Path) -> None:
    """phaseN.json and phase_N_report.md into `report_dir` (atomically)."""
    report_dir = Path(report_dir)
    write_json(report_dir / f"phase{run.phase}.json", run.summary())
    write_phase_report(report_dir / f"phase_{run.phase}_report.md", render_phase_report(run))
