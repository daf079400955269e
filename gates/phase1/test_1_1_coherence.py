"""1.1 Sequential coherence: consecutive chunks have narrative flow (plan 1.1 and STOP point 1)."""

import pytest

pytestmark = pytest.mark.lvmgate_phase(1)


def test_mean_similarity(coherence, gate):
    """Mean >= 0.3 passes; 0.2-0.3 is acceptable but investigate outliers; < 0.2 STOP INGESTION."""
    gate.check("1.1.mean_similarity", coherence.mean)


def test_high_coherence_pct(coherence, gate):
    """High coherence % >= 60% (pairs at or above the policy's high-pair cosine)."""
    gate.check("1.1.high_coherence_pct", coherence.high_pct)


def test_low_coherence_pct(coherence, gate):
    """Low coherence % <= 20% (pairs below the policy's low-pair cosine)."""
    gate.check("1.1.low_coherence_pct", coherence.low_pct)


def test_lift_over_random_pairs(coherence, gate):
    """Beyond the plan: consecutive pairs must beat random pairs of the same dataset (anisotropy)."""
    gate.check("1.1.lift_over_random", coherence.lift, f"random pairs: {coherence.null_mean}")


def test_order_preserved(coherence, gate):
    """Beyond the plan: neighbours closer than chunks k apart, else order was lost inside articles."""
    gate.check("1.1.order_margin", coherence.order_margin, f"k = {coherence.order_lag}")


def test_positions_intact(coherence, gate):
    """chunk_index must neither repeat nor skip inside an article (lost positions / merged ids)."""
    gate.check(
        "1.1.order_integrity_pct",
        coherence.integrity_pct,
        f"{coherence.duplicate_positions} repeated, {coherence.position_gaps} skipped positions",
    )


def test_no_invalid_vectors(coherence, gate):
    """Zero / NaN vectors (failed embedding batches) are reported, never averaged in."""
    gate.check(
        "1.1.invalid_vectors_pct",
        coherence.invalid_pct,
        f"{coherence.zero_rows} zero rows, {coherence.nan_rows} NaN rows",
    )
