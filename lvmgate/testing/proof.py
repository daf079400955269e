"""Proof that every criterion is shown both ways: a test marked `proves` must assert what it claims.

    @pytest.mark.proves(go=["1.1.mean_similarity"], stop=["1.1.order_margin"])
    def test_something(...):
        expect(summary, "1.1.mean_similarity", "pass")    # records the observation, asserts it
        expect(other, "1.1.order_margin", "fail")

`go` claims a criterion passes on a clean input, `stop` that it fails on a planted fault or a bad
model. Claims name a registry id, or a base id ('1.4.bleu4' covers '1.4.bleu4[jxe]'). A claim is
checked when the test ends: unless `expect` observed that criterion with that outcome in the test,
the test fails. `lowered=[ids]` says that this test's GO for those ids is judged under a threshold
lowered from the plan's (what a test on this machine cannot reach: a GPU-sized model, a 30 s load
test at 1000 QPS); docs/criteria.md marks such proofs, and the test says which thresholds and why. So a marker cannot claim more than the test shows, and `docs/criteria.md`, which is
generated from the markers (`python -m lvmgate.testing.proof --write docs/criteria.md`), lists only
proofs that ran.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from lvmgate.criteria import Criterion

_OBSERVED: list[tuple[str, str]] | None = None  # (criterion id, status) seen by expect() in this test
OUTCOME = {"go": "pass", "stop": "fail"}


def _judged(c: Criterion) -> Criterion:
    """A Criterion as the gates would judge it: unjudged ones under the plan's policy."""
    if c.status:
        return c
    from lvmgate.policy import default_policy

    return c.judged(default_policy())


def _rows(source: Any) -> dict[str, dict[str, Any]]:
    """{id: {'status': ..., 'row': ...}} from a phaseN.json dict, criterion rows, Criterion objects
    (unjudged ones judged under the plan's policy) or an artifact dict with a `criteria` mapping."""
    if isinstance(source, Criterion):
        source = [source]
    if isinstance(source, dict) and "criteria" in source:
        source = source["criteria"]
    if isinstance(source, dict):
        items = list(source.values())
    else:
        items = list(source)
    out = {}
    for c in items:
        if isinstance(c, Criterion):
            c = _judged(c)
            out[c.id] = {"status": c.status, "row": c}
        elif (
            "state" in c and "status_detail" not in c and not c.get("status")
        ):  # an artifact's Criterion dict
            c = _judged(Criterion.from_dict(c))
            out[c.id] = {"status": c.status, "row": c}
        else:
            status = c.get("status_detail") or c.get("status")
            if status == "skip":
                status = c.get("state", status)
            out[c["id"]] = {"status": status, "row": c}
    return out


def expect(source: Any, criterion_id: str, status: str) -> dict[str, Any] | Criterion:
    """Assert that `criterion_id` has `status` (pass / warn / fail / not_measured / not_applicable) in
    `source`, and record the observation for the test's `proves` claims. Returns the criterion."""
    rows = _rows(source)
    assert criterion_id in rows, f"{criterion_id} not among the criteria: {sorted(rows)}"
    got = rows[criterion_id]["status"]
    row = rows[criterion_id]["row"]
    assert got == status, f"{criterion_id}: expected {status}, got {got}: {row}"
    if _OBSERVED is not None:
        _OBSERVED.append((criterion_id, status))
    return row


def _base(cid: str) -> str:
    return cid.split("[", 1)[0]


def claims_of(item: pytest.Item) -> list[tuple[str, str]]:
    out = []
    for mark in item.iter_markers("proves"):
        for outcome in ("go", "stop"):
            for cid in mark.kwargs.get(outcome, ()):
                out.append((cid, outcome))
    return out


# -- the pytest side -------------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "proves(go=[ids], stop=[ids]): the test shows these criteria pass / fail (checked)"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    global _OBSERVED
    _OBSERVED = []
    try:
        return (yield)
    finally:
        observed, _OBSERVED = _OBSERVED, None
        item.stash[_KEY] = observed


_KEY = pytest.StashKey[list]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if call.when == "call" and report.passed:
        observed = item.stash.get(_KEY, [])
        missing = [
            (cid, outcome)
            for cid, outcome in claims_of(item)
            if not any((o == cid or _base(o) == cid) and s == OUTCOME[outcome] for o, s in observed)
        ]
        if missing:
            report.outcome = "failed"
            report.longrepr = "proves() claims not shown by expect(): " + ", ".join(
                f"{outcome.upper()} {cid}" for cid, outcome in missing
            )
    return report


# -- docs/criteria.md ------------------------------------------------------------------------------
def _evaluate(node: ast.AST, names: dict[str, Any]) -> Any:
    """The value of a marker argument or module constant: literals, names bound earlier in the module,
    `criterion_ids(...)`, list/sorted/tuple and comprehensions over them; nothing else runs."""
    code = compile(ast.Expression(body=node), "<proves>", "eval")
    return eval(code, {"__builtins__": {}, **names})  # names: registry helpers and module constants only


def _ids(node: ast.AST, names: dict[str, Any]) -> list[str]:
    try:
        value = _evaluate(node, names)
    except Exception:  # not statically known: no claim is read from it (the runtime check still runs)
        return []
    return [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)]


def _module_names(tree: ast.Module) -> dict[str, Any]:
    """criterion_ids and builtins a claim may use, plus the module's constants computed from them."""
    from lvmgate.policy import criterion_ids

    names: dict[str, Any] = {"criterion_ids": criterion_ids, "list": list, "sorted": sorted, "tuple": tuple}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            try:
                names[stmt.targets[0].id] = _evaluate(stmt.value, names)
            except Exception:
                continue
    return names


def scan_claims(tests_dir: str | Path) -> dict[str, dict[str, list[str]]]:
    """{criterion id: {'go': [test ids], 'stop': [test ids]}} from `pytest.mark.proves(...)` in the
    test files, read statically (literals, `criterion_ids(...)` and module constants built from them)."""
    found: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"go": [], "stop": [], "lowered": []})
    for path in sorted(Path(tests_dir).glob("test_*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        names = _module_names(tree)
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in fn.decorator_list:  # markers, including pytest.param(..., marks=...)
                for call in ast.walk(node):
                    if not (isinstance(call, ast.Call) and _is_proves(call.func)):
                        continue
                    for kw in call.keywords:
                        if kw.arg in ("go", "stop", "lowered"):
                            for cid in _ids(kw.value, names):
                                test = f"{path.parent.name}/{path.name}::{fn.name}"
                                if test not in found[cid][kw.arg]:
                                    found[cid][kw.arg].append(test)
    return dict(found)


def _is_proves(func: ast.AST) -> bool:
    return isinstance(func, ast.Attribute) and func.attr == "proves"


def render_criteria_doc(tests_dir: str | Path) -> str:
    """docs/criteria.md: every criterion of the registry with its plan section, threshold, whether the
    plan names it, and the tests that prove GO and STOP."""
    from lvmgate.policy import DEFAULT_THRESHOLDS, sections

    claims = scan_claims(tests_dir)
    lines = [
        "# Criteria",
        "",
        "Generated from the policy's registry (`lvmgate/policy.py`) and the tests' `proves` markers",
        "(`python -m lvmgate.testing.proof --write docs/criteria.md`; `tests/test_criteria_registry.py`",
        "fails when this file is stale). Every criterion has at least one test showing it pass on a clean",
        "input (GO) and one showing it fail on a planted fault or a deliberately bad model (STOP); a",
        "marker's claim is checked when its test runs (`lvmgate.testing.proof.expect`). Variants",
        "(`id[jxe]`, ...) share their base id's threshold and code path; proofs are listed per base id.",
        "A GO marked *lowered threshold* is judged under a threshold lowered from the plan's, because this",
        "machine cannot reach the plan's number (a GPU-sized model, a 30 s load test at 1000 QPS); the test's",
        "docstring names the thresholds. The STOP side of those criteria runs under the plan's policy.",
        "",
    ]
    by_section: dict[str, list] = defaultdict(list)
    for t in DEFAULT_THRESHOLDS:
        by_section[t.id.rsplit(".", 1)[0]].append(t)
    for section in sections():
        lines += [
            f"## {section}",
            "",
            "| criterion | threshold | plan | GO shown by | STOP shown by |",
            "|---|---|---|---|---|",
        ]
        for t in by_section[section]:
            ids = [t.id, *(f"{t.id}[{v}]" for v in t.variants)]
            lowered = {x for i in ids for x in claims.get(i, {}).get("lowered", [])}
            go = sorted({x for i in ids for x in claims.get(i, {}).get("go", [])})
            stop = sorted({x for i in ids for x in claims.get(i, {}).get("stop", [])})
            name = f"`{t.id}`" + (f" [{', '.join(t.variants)}]" if t.variants else "")
            go_cell = "<br>".join(f"`{x}`" + (" *(lowered threshold)*" if x in lowered else "") for x in go)
            stop_cell = "<br>".join(f"`{x}`" for x in stop)
            lines.append(
                f"| {name} {t.title} | {t.describe()} | {'plan' if t.plan else 'beyond'} | "
                f"{go_cell or '**none**'} | {stop_cell or '**none**'} |"
            )
        lines.append("")
    return "\n".join(lines)


def unproven(tests_dir: str | Path) -> dict[str, list[str]]:
    """Base criterion ids lacking a GO or a STOP proof: {'go': [...], 'stop': [...]}."""
    from lvmgate.policy import DEFAULT_THRESHOLDS

    claims = scan_claims(tests_dir)
    out: dict[str, list[str]] = {"go": [], "stop": []}
    for t in DEFAULT_THRESHOLDS:
        ids = [t.id, *(f"{t.id}[{v}]" for v in t.variants)]
        for outcome in ("go", "stop"):
            if not any(claims.get(i, {}).get(outcome) for i in ids):
                out[outcome].append(t.id)
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m lvmgate.testing.proof", description=__doc__.split("\n")[0])
    p.add_argument("--tests", default="tests")
    p.add_argument("--write", metavar="PATH", help="write docs/criteria.md here (default: print)")
    args = p.parse_args(argv)
    text = render_criteria_doc(args.tests)
    if args.write:
        from lvmgate.io import atomic_open

        with atomic_open(args.write, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    missing = unproven(args.tests)
    for outcome, ids in missing.items():
        if ids:
            print(f"no {outcome.upper()} proof: {', '.join(ids)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def provenances(summary: dict[str, Any]) -> dict[str, Any]:
    """{artifact name: Provenance} of a phaseN.json: every artifact the phase read carries one, in the
    one shape (lvmgate.results.Provenance); an artifact without one fails the assertion."""
    from lvmgate.results import Provenance

    out = {}
    for name, prov in (summary.get("artifacts") or {}).items():
        assert isinstance(prov, dict), f"artifact {name} has no provenance"
        out[name] = Provenance.from_dict(prov)
        assert out[name].tool and out[name].lvmgate_version, f"artifact {name}: incomplete provenance {prov}"
    return out
