"""1.2 TMD distribution: TMD codes are meaningful (plan 1.2)."""

import pytest

pytestmark = pytest.mark.lvmgate_phase(1)


def test_top_domain_pct(tmd, gate):
    """Top domain < 50%; one domain > 70% means TMD is broken."""
    gate.check("1.2.top_domain_pct", tmd.top_domain_pct, f"largest: {tmd.domains[0].name}")


def test_unknown_pct(tmd, gate):
    """Unknown (code 0) < 30%; > 50% means hybrid mode falls back too often."""
    gate.check("1.2.unknown_pct", tmd.unknown_pct, f"untagged rows: {tmd.untagged_pct:.2f}%")


def test_domains_over_5pct(tmd, gate):
    """At least 5 domains with > 5% representation."""
    gate.check("1.2.domains_over_5pct", tmd.domains_over_5pct)
