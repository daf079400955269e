"""1.4 Vec2Text baseline: reconstruction quality every later LVM result is compared with (plan 1.4).

BLEU-4 and round-trip cosine per vec2text backend (jxe, ielab); `nearest` always runs the round-trip
compatibility check: decoded text re-encoded with the dataset's encoder must land on the input
vector, else the vectors are not from the encoder the decoders expect.
"""

import pytest

pytestmark = pytest.mark.lvmgate_phase(1)


def _backend(baseline, gate, cid, backend):
    if backend in baseline.unavailable:
        gate.skip(f"{cid}[{backend}]", baseline.unavailable[backend])
    if backend not in baseline.requested and backend != "nearest":
        gate.skip(f"{cid}[{backend}]", "backend not requested (--backends)", record=False)
    return baseline.summary[backend]


@pytest.mark.parametrize("backend", ["jxe", "ielab"])
def test_bleu4(vec2text_baseline, gate, backend):
    """BLEU-4 >= 0.15 (known vec2text limitation): the baseline the LVM must beat."""
    summary = _backend(vec2text_baseline, gate, "1.4.bleu4", backend)
    gate.check(f"1.4.bleu4[{backend}]", summary.bleu4)


@pytest.mark.parametrize("backend", ["jxe", "ielab", "nearest"])
def test_round_trip_cosine(vec2text_baseline, gate, backend):
    """Cosine >= 0.7 between the input vector and the re-encoded decoded text (semantic preservation)."""
    summary = _backend(vec2text_baseline, gate, "1.4.cosine", backend)
    value = summary.round_trip_cosine
    if value is None:
        gate.skip(f"1.4.cosine[{backend}]", "; ".join(vec2text_baseline.notes) or "round trip not computed")
    gate.check(f"1.4.cosine[{backend}]", value)
