"""The gate tables, not-measured lists, findings and plots of a gate run, as one HTML block that the
pytest plugin puts above pytest-html's results table."""

from __future__ import annotations

import html

from lvmgate.criteria import NOT_APPLICABLE, NOT_MEASURED
from lvmgate.report.phase import PhaseRun

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
