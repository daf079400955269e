"""The pytest plugin behind `pytest gates/phaseN ...` and `lvmgate gate phaseN`: it only wires
options, fixtures and report hooks; every number comes from `lvmgate` itself.

Options mirror the plan's flags (--store, --dataset, --limit, --data, --val-data, --lvm-model,
--test-set, ...). Fixtures: `gate` (judge a criterion against the policy), `lvm` (the GateContext:
store, dataset, policy, artifacts). At the end of a run that judged criteria, phaseN.json and
phase_N_report.md are written to --report-dir; with pytest-html the report gets the gate table and
plots in its summary.
"""

from __future__ import annotations

import contextlib
import html
import re
import time
import warnings
from collections import defaultdict
from pathlib import Path

import pytest

from lvmgate.artifacts import ARTIFACT_OPTIONS, SOURCES, GateContext, default_artifacts_dir, load_sources
from lvmgate.errors import InputError
from lvmgate.gate import CriterionResult, decide, explain, judge, phase_summary, skipped
from lvmgate.policy import FAIL, WARN

SESSION_KEY = pytest.StashKey["GateSession"]()
JUDGED_KEY = pytest.StashKey[bool]()  # set on a test item once it judged a criterion


class GateWarning(UserWarning):
    """A criterion is undecided or in the plan's warn band."""


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("lvmgate", "lvmgate gates")
    g.addoption("--store", default=None, help="store URL (directory, sqlite:///x.db, postgresql://...)")
    g.addoption("--dataset", default=None, help="dataset name")
    g.addoption("--report-dir", default=None, help="write phaseN.json, phaseN.html, phase_N_report.md here")
    g.addoption("--artifacts-dir", default=None, help="artifact cache (default artifacts/validation)")
    g.addoption("--limit", type=int, default=None, help="sample this many articles (fixed seed); default all")
    g.addoption("--seed", type=int, default=0, help="seed for sampling and bootstrap")
    g.addoption("--recompute", action="store_true", help="recompute artifacts even when the cache is fresh")
    # --strict is pytest's own strict mode; the gates read it too: WARN then counts as failure
    g.addoption("--policy", default=None, help="lvmgate.toml or pyproject.toml with threshold overrides")
    for flag, kind, text in ARTIFACT_OPTIONS:
        g.addoption(flag, type=kind, default=None, help=text)


class GateSession:
    """Criteria judged in this run, grouped by phase, plus what the reports need."""

    def __init__(self, config: pytest.Config):
        from lvmgate.policy import load_policy

        opt = config.getoption
        self.config = config
        self.strict = bool(getattr(config.option, "strict", False))
        self.report_dir = Path(opt("--report-dir")) if opt("--report-dir") else None
        self.started = time.time()
        self.results: dict[int, dict[str, CriterionResult]] = defaultdict(dict)
        self.errors: dict[int, list[str]] = defaultdict(list)  # gate tests that broke before judging
        self.deselected: dict[int, int] = defaultdict(int)  # gate tests left out (-k, -m): no GO then
        self._policy_path = opt("--policy")
        self._ctx: GateContext | None = None
        self._policy = None
        self.load_policy = load_policy

    @property
    def policy(self):
        if self._policy is None:
            with input_guard():
                self._policy = self.load_policy(self._policy_path)
        return self._policy

    @property
    def context(self) -> GateContext:
        if self._ctx is None:
            opt = self.config.getoption
            self._ctx = GateContext(
                store_url=opt("--store"),
                dataset=opt("--dataset"),
                artifacts_dir=Path(opt("--artifacts-dir"))
                if opt("--artifacts-dir")
                else default_artifacts_dir(),
                policy=self.policy,
                limit=opt("--limit"),
                seed=opt("--seed"),
                recompute=bool(opt("--recompute")),
                options={flag[2:].replace("-", "_"): opt(flag) for flag, _, _ in ARTIFACT_OPTIONS},
            )
        return self._ctx

    def record(self, result: CriterionResult) -> None:
        self.results[result.phase or 0][result.id] = result

    def phases(self) -> list[int]:
        return sorted({p for p in self.results if p} | {p for p in self.errors if p})

    def criteria(self, phase: int) -> list[CriterionResult]:
        """In the plan's order (the policy's), then any others by id."""
        order = {cid: i for i, cid in enumerate(self.policy.thresholds)}
        return sorted(
            self.results[phase].values(),
            key=lambda r: (order.get(r.id.split("[", 1)[0], len(order)), _id_key(r.id)),
        )

    def decision(self, phase: int) -> str:
        """STOP on any failure or broken gate test; a partial run is at best WARN."""
        if self.errors[phase]:
            return "STOP"
        decision = decide(self.criteria(phase), strict=self.strict)
        return "WARN" if decision == "GO" and self.deselected[phase] else decision

    def artifacts_for(self, phase: int) -> dict[str, dict]:
        if self._ctx is None:
            return {}
        return {n: a for n, a in self._ctx.loaded().items() if SOURCES[n].phase == phase}

    def findings(self, phase: int) -> list[str]:
        out: list[str] = []
        for name, art in self.artifacts_for(phase).items():
            with contextlib.suppress(Exception):  # a finding must never break the report
                out.extend(SOURCES[name].findings(art.get("result", art)))
        return out


def _id_key(cid: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"[.]", cid)]


@contextlib.contextmanager
def input_guard():
    """Bad input (unknown dataset, no vectors, unreachable store...) ends the run with exit code 2."""
    try:
        yield
    except InputError as exc:
        pytest.exit(f"lvmgate: error: {exc}", returncode=2)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.stash[SESSION_KEY] = GateSession(config)
    config.addinivalue_line("markers", "lvmgate_phase(n): a gate test of phase n")
    report_dir = config.getoption("--report-dir")
    if report_dir and hasattr(config.option, "htmlpath") and not config.option.htmlpath:
        phase = _phase_from_args(config.args)
        if phase is not None:
            config.option.htmlpath = str(Path(report_dir) / f"phase{phase}.html")
            config.option.self_contained_html = True


def _phase_from_args(args: list[str]) -> int | None:
    found = {int(m.group(1)) for a in args for m in [re.search(r"phase(\d+)", str(a))] if m}
    return found.pop() if len(found) == 1 else None


class Gate:
    """The `gate` fixture: judge one criterion, record it, and pass / warn / fail the test."""

    def __init__(self, session: GateSession, node: pytest.Item | None = None):
        self._session = session
        self._node = node

    @property
    def policy(self):
        return self._session.policy

    def check(self, criterion_id: str, value, message: str = "") -> CriterionResult:
        result = judge(self.policy, criterion_id, value, message)
        self._session.record(result)
        if self._node is not None:
            self._node.stash[JUDGED_KEY] = True
        line = explain(result)
        if result.status == FAIL or (result.status == WARN and self._session.strict):
            pytest.fail(line, pytrace=False)
        if result.status == WARN:
            warnings.warn(GateWarning(line), stacklevel=2)
        return result

    def skip(self, criterion_id: str, reason: str, *, record: bool = True) -> None:
        """Skip a criterion. Recorded skips make the phase WARN (something asked for was not
        measured); `record=False` is for criteria that do not apply to this run at all."""
        if record:
            self._session.record(skipped(self.policy, criterion_id, reason))
        pytest.skip(f"{criterion_id}: {reason}")


@pytest.fixture
def gate(request: pytest.FixtureRequest) -> Gate:
    return Gate(request.config.stash[SESSION_KEY], request.node)


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("lvmgate_phase")
        if marker:
            item.config.stash[SESSION_KEY].deselected[int(marker.args[0])] += 1


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A gate test that fails without having judged its criterion is an error: it makes the phase STOP."""
    report = yield
    marker = item.get_closest_marker("lvmgate_phase")
    if marker and report.failed and not item.stash.get(JUDGED_KEY, False):
        gs = item.config.stash[SESSION_KEY]
        reason = call.excinfo.exconly().splitlines()[0] if call.excinfo else "failed"
        gs.errors[int(marker.args[0])].append(f"{item.nodeid}: {reason}")
    return report


@pytest.fixture(scope="session")
def lvm(request: pytest.FixtureRequest) -> GateContext:
    """The run's GateContext; `lvm.artifact(name)` gives an artifact view (bad input exits with 2)."""
    ctx = request.config.stash[SESSION_KEY].context
    yield ctx
    ctx.close()


def artifact_fixture(source):
    """A session fixture named after an artifact source (see lvmgate.artifacts.Source): the artifact's
    result as a View (Estimates for intervals), the whole artifact, or None without `needs`."""

    @pytest.fixture(scope="session", name=source.name)
    def _fixture(lvm: GateContext):
        if source.needs and not lvm.options.get(source.needs):
            return None
        with input_guard():
            art = lvm.artifact(source.name)
        return art if source.whole or "result" not in art else art.result

    _fixture.__doc__ = f"Artifact {source.name!r} (phase {source.phase})."
    return _fixture


for _source in load_sources().values():  # one fixture per artifact source, e.g. `coherence`
    globals()[f"_artifact_{_source.name}"] = artifact_fixture(_source)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    gs: GateSession | None = session.config.stash.get(SESSION_KEY, None)
    if gs is None or not gs.phases() or gs.report_dir is None:
        return
    write_reports(gs)


def write_reports(gs: GateSession) -> None:
    from lvmgate.io import write_json
    from lvmgate.report.markdown import render_phase_report, write_phase_report

    duration = time.time() - gs.started
    ctx = gs._ctx
    for phase in gs.phases():
        criteria = gs.criteria(phase)
        decision = gs.decision(phase)
        arts = gs.artifacts_for(phase)
        provenance = {n: a.get("provenance") for n, a in arts.items()}
        summary = phase_summary(
            phase,
            criteria,
            strict=gs.strict,
            dataset=ctx.dataset if ctx else None,
            store=_safe(ctx.store_url) if ctx else None,
            policy_digest=gs.policy.digest,
            duration_s=round(duration, 3),
            artifacts=provenance,
            findings=gs.findings(phase),
            errors=gs.errors[phase],
            deselected=gs.deselected[phase],
        )
        summary["decision"] = decision
        write_json(gs.report_dir / f"phase{phase}.json", summary)
        text = render_phase_report(
            phase,
            decision,
            criteria,
            findings=gs.findings(phase)
            + [f"ERROR (no verdict): {e}" for e in gs.errors[phase]]
            + (
                [f"Partial run: {gs.deselected[phase]} gate tests deselected"] if gs.deselected[phase] else []
            ),
            data=_data_line(arts, ctx),
            duration_s=duration,
            store=_safe(ctx.store_url) if ctx and ctx.store_url else "",
            policy_digest=gs.policy.digest,
        )
        write_phase_report(gs.report_dir / f"phase_{phase}_report.md", text)


def _safe(url: str | None) -> str | None:
    from lvmgate.validation import _safe_url

    return _safe_url(url) if url else url


def _data_line(arts: dict[str, dict], ctx: GateContext | None) -> str:
    for art in arts.values():
        r = art.get("result", {})
        if "n_articles" in r and ("n_chunks" in r):
            return f"{r['n_articles']:,} articles, {r['n_chunks']:,} chunks ({ctx.dataset if ctx else ''})"
    return ctx.dataset if ctx and ctx.dataset else "n/a"


# -- pytest-html ---------------------------------------------------------------------------------
@pytest.hookimpl(optionalhook=True)
def pytest_html_report_title(report) -> None:
    report.title = "lvmgate go/no-go gate report"


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix, summary, postfix, session) -> None:
    gs: GateSession | None = session.config.stash.get(SESSION_KEY, None)
    if gs is None or not gs.phases():
        return
    prefix.append(gate_tables_html(gs))


def gate_tables_html(gs: GateSession) -> str:
    from lvmgate.report.plots import PLOTS, data_uri

    colors = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e", "skip": "#57606a"}
    parts = ["<div class='lvmgate'>"]
    for phase in gs.phases():
        criteria = gs.criteria(phase)
        decision = gs.decision(phase)
        dcolor = {"GO": colors["pass"], "WARN": colors["warn"], "STOP": colors["fail"]}[decision]
        parts.append(f"<h2>Phase {phase}: <span style='color:{dcolor}'>{decision}</span></h2>")
        parts.append(
            "<table class='lvmgate-gates' style='border-collapse:collapse'><tr>"
            + "".join(
                f"<th style='text-align:left;padding:2px 8px'>{h}</th>"
                for h in ("criterion", "threshold", "value [95% CI]", "status", "action")
            )
            + "</tr>"
        )
        for c in criteria:
            cells = (
                f"<code>{html.escape(c.id)}</code> {html.escape(c.title)}",
                html.escape(c.threshold),
                html.escape(c.value_text()),
                f"<b style='color:{colors[c.status]}'>{c.status.upper()}</b>",
                html.escape(c.fail_action if c.status in ("fail", "warn") else c.message),
            )
            parts.append("<tr>" + "".join(f"<td style='padding:2px 8px'>{x}</td>" for x in cells) + "</tr>")
        parts.append("</table>")
        findings = gs.findings(phase)
        if findings:
            parts.append(
                "<h3>Key findings</h3><ul>"
                + "".join(f"<li>{html.escape(f)}</li>" for f in findings)
                + "</ul>"
            )
        for name, art in gs.artifacts_for(phase).items():
            result = art.get("result", art)
            for key in SOURCES[name].plots:
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
