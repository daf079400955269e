"""One registry of criterion ids (the policy's): the ids in the policy, in the gate files, in the artifact
sources and in the library's code are the same set, so no id can be typed differently in two places;
every criterion is proven GO and STOP by a test (`pytest.mark.proves`), and docs/criteria.md, generated
from both, is current."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import lvmgate.sources  # noqa: F401  (registers every source)
from lvmgate.artifacts import SOURCES
from lvmgate.policy import DEFAULT_THRESHOLDS, criterion_ids, default_policy, sections
from lvmgate.testing.proof import render_criteria_doc, scan_claims, unproven

ROOT = Path(__file__).resolve().parents[1]
ID = re.compile(r"^(?:[1-4]\.[1-4]|final)\.[a-z0-9_]+(?:\[[a-z_]+\])?$")


def test_policy_and_registry_are_one_list():
    ids = criterion_ids()
    assert len(ids) == len(set(ids))
    assert set(default_policy().thresholds) == {t.id for t in DEFAULT_THRESHOLDS}
    assert {i.split("[")[0] for i in ids} == set(default_policy().thresholds)
    assert all(ID.match(i) for i in ids), [i for i in ids if not ID.match(i)]
    with pytest.raises(KeyError, match="has variants"):
        default_policy()["1.4.bleu4[nearest]"]  # a variant the registry does not name


def _gate_sections() -> dict[str, list[str]]:
    """section -> gate files that parametrize over criterion_ids(section)."""
    out: dict[str, list[str]] = {}
    for path in sorted((ROOT / "gates").glob("phase*/test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "criterion_ids" and node.args:
                out.setdefault(ast.literal_eval(node.args[0]), []).append(path.name)
    return out


def test_every_section_has_exactly_one_gate_file_and_one_artifact_source():
    gates = _gate_sections()
    assert set(gates) == set(sections())
    assert all(len(files) == 1 for files in gates.values()), gates
    owners: dict[str, list[str]] = {}
    for name, source in SOURCES.items():
        assert source.sections, f"source {name} declares no sections"
        for s in source.sections:
            owners.setdefault(s, []).append(name)
    assert set(owners) == set(sections()) and all(len(v) == 1 for v in owners.values()), owners


def test_every_id_written_in_the_library_is_a_registry_id():
    """String literals that look like criterion ids, anywhere in lvmgate/ and gates/: each must be a
    registry id or a registry base id (so a typo fails here, not silently in a report)."""
    known = set(criterion_ids()) | {i.split("[")[0] for i in criterion_ids()}
    found: dict[str, str] = {}
    for path in [*(ROOT / "lvmgate").rglob("*.py"), *(ROOT / "gates").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        pieces = {
            id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values
        }  # f-string parts
        strings = (n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in pieces)
        for value in strings:
            if isinstance(value, str) and ID.match(value):
                found.setdefault(value, str(path.relative_to(ROOT)))
    unknown = {i: where for i, where in found.items() if i not in known}
    assert not unknown, unknown
    assert len(found) > 50  # the scan does see the ids the library writes


def test_results_carry_exactly_the_registry_ids():
    """What the computing modules return for a section is that section's registry ids, in order."""
    from lvmgate.metrics.sequence_checks import SequenceChecks

    fields = {f: 0 for f in SequenceChecks.__dataclass_fields__}
    from lvmgate.results import Estimate

    fields.update(
        shape=(1, 5, 8), expected_shape=(1, 5, 8), n_windows={"train": 1}, n_articles={"train": 1},
        split_fractions={}, requested_fractions={}, order_lag=5, order_margin=Estimate.exact(0.1, 3),
        dropped={"invalid vectors": 0}, n_windows_built=1,
    )  # fmt: skip
    checks = SequenceChecks(**fields)
    assert [c.id for c in checks.criteria()] == list(criterion_ids("2.1"))
    # the same checks on the production set, under 4.1 ids (4.1 adds augmentation and validation share)
    as_41 = [c.id for c in checks.criteria("4.1")]
    assert as_41 == [c.replace("2.1.", "4.1.") for c in criterion_ids("2.1")]
    assert set(as_41) < set(criterion_ids("4.1"))


def test_every_criterion_is_proven_go_and_stop():
    missing = unproven(ROOT / "tests")
    assert missing == {"go": [], "stop": []}, missing


def test_claims_name_registry_ids_only():
    known = set(criterion_ids()) | {i.split("[")[0] for i in criterion_ids()}
    claims = scan_claims(ROOT / "tests")
    assert set(claims) <= known, set(claims) - known


def test_criteria_doc_is_generated_and_current():
    doc = (ROOT / "docs" / "criteria.md").read_text()
    assert doc == render_criteria_doc(ROOT / "tests") + "\n", (
        "docs/criteria.md is stale: python -m lvmgate.testing.proof --write docs/criteria.md"
    )
    for cid in {t.id for t in DEFAULT_THRESHOLDS}:
        assert f"`{cid}`" in doc


def test_a_claim_the_test_does_not_show_fails_the_test(pytester):
    """The proves marker is checked: claiming a STOP the test never observed makes the test fail."""
    pytester.makeconftest('pytest_plugins = ["lvmgate.testing.proof"]')
    pytester.makepyfile(
        """
        import pytest
        from lvmgate.criteria import Criterion
        from lvmgate.testing.proof import expect

        @pytest.mark.proves(stop=["1.1.order_margin"])
        def test_claims_more_than_it_shows():
            expect([Criterion.measured("1.1.order_margin", 0.5)], "1.1.order_margin", "pass")

        @pytest.mark.proves(go=["1.1.order_margin"])
        def test_shows_what_it_claims():
            expect([Criterion.measured("1.1.order_margin", 0.5)], "1.1.order_margin", "pass")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*proves() claims not shown by expect(): STOP 1.1.order_margin*"])
