"""Reconstruction metrics: hand-computed values, agreement with sacrebleu, properties, edge cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sacrebleu.metrics import BLEU

from lvmgate.encoders import get_encoder
from lvmgate.errors import InputError
from lvmgate.metrics.reconstruction import (
    bleu,
    bleu_statistics,
    corpus_bleu_from_stats,
    cosine_rows,
    exact_match,
    latency_stats,
    normalize_text,
    per_item_latency,
    reconstruction_metrics,
    round_trip_cosine,
    token_f1,
)

WORDS = st.sampled_from(
    "the a cat sat on mat river king war born city 1871 , . ; U.S. e.g. ( ) Zürich".split()
)
TEXT = st.lists(WORDS, min_size=1, max_size=30).map(" ".join)
ANY_TEXT = st.text(max_size=60)


# -- hand-computed ---------------------------------------------------------------------------------
def test_bleu_matches_hand_computation():
    hyp, ref = ["the cat sat on the mat"], ["the cat sat on a mat"]
    # unigram 5/6, bigram 3/5, trigram 2/4, 4-gram 1/3; equal lengths: no brevity penalty
    b4 = bleu(hyp, ref, 4, resamples=0)
    assert b4.corpus.value == pytest.approx((5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25, abs=1e-9)
    assert b4.sentence_mean.value == pytest.approx(b4.corpus.value, abs=1e-9)
    assert bleu(hyp, ref, 1, resamples=0).corpus.value == pytest.approx(5 / 6, abs=1e-9)


def test_brevity_penalty_by_hand():
    # hypothesis of 2 tokens, reference of 6: all unigrams match, BP = exp(1 - 6/2)
    assert bleu(["the cat"], ["the cat sat on the mat"], 1, resamples=0).corpus.value == pytest.approx(
        math.exp(-2), abs=1e-9
    )


def test_exact_match_normalisation_and_token_f1_by_hand():
    assert normalize_text("  Hello,   WORLD! ") == "hello world"
    assert normalize_text("ﬁne Straße") == "fine strasse"  # NFKC ligature, casefold ß
    assert normalize_text("U.S.-based") == "u s based"
    em = exact_match(
        ["Hello, world!", "hello there", "Die Straße", ""], ["hello world", "hello world", "die STRASSE", " "]
    )
    assert em.tolist() == [1.0, 0.0, 1.0, 1.0]
    f1 = token_f1(["a b c", "a a b", "x", "", "a"], ["a b d", "a b b", "y", "", ""])
    # P = R = 2/3 -> F1 2/3; multiset overlap {a, b} of 3 vs 3 -> 2/3; disjoint 0; both empty 1; one empty 0
    assert f1 == pytest.approx([2 / 3, 2 / 3, 0.0, 1.0, 0.0])


def test_empty_and_whitespace_conventions():
    scores, stats = bleu_statistics(["", "   ", "text here", ""], ["", "\t", "", "a reference"], 4)
    assert scores.tolist() == [1.0, 1.0, 0.0, 0.0]
    # an empty hypothesis still counts the reference length in corpus BLEU (brevity penalty)
    assert stats[3, 1] == 2 and stats[3, 0] == 0
    assert corpus_bleu_from_stats(np.zeros((3, 10))) == 0.0  # nothing decoded at all


def test_latency_by_hand():
    lat = latency_stats([1.0, 2.0], [4, 2], resamples=200)
    assert per_item_latency([1.0, 2.0], [4, 2]).tolist() == [0.25] * 4 + [1.0] * 2
    assert lat.mean_s.value == pytest.approx(0.5)
    assert lat.p50_s.value == pytest.approx(0.25)
    assert lat.p95_s.value == pytest.approx(1.0)
    assert lat.throughput_per_s.value == pytest.approx(2.0)  # 6 items in 3 s
    assert lat.throughput_per_s.low <= 2.0 <= lat.throughput_per_s.high
    assert (lat.n_items, lat.n_batches, lat.total_s) == (6, 2, 3.0)
    with pytest.raises(InputError):
        latency_stats([1.0], [1, 2])


# -- agreement with sacrebleu ----------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=12))
def test_corpus_and_sentence_bleu_agree_with_sacrebleu(pairs):
    hyps, refs = [p[0] for p in pairs], [p[1] for p in pairs]
    for order in (1, 4):
        result = bleu(hyps, refs, order, resamples=0)
        expected = BLEU(max_ngram_order=order, effective_order=True).corpus_score(hyps, [refs]).score / 100
        if any(len(h.split()) >= order for h in hyps):  # then effective order changes nothing
            assert expected == pytest.approx(
                BLEU(max_ngram_order=order).corpus_score(hyps, [refs]).score / 100
            )
        assert result.corpus.value == pytest.approx(min(expected, 1.0), abs=1e-9)
        per, _ = bleu_statistics(hyps, refs, order)
        sent = BLEU(max_ngram_order=order, effective_order=True)
        want = [min(1.0, sent.sentence_score(h, [r]).score / 100) for h, r in zip(hyps, refs)]
        assert per == pytest.approx(want, abs=1e-9)


def test_signature_and_tokenizer_recorded():
    result = bleu(["a b c d"], ["a b c d"], 4, resamples=0)
    assert result.signature.startswith("BLEU-4 corpus nrefs:1|case:mixed|eff:yes|tok:13a|smooth:exp|version:")
    assert result.sentence_signature.startswith("BLEU-4 sentence ")
    assert result.tokenizer == "13a"


# -- properties ------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(ANY_TEXT.filter(lambda s: s.strip()))
def test_identity_scores_one(text):
    for order in (1, 4):
        scores, _ = bleu_statistics([text], [text], order)
        assert scores[0] == pytest.approx(1.0)
        assert bleu([text], [text], order, resamples=0).corpus.value == pytest.approx(1.0)
    assert exact_match([text], [text])[0] == 1.0
    assert token_f1([text], [text])[0] == 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(ANY_TEXT, ANY_TEXT), min_size=1, max_size=8))
def test_scores_bounded(pairs):
    hyps, refs = [p[0] for p in pairs], [p[1] for p in pairs]
    m = reconstruction_metrics(hyps, refs, resamples=20)
    for est in (m.bleu1, m.bleu4, m.sentence_bleu1, m.sentence_bleu4, m.exact_match, m.token_f1):
        assert 0.0 <= est.low <= est.value <= est.high <= 1.0
    for arr in (bleu_statistics(hyps, refs, 4)[0], exact_match(hyps, refs), token_f1(hyps, refs)):
        assert np.all((arr >= 0) & (arr <= 1))


def test_interval_brackets_point_and_counts_items():
    rng = np.random.default_rng(0)
    words = "the a cat sat on mat river king war born city".split()
    refs = [" ".join(rng.choice(words, 12)) for _ in range(60)]
    hyps = [" ".join(r.split()[: int(rng.integers(4, 12))]) for r in refs]
    b = bleu(hyps, refs, 4, resamples=300, seed=1)
    assert b.corpus.low < b.corpus.value < b.corpus.high and b.corpus.n == 60
    assert bleu(hyps, refs, 4, resamples=300, seed=1) == b  # seeded


def test_mismatched_inputs_are_input_errors():
    with pytest.raises(InputError):
        bleu(["a"], ["a", "b"])
    with pytest.raises(InputError):
        exact_match([None], ["a"])  # type: ignore[list-item]


# -- round trip ------------------------------------------------------------------------------------
def test_round_trip_cosine_same_and_other_encoder():
    texts = ["The river flows north past the old city.", "A king was born in 1871.", "Zürich e.g. U.S."]
    enc = get_encoder("hashing")
    vectors = enc.encode(texts)
    assert round_trip_cosine(vectors, texts, enc) == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    other = get_encoder("hashing", salt="another-encoder").encode(texts)
    assert np.all(np.abs(round_trip_cosine(other, texts, enc)) < 0.5)
    # an empty decoded text encodes to zero: cosine 0 by definition
    assert round_trip_cosine(vectors[:1], [""], enc)[0] == 0.0
    with pytest.raises(InputError, match="384-D"):
        round_trip_cosine(get_encoder("hashing", dim=384).encode(texts), texts, enc)
    assert cosine_rows(np.zeros((1, 3)), np.ones((1, 3)))[0] == 0.0


def test_reconstruction_metrics_full_and_json():
    texts = ["first chunk about rivers", "second chunk about kings", "third chunk, short"]
    decoded = ["first chunk about rivers", "second chunk on queens", ""]
    enc = get_encoder("hashing")
    m = reconstruction_metrics(
        decoded,
        texts,
        vectors=enc.encode(texts),
        encoder=enc,
        batch_seconds=[0.3],
        batch_sizes=[3],
        resamples=50,
    )
    assert m.n == 3 and m.n_empty_decoded == 1 and m.n_empty_references == 0
    assert m.exact_match.value == pytest.approx(1 / 3)
    assert m.round_trip_cosine is not None and 0.0 < m.round_trip_cosine.value < 1.0
    assert m.encoder == enc.spec and m.tokenizer == "13a"
    assert m.latency is not None and m.latency.mean_s.value == pytest.approx(0.1)
    data = json.loads(m.to_json())
    assert set(data) >= {
        "bleu1",
        "bleu4",
        "exact_match",
        "token_f1",
        "round_trip_cosine",
        "latency",
        "bleu_signature",
    }
