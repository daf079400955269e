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
import re
import time
import warnings
from collections import defaultdict
from pathlib import Path

import pytest

from lvmgate import sources
from lvmgate.artifacts import (
    ARTIFACT_OPTIONS,
    SOURCES,
    ArtifactView,
    GateContext,
    Source,
    default_artifacts_dir,
)
from lvmgate.criteria import FAIL, NOT_APPLICABLE, NOT_MEASURED, WARN, Criterion
from lvmgate.errors import InputError
from lvmgate.gate import decide, explain
from lvmgate.policy import criterion_ids, sections

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
        self.results: dict[int, dict[str, Criterion]] = defaultdict(dict)
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

    def record(self, result: Criterion) -> None:
        self.results[result.phase or 0][result.id] = result

    def phases(self) -> list[int]:
        return sorted({p for p in self.results if p} | {p for p in self.errors if p})

    def criteria(self, phase: int) -> list[Criterion]:
        """In the plan's order (the policy's), then any others by id."""
        order = {cid: i for i, cid in enumerate(self.policy.thresholds)}
        return sorted(
            self.results[phase].values(),
            key=lambda r: (order.get(r.id.split("[", 1)[0], len(order)), _id_key(r.id)),
        )

    def unjudged(self, phase: int) -> list[str]:
        """Registry ids of this phase that no gate test judged in this run (deselected, or a partial
        run of the phase's files): the phase cannot be GO without them."""
        judged = self.results[phase]
        ids = [cid for s in sections() for cid in criterion_ids(s) if _phase_of(cid) == phase]
        return [cid for cid in ids if cid not in judged]

    def decision(self, phase: int) -> str:
        """STOP on any failure or broken gate test; a partial run is at best WARN."""
        if self.errors[phase]:
            return "STOP"
        decision = decide(self.criteria(phase), strict=self.strict)
        if decision == "GO" and (self.deselected[phase] or self.unjudged(phase)):
            return "STOP" if self.strict else "WARN"
        return decision

    def artifacts_for(self, phase: int) -> dict[str, dict]:
        if self._ctx is None:
            return {}
        return {n: a for n, a in self._ctx.loaded().items() if SOURCES[n].phase == phase}

    def findings(self, phase: int) -> list[str]:
        out: list[str] = []
        for name, art in self.artifacts_for(phase).items():
            if art.get("not_measured"):
                out.append(f"{name}: not measured ({art['not_measured']}).")
                continue
            with contextlib.suppress(Exception):  # a finding must never break the report
                out.extend(SOURCES[name].findings(art.get("result", art)))
            steps = (art.get("sampling") or {}).get("steps") or []
            if len(steps) > 1:
                out.append(
                    f"{name}: sampled sequentially until decided: "
                    + " -> ".join(
                        f"{st['articles']:,} articles ({len(st['undecided'])} undecided)" for st in steps
                    )
                    + "."
                )
        return out


def _phase_of(cid: str) -> int | None:
    head = cid.split(".", 1)[0]
    return 4 if head == "final" else int(head) if head.isdigit() else None


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

    def check(self, criterion: Criterion | str, value=None, reason: str = "") -> Criterion:
        """Judge a Criterion (from an artifact's `criterion(id)`; or an id and a measured value),
        record it, and pass, warn, fail or skip the test by its state. Not measured is a skip that
        makes the phase at best WARN (a failure under --strict); not applicable is a plain skip.
        Both are recorded and reported: nothing is dropped."""
        if not isinstance(criterion, Criterion):
            criterion = Criterion.measured(criterion, value, reason)
        result = criterion.judged(self.policy)
        self._session.record(result)
        if self._node is not None:
            self._node.stash[JUDGED_KEY] = True
        line = explain(result)
        strict = self._session.strict
        if result.status == FAIL or (result.status in (WARN, NOT_MEASURED) and strict):
            pytest.fail(line, pytrace=False)
        if result.status == WARN:
            warnings.warn(GateWarning(line), stacklevel=2)
        if result.status in (NOT_MEASURED, NOT_APPLICABLE):
            pytest.skip(line)
        return result


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


def _artifact(lvm: GateContext, source: Source) -> ArtifactView:
    with input_guard():
        return lvm.artifact(source)


# One session fixture per artifact: the ArtifactView whose `.criterion(id)` a gate judges. Each names
# the Source that computes it (lvmgate/sources/*.py: its `compute` calls the section's metrics).
@pytest.fixture(scope="session")
def coherence(lvm: GateContext) -> ArtifactView:
    """1.1 sequential coherence: lvmgate.sources.phase1.COHERENCE."""
    return _artifact(lvm, sources.phase1.COHERENCE)


@pytest.fixture(scope="session")
def tmd(lvm: GateContext) -> ArtifactView:
    """1.2 TMD distribution: lvmgate.sources.phase1.TMD."""
    return _artifact(lvm, sources.phase1.TMD)


@pytest.fixture(scope="session")
def boundaries(lvm: GateContext) -> ArtifactView:
    """1.3 chunk boundaries: lvmgate.sources.phase1.BOUNDARIES."""
    return _artifact(lvm, sources.phase1.BOUNDARIES)


@pytest.fixture(scope="session")
def vec2text_baseline(lvm: GateContext) -> ArtifactView:
    """1.4 vec2text baseline: lvmgate.sources.vec2text.VEC2TEXT_BASELINE."""
    return _artifact(lvm, sources.vec2text.VEC2TEXT_BASELINE)


@pytest.fixture(scope="session")
def sequences(lvm: GateContext) -> ArtifactView:
    """2.1 training data (--data): lvmgate.sources.sequences.SEQUENCES."""
    return _artifact(lvm, sources.sequences.SEQUENCES)


@pytest.fixture(scope="session")
def training(lvm: GateContext) -> ArtifactView:
    """2.2 the training run (--lvm-model): lvmgate.sources.training.TRAINING."""
    return _artifact(lvm, sources.training.TRAINING)


@pytest.fixture(scope="session")
def reconstruction(lvm: GateContext) -> ArtifactView:
    """2.3 reconstruction (--lvm-model): lvmgate.sources.reconstruction.RECONSTRUCTION."""
    return _artifact(lvm, sources.reconstruction.RECONSTRUCTION)


@pytest.fixture(scope="session")
def arithmetic(lvm: GateContext) -> ArtifactView:
    """2.4 vector arithmetic (--lvm-model): lvmgate.sources.arithmetic.ARITHMETIC."""
    return _artifact(lvm, sources.arithmetic.ARITHMETIC)


@pytest.fixture(scope="session")
def grid_search(lvm: GateContext) -> ArtifactView:
    """3.1 grid search: lvmgate.sources.phase3.GRID_SEARCH."""
    return _artifact(lvm, sources.phase3.GRID_SEARCH)


@pytest.fixture(scope="session")
def retrieval_benchmark(lvm: GateContext) -> ArtifactView:
    """3.2 retrieval benchmark: lvmgate.sources.phase3.RETRIEVAL_BENCHMARK."""
    return _artifact(lvm, sources.phase3.RETRIEVAL_BENCHMARK)


@pytest.fixture(scope="session")
def failure_analysis(lvm: GateContext) -> ArtifactView:
    """3.3 failure analysis: lvmgate.sources.phase3.FAILURE_ANALYSIS."""
    return _artifact(lvm, sources.phase3.FAILURE_ANALYSIS)


@pytest.fixture(scope="session")
def production_data(lvm: GateContext) -> ArtifactView:
    """4.1 production data (--data): lvmgate.sources.phase4.PRODUCTION_DATA."""
    return _artifact(lvm, sources.phase4.PRODUCTION_DATA)


@pytest.fixture(scope="session")
def production_training(lvm: GateContext) -> ArtifactView:
    """4.2 the production run (--lvm-model): lvmgate.sources.training.PRODUCTION_TRAINING."""
    return _artifact(lvm, sources.training.PRODUCTION_TRAINING)


@pytest.fixture(scope="session")
def production_bench(lvm: GateContext) -> ArtifactView:
    """4.3 production benchmark (--lvm-model): lvmgate.sources.phase4.PRODUCTION_BENCH."""
    return _artifact(lvm, sources.phase4.PRODUCTION_BENCH)


@pytest.fixture(scope="session")
def deployment(lvm: GateContext) -> ArtifactView:
    """4.4 deployment readiness (--lvm-model): lvmgate.sources.phase4.DEPLOYMENT."""
    return _artifact(lvm, sources.phase4.DEPLOYMENT)


@pytest.fixture(scope="session")
def final_verdict(lvm: GateContext) -> ArtifactView:
    """final verdict: lvmgate.sources.phase4.FINAL_VERDICT."""
    return _artifact(lvm, sources.phase4.FINAL_VERDICT)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    gs: GateSession | None = session.config.stash.get(SESSION_KEY, None)
    if gs is None or not gs.phases() or gs.report_dir is None:
        return
    write_reports(gs)


def phase_runs(gs: GateSession) -> list:
    """One lvmgate.report.phase.PhaseRun per phase judged in this session."""
    from lvmgate.io import redact_url
    from lvmgate.report.phase import PhaseRun

    ctx = gs._ctx
    return [
        PhaseRun(
            phase=phase,
            decision=gs.decision(phase),
            criteria=gs.criteria(phase),
            strict=gs.strict,
            findings=gs.findings(phase),
            errors=list(gs.errors[phase]),
            unjudged=gs.unjudged(phase),
            deselected=gs.deselected[phase],
            artifacts=gs.artifacts_for(phase),
            plots={n: SOURCES[n].plots for n in gs.artifacts_for(phase)},
            policy_digest=gs.policy.digest,
            policy_changes=gs.policy.changes(),
            dataset=ctx.dataset if ctx else None,
            store=redact_url(ctx.store_url) if ctx else None,
            duration_s=time.time() - gs.started,
        )
        for phase in gs.phases()
    ]


def write_reports(gs: GateSession) -> None:
    from lvmgate.report.files import write_phase_reports

    for run in phase_runs(gs):
        write_phase_reports(run, gs.report_dir)


# -- pytest-html ---------------------------------------------------------------------------------
@pytest.hookimpl(optionalhook=True)
def pytest_html_report_title(report) -> None:
    report.title = "lvmgate go/no-go gate report"


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix, summary, postfix, session) -> None:
    gs: GateSession | None = session.config.stash.get(SESSION_KEY, None)
    if gs is None or not gs.phases():
        return
    from lvmgate.report.html import gate_tables_html

    prefix.append(gate_tables_html(phase_runs(gs)))
