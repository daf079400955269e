"""`lvmgate status`: the plan's Progress Tracking checklist, each box ticked from the latest phase
reports (reports/phaseN.json), with the values that ticked it or what is missing.

A box is ticked only when every criterion of its plan sections (the registry's ids, variants
included) is in the report, was measured and passed, and the box's own words hold: "Vec2text
baseline" needs the vec2text backends' BLEU (nearest's round trip is not it), "Small Mamba model"
needs a run of the small preset, "12 experiments" needs 12 completed grid runs. A cross means a
criterion failed; a warning sign that one warned, was not measured, is missing from the report, or
the box's words do not hold; an empty box that nothing of it was measured yet; a dash that it does
not apply to this input (e.g. analogies in a hashing encoder's space).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lvmgate.policy import criterion_ids
from lvmgate.results import Result

Facts = dict[str, dict[str, Any]]


def _preset(artifact: str, want: str) -> Callable[[Facts], str | None]:
    def check(facts: Facts) -> str | None:
        f = facts.get(artifact) or {}
        got = f.get("preset")
        if got == want:
            return None
        return f"needs a run of the {want} preset; this one is {got or 'unknown'}" + (
            f" ({f['parameters']:,} parameters)" if f.get("parameters") else ""
        )

    return check


def _grid_runs(n: int) -> Callable[[Facts], str | None]:
    def check(facts: Facts) -> str | None:
        done = (facts.get("grid_search") or {}).get("n_completed")
        return (
            None
            if done is not None and done >= n
            else f"needs {n} completed grid runs; {done or 0} completed"
        )

    return check


@dataclass(frozen=True)
class Item:
    """One line of the plan's checklist: the criteria behind it and what else its words require."""

    phase: int
    text: str
    ids: tuple[str, ...]
    require: Callable[[Facts], str | None] | None = None


def _ids(*sections: str) -> tuple[str, ...]:
    return tuple(cid for s in sections for cid in criterion_ids(s))


CHECKLIST: tuple[Item, ...] = (
    Item(1, "Sequential coherence test (Target: ≥0.3)", _ids("1.1")),
    Item(1, "TMD distribution check (Target: <50% in one domain)", _ids("1.2")),
    Item(1, "Chunk boundary analysis (Target: ≥70% clean)", _ids("1.3")),
    Item(1, "Vec2text baseline (Target: BLEU ≥0.15)", _ids("1.4")),
    Item(2, "Training data prepared", _ids("2.1")),
    Item(2, "Small Mamba model trained (130M params)", _ids("2.2"), _preset("training", "small")),
    Item(2, "Reconstruction test (Target: ≥ baseline)", _ids("2.3")),
    Item(2, "Vector arithmetic test (Target: ≥50% top-3)", _ids("2.4")),
    Item(3, "Hyperparameter grid search (12 experiments)", _ids("3.1"), _grid_runs(12)),
    Item(3, "Benchmark suite (Target: +5% recall)", _ids("3.2")),
    Item(3, "Error analysis completed", _ids("3.3")),
    Item(3, "Best config identified", ("3.1.best_margin_copy_last", "3.1.best_margin_context_mean")),
    Item(4, "Full dataset prepared with augmentation", _ids("4.1")),
    Item(4, "Large model trained (760M params)", _ids("4.2"), _preset("production_training", "large")),
    Item(4, "Final benchmarks (Target: R@10 > 0.85)", _ids("4.3")),
    Item(4, "Deployment readiness verified", _ids("4.4")),
)
MARK = {"done": "[x]", "fail": "[✗]", "warn": "[!]", "todo": "[ ]", "na": "[-]"}


@dataclass(frozen=True)
class Box(Result):
    phase: int
    item: str
    state: str  # done / fail / warn / todo / na
    evidence: str  # the values that ticked it, or what blocks it


def _value(c: dict) -> str:
    v = c.get("value")
    if c.get("state", "measured") != "measured":
        return c["state"].replace("_", " ")
    if v is None or v != v:
        return "n/a"
    return f"{v:.3g}"


def _read(report_dir: Path) -> dict[int, dict]:
    out = {}
    for phase in (1, 2, 3, 4):
        path = report_dir / f"phase{phase}.json"
        if path.is_file():
            try:
                out[phase] = json.loads(path.read_text())
            except json.JSONDecodeError:
                out[phase] = {}
    return out


def box(item: Item, report: dict | None) -> Box:
    """The state of one checklist item from its phase's report (None: no report)."""
    if not report:
        return Box(item.phase, item.text, "todo", "")
    rows = {c["id"]: c for c in report.get("criteria", [])}
    present = [rows[cid] for cid in item.ids if cid in rows]
    absent = [cid for cid in item.ids if cid not in rows]
    state_of = {c["id"]: c.get("state", "measured") for c in present}
    measured = [c for c in present if state_of[c["id"]] == "measured"]
    if not measured:
        if present and all(s == "not_applicable" for s in state_of.values()):
            return Box(item.phase, item.text, "na", f"not applicable: {present[0].get('reason', '')}")
        return Box(item.phase, item.text, "todo", "not measured yet" if present else "")
    failed = [c for c in measured if c["status"] == "fail"]
    blockers = [f"{c['id']} {_value(c)} ({c['status']})" for c in failed]
    blockers += [f"{c['id']} {_value(c)} (warn)" for c in measured if c["status"] == "warn"]
    blockers += [f"{c['id']} not measured" for c in present if state_of[c["id"]] == "not_measured"]
    blockers += [f"{cid} not in the report" for cid in absent]
    if item.require is not None:
        why = item.require(report.get("facts") or {})
        if why:
            blockers.append(why)
    if failed:
        state = "fail"
    elif blockers:
        state = "warn"
    else:
        state = "done"
    shown = blockers or [f"{c['id']} {_value(c)}" for c in measured]
    evidence = "; ".join(shown[:3]) + (f"; +{len(shown) - 3} more" if len(shown) > 3 else "")
    return Box(item.phase, item.text, state, evidence)


def checklist(report_dir: str | Path) -> list[Box]:
    """Boxes of the plan's checklist from the phase reports found in `report_dir`."""
    reports = _read(Path(report_dir))
    return [box(item, reports.get(item.phase)) for item in CHECKLIST]


def final_statement(report_dir: str | Path) -> str | None:
    """The final verdict's statement from phase4.json's final.* criteria, if phase 4 was gated."""
    report = _read(Path(report_dir)).get(4)
    if not report:
        return None
    rows = [c for c in report.get("criteria", []) if c["id"].startswith("final.")]
    if not rows:
        return None
    if all(c["status"] == "pass" for c in rows) and len(rows) == len(criterion_ids("final")):
        return "Final verdict: production-ready (all five success criteria measured and passed)"
    not_met = [f"{c['id']} {_value(c)}" for c in rows if c["status"] != "pass"]
    return "Final verdict: NOT production-ready; ship the vec2text baseline instead. Not met: " + "; ".join(
        not_met
    )


def register(sub) -> None:
    p = sub.add_parser("status", help="the plan's progress checklist, ticked from the latest phase reports")
    p.add_argument("--report-dir", default="reports", help="where phaseN.json reports are (default reports/)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    boxes = checklist(args.report_dir)
    if args.json:
        print(json.dumps([b.to_dict() for b in boxes], indent=2))
        return 0
    titles = {
        1: "Data Validation",
        2: "Early Training (100k articles)",
        3: "Mid-Scale Training (250k articles)",
        4: "Production Training (500k articles)",
    }
    for phase in (1, 2, 3, 4):
        print(f"Phase {phase}: {titles[phase]}")
        for b in (b for b in boxes if b.phase == phase):
            print(f"  {MARK[b.state]} {b.item}" + (f"  <- {b.evidence}" if b.evidence else ""))
    statement = final_statement(args.report_dir)
    if statement:
        print(statement)
    return 0
