"""1.3 Chunk boundary analysis: chunks end cleanly (plan 1.3)."""

import pytest

pytestmark = pytest.mark.lvmgate_phase(1)


def test_sentence_complete_pct(boundaries, gate):
    """Sentence-complete endings >= 70%; < 50% means adjust the semantic chunker."""
    gate.check("1.3.sentence_complete_pct", boundaries.sentence_complete_pct)


def test_mean_length(boundaries, gate):
    """Average chunk length 250-400 characters."""
    gate.check("1.3.mean_length_chars", boundaries.mean_length_chars)


def test_no_short_chunks(boundaries, gate):
    """No chunks under 50 characters."""
    gate.check("1.3.short_chunks_pct", boundaries.short_chunks_pct, f"{boundaries.short_chunks} chunks")


def test_no_long_chunks(boundaries, gate):
    """No chunks over 1000 characters."""
    gate.check("1.3.long_chunks_pct", boundaries.long_chunks_pct, f"{boundaries.long_chunks} chunks")
