"""`lvmgate gate phaseN --store URL --dataset NAME --report-dir DIR [-- PYTEST_ARGS]`: run one phase's
gates with pytest and write phaseN.json, phaseN.html and phase_N_report.md.

Exit codes: 0 GO or WARN, 1 STOP, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from lvmgate.artifacts import ARTIFACT_OPTIONS
from lvmgate.cli._common import add_store_args
from lvmgate.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("gate", help="run a phase's go/no-go gates (pytest) and write the reports")
    p.add_argument("phase", help="phase1 | phase2 | phase3 | phase4")
    add_store_args(p, dataset_required=False)
    p.add_argument("--report-dir", default="reports", help="where reports go (default reports/)")
    p.add_argument("--artifacts-dir", default=None, help="artifact cache (default artifacts/validation)")
    p.add_argument("--limit", type=int, default=None, help="sample this many articles (fixed seed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--recompute", action="store_true", help="ignore cached artifacts")
    p.add_argument("--strict", action="store_true", help="WARN counts as STOP")
    p.add_argument(
        "--no-html",
        action="store_true",
        help="write phaseN.json and phase_N_report.md only, no HTML report with plots (about 3 s faster)",
    )
    p.add_argument("--policy", default=None, help="lvmgate.toml / pyproject.toml with threshold overrides")
    for flag, kind, text in ARTIFACT_OPTIONS:  # the same artifact options as `pytest gates/...`
        p.add_argument(flag, type=kind, default=None, help=text)
    p.set_defaults(func=run, accepts_passthrough=True)
    p.epilog = "Arguments after -- are passed to pytest."


def gates_dir() -> Path:
    """The gates folder: $LVMGATE_GATES_DIR, the checkout's gates/, or the copy shipped in the wheel."""
    import lvmgate

    env = os.environ.get("LVMGATE_GATES_DIR")
    candidates = [Path(env)] if env else []
    pkg = Path(lvmgate.__file__).resolve().parent
    candidates += [pkg.parent / "gates", pkg / "_gates"]
    for c in candidates:
        if c.is_dir():
            return c
    raise InputError("cannot find the gates folder; set LVMGATE_GATES_DIR")


def run(args: argparse.Namespace) -> int:
    import pytest

    phase = args.phase.removeprefix("phase")
    folder = gates_dir() / f"phase{phase}"
    if not phase.isdigit() or not folder.is_dir():
        known = sorted(p.name for p in gates_dir().glob("phase*") if p.is_dir())
        raise InputError(f"unknown phase {args.phase!r} (known: {', '.join(known)})")
    if args.dataset:  # fail fast, with one line, on a bad store or dataset
        from lvmgate.stores import open_store

        with open_store(args.store) as store:
            store.require(args.dataset)
    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    for stale in (f"phase{phase}.json", f"phase_{phase}_report.md"):
        (report_dir / stale).unlink(missing_ok=True)
    argv = [
        str(folder),
        "-p",
        "no:cacheprovider",
        "-p",
        "no:hypothesispytest",  # the gates use no hypothesis; skip its 1.5 s import
        "-q",
        "--no-header",
        "-rfEw",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        f"--report-dir={report_dir}",
        f"--seed={args.seed}",
    ]
    names = ["store", "dataset", "artifacts_dir", "limit", "policy"]
    names += [flag[2:].replace("-", "_") for flag, _, _ in ARTIFACT_OPTIONS]
    for name in names:
        value = getattr(args, name)
        if value is not None:
            argv.append(f"--{name.replace('_', '-')}={value}")
    if args.no_html:  # pytest-html off: no plots to draw (matplotlib), the JSON and markdown stay
        argv += ["-p", "no:html"]
        (report_dir / f"phase{phase}.html").unlink(missing_ok=True)
    else:
        argv += [f"--html={report_dir / f'phase{phase}.html'}", "--self-contained-html"]
    argv += ["--recompute"] if args.recompute else []
    argv += ["--strict"] if args.strict else []
    code = int(pytest.main(argv + args.passthrough))
    summary_path = report_dir / f"phase{phase}.json"
    if code in (2, 4, 5) or not summary_path.is_file():
        return 2
    summary = json.loads(summary_path.read_text())
    crit = summary["criteria"]
    if crit and not summary.get("errors") and all(c.get("state") != "measured" for c in crit):
        # nothing to judge is a usage error, not a WARN: say what the phase needs
        reasons = list(dict.fromkeys((summary.get("not_measured") or {}).values()))
        raise InputError(f"phase {phase}: nothing was measured ({'; '.join(reasons) or 'no criteria apply'})")
    counts = {s: sum(c["status"] == s for c in crit) for s in ("pass", "warn", "fail")}
    counts.update({s: sum(c.get("state") == s for c in crit) for s in ("not_measured", "not_applicable")})
    print(
        f"Phase {phase}: {summary['decision']} ({counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail, "
        f"{counts['not_measured']} not measured, {counts['not_applicable']} not applicable); "
        f"reports in {report_dir}/"
    )
    by_reason: dict[str, list[str]] = {}
    for cid, why in (summary.get("not_measured") or {}).items():
        by_reason.setdefault(why, []).append(cid)
    for why, ids in by_reason.items():
        print(f"  not measured: {', '.join(ids)}: {why}")
    return 1 if summary["decision"] == "STOP" else 0
