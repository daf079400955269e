"""`lvmgate status`: the plan's Progress Tracking checklist, each box ticked from the latest phase
reports (reports/phaseN.json), with the value that ticked it.

A box is ticked only when every criterion behind it passed; it shows a cross when one failed, a
warning sign when one warned or was skipped, and stays empty when none has been measured yet.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from lvmgate.results import Result

# (phase, checklist line as in the plan, criterion id prefixes that tick it)
CHECKLIST: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "Sequential coherence test (Target: ≥0.3)", ("1.1.",)),
    (1, "TMD distribution check (Target: <50% in one domain)", ("1.2.",)),
    (1, "Chunk boundary analysis (Target: ≥70% clean)", ("1.3.",)),
    (1, "Vec2text baseline (Target: BLEU ≥0.15)", ("1.4.",)),
    (2, "Training data prepared", ("2.1.",)),
    (2, "Small Mamba model trained (130M params)", ("2.2.",)),
    (2, "Reconstruction test (Target: ≥ baseline)", ("2.3.",)),
    (2, "Vector arithmetic test (Target: ≥50% top-3)", ("2.4.",)),
    (3, "Hyperparameter grid search (12 experiments)", ("3.1.",)),
    (3, "Benchmark suite (Target: +5% recall)", ("3.2.",)),
    (3, "Error analysis completed", ("3.3.",)),
    (3, "Best config identified", ("3.1.best",)),
    (4, "Full dataset prepared with augmentation", ("4.1.",)),
    (4, "Large model trained (760M params)", ("4.2.",)),
    (4, "Final benchmarks (Target: R@10 > 0.85)", ("4.3.",)),
    (4, "Deployment readiness verified", ("4.4.", "final.")),
)
MARK = {"done": "[x]", "fail": "[✗]", "warn": "[!]", "todo": "[ ]"}


@dataclass(frozen=True)
class Box(Result):
    phase: int
    item: str
    state: str  # done / fail / warn / todo
    evidence: str  # the values that ticked (or blocked) it


def checklist(report_dir: str | Path) -> list[Box]:
    """Boxes of the plan's checklist from the phase reports found in `report_dir`."""
    criteria: dict[int, list[dict]] = {}
    for phase in (1, 2, 3, 4):
        path = Path(report_dir) / f"phase{phase}.json"
        if path.is_file():
            try:
                criteria[phase] = json.loads(path.read_text()).get("criteria", [])
            except json.JSONDecodeError:
                criteria[phase] = []
    boxes = []
    for phase, item, prefixes in CHECKLIST:
        rows = [c for c in criteria.get(phase, []) if c["id"].startswith(prefixes)]
        statuses = {c["status"] for c in rows}
        if not rows:
            state = "todo"
        elif "fail" in statuses:
            state = "fail"
        elif statuses - {"pass"}:
            state = "warn"
        else:
            state = "done"
        shown = [c for c in rows if c["status"] != "pass"] or rows
        evidence = "; ".join(f"{c['id']} {_value(c)} ({c['status']})" for c in shown[:3])
        if len(shown) > 3:
            evidence += f"; +{len(shown) - 3} more"
        boxes.append(Box(phase, item, state, evidence))
    return boxes


def _value(c: dict) -> str:
    v = c.get("value")
    if v is None or v != v:
        return "n/a"
    return f"{v:.3g}"


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
    return 0
